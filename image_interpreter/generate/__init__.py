"""Generation: one Stable Diffusion base shared by every ControlNet, candidates, inpainting,
upscaling and interpolation. Must not parse language or import `extract`."""
