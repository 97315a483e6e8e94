"""A cheap look at the latents while they denoise: a linear map of latent channels to RGB, no VAE.

For Stable Diffusion's 4-channel latents the map is a least-squares fit of decoded colours to
latent values (the well-known approximation behind most UIs' live previews); for any other
channel count the first three channels are shown, normalised. Either is a few hundred
microseconds at 512x512.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

# Rows: latent channels 0-3; columns: R, G, B. Applied to scaled SD 1.x/2.x latents.
SD_LATENT_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)


def latent_preview(latents: torch.Tensor, index: int = 0) -> Image.Image:
    """An RGB image the size of the latents (1/8 of the picture) for batch element `index`."""
    import torch

    with torch.no_grad():
        sample = latents[index].detach().float()
        if sample.shape[0] == len(SD_LATENT_RGB):
            factors = torch.tensor(SD_LATENT_RGB, dtype=sample.dtype, device=sample.device)
            rgb = torch.einsum("chw,cr->hwr", sample, factors)
            rgb = (rgb + 1.0) / 2.0
        else:
            channels = sample[:3] if sample.shape[0] >= 3 else sample[:1].repeat(3, 1, 1)
            rgb = channels.permute(1, 2, 0)
            low, high = rgb.min(), rgb.max()
            rgb = (rgb - low) / (high - low).clamp(min=1e-6)
        pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))
