"""The predicted clean latent, decoded with gradients: by the base's own VAE, or by a tiny
autoencoder (TAESD, diffusers' `AutoencoderTiny`), chosen with `generation.guidance_decoder`.

TAESD decodes the same latents as the SD VAE at a fraction of the cost (a few MB, no attention),
which is what makes decoding at every guided step affordable; the full VAE is exact. The tiny
profile has its own random-weight `AutoencoderTiny` that upsamples by 2 like the tiny VAE.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_interpreter.models import load_pretrained, register_role, tiny_model
from image_interpreter.models.tiny import seeded

if TYPE_CHECKING:
    import torch

DECODER_ROLE = "guidance.decoder"
register_role(
    DECODER_ROLE,
    sd15="madebyollin/taesd",
    sdxl="madebyollin/taesdxl",
    tiny="tiny/taesd",
    description="tiny autoencoder (diffusers AutoencoderTiny) that decodes predicted latents"
    " for prior guidance when generation.guidance_decoder is 'tiny'",
)


class LatentDecoder:
    """latents (B, C, h, w) -> RGB in [0, 1] (B, 3, H, W), differentiable. With `checkpoint`
    the decoder's activations are recomputed in the backward pass instead of kept."""

    def __init__(self, vae: Any, *, name: str, checkpoint: bool = False):
        self.vae = vae
        self.name = name
        self.checkpoint = checkpoint
        self.dtype = next(vae.parameters()).dtype

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        from torch.utils.checkpoint import checkpoint

        scaled = (latents / self.vae.config.scaling_factor).to(self.dtype)
        if self.checkpoint:
            decoded = checkpoint(self._decode, scaled, use_reentrant=False)
        else:
            decoded = self._decode(scaled)
        return (decoded.float() / 2 + 0.5).clamp(0.0, 1.0)

    def _decode(self, scaled: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(scaled, return_dict=False)[0]


_TINY_DECODERS: dict[tuple[str, str, str], Any] = {}


def latent_decoder(
    choice: str, base_vae: Any, settings: Any, device: Any, dtype: Any, *, checkpoint: bool
) -> tuple[LatentDecoder, bool]:
    """The decoder `choice` ('vae' or 'tiny') names, and whether it was loaded just now."""
    if choice == "vae":
        return LatentDecoder(base_vae, name="vae", checkpoint=checkpoint), False
    from diffusers import AutoencoderTiny

    from image_interpreter.models import model_id

    key = (model_id(DECODER_ROLE, settings), str(device), str(dtype))
    loaded = key not in _TINY_DECODERS
    if loaded:
        vae = load_pretrained(AutoencoderTiny, DECODER_ROLE, settings, torch_dtype=dtype)
        vae.to(device).eval().requires_grad_(False)
        _TINY_DECODERS[key] = vae
    decoder = LatentDecoder(_TINY_DECODERS[key], name=key[0], checkpoint=checkpoint)
    return decoder, loaded


@tiny_model("tiny/taesd")
def build_tiny_taesd(folder: Path) -> None:
    """An AutoencoderTiny shaped like TAESD (4 latent channels, tanh-clamped latents) with two
    blocks, so it upsamples by 2 as the tiny profile's VAE does; random weights."""
    from diffusers import AutoencoderTiny

    with seeded(30):
        model = AutoencoderTiny(
            encoder_block_out_channels=(16, 16),
            decoder_block_out_channels=(16, 16),
            num_encoder_blocks=(1, 1),
            num_decoder_blocks=(1, 1),
            latent_channels=4,
            upsampling_scaling_factor=2,
            scaling_factor=1.0,
        )
    model.save_pretrained(folder, safe_serialization=True)
