"""How the generator uses the machine: memory savers, speed switches, batch and cache sizes.

Kept apart from `Settings` so this package owns it; `config_for(settings)` reads a `generation`
field from the settings when there is one (`IMAGE_INTERPRETER_GENERATION__CPU_OFFLOAD=true`),
else the defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from image_interpreter.settings import GenerationConfig  # lives with the other settings

__all__ = ["GenerationConfig", "config_for"]


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
