"""How the generator uses the machine: memory savers, speed switches, batch and cache sizes.

Kept apart from `Settings` so this package owns it; `config_for(settings)` reads a `generation`
field from the settings when there is one (`IMAGE_INTERPRETER_GENERATION__CPU_OFFLOAD=true`),
else the defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_offload: bool = Field(
        False,
        description="Keep models in CPU memory and move each to the GPU only while it runs"
        " (slower, far less GPU memory). Has no effect on a CPU.",
    )
    vae_slicing: bool | None = Field(
        None, description="Decode a batch one image at a time. None: when the batch is large."
    )
    vae_tiling: bool | None = Field(
        None, description="Decode large images in tiles. None: above `vae_tiling_pixels`."
    )
    vae_slicing_pixels: int = Field(
        2 * 1024 * 1024, gt=0, description="Batch pixels (images x width x height) for slicing."
    )
    vae_tiling_pixels: int = Field(
        1536 * 1536, gt=0, description="Pixels of one image above which the VAE decodes in tiles."
    )
    channels_last: bool | None = Field(
        None, description="Channels-last memory format for UNet and ControlNets. None: on CUDA."
    )
    compile_unet: bool = Field(
        False, description="torch.compile the UNet (slow first call, faster afterwards)."
    )
    max_batch: int = Field(8, ge=1, le=64, description="Most images in one pipeline call.")
    oom_fallback: bool = Field(
        True, description="On out-of-memory, retry with half the batch, then with CPU offload."
    )
    text_cache_size: int = Field(64, ge=0, description="Text embeddings kept (0: no cache).")
    inpaint_grow: float = Field(
        1 / 64, ge=0.0, le=0.25, description="Grow inpainting masks by this part of the long side."
    )


def config_for(settings: Any) -> GenerationConfig:
    """The settings' `generation` section if they have one, else the defaults."""
    found = getattr(settings, "generation", None)
    if isinstance(found, GenerationConfig):
        return found
    if isinstance(found, BaseModel):
        return GenerationConfig.model_validate(found.model_dump())
    if isinstance(found, dict):
        return GenerationConfig.model_validate(found)
    return GenerationConfig()
