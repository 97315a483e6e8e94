"""What a candidate's recipe says about guidance: the terms, the decoder, and the steps that
were actually guided (fewer than planned after an out-of-memory fallback), so it can be redrawn."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuidanceTermUse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(description="A prior kind, or 'joint' for the cross-related loss.")
    weight: float
    start: float
    end: float
    every: int


class GuidanceUse(BaseModel):
    """Guidance in a recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: list[GuidanceTermUse]
    decoder: str = Field(description="'vae' (the base's) or 'tiny' (role guidance.decoder).")
    step_size: float
    guided_steps: list[int] = Field(description="0-based steps of its call that were guided.")
    fallback: str | None = Field(None, description="What an out-of-memory fallback changed.")
