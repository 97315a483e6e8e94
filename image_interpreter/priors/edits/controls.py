"""Switch priors on and off, weigh them, and choose the denoising steps they act on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from image_interpreter.priors.edits.base import EditBase, prior_of, register_edit, with_prior
from image_interpreter.priors.schema import PriorKind, PriorSet, Unit


@register_edit
class SetEnabled(EditBase):
    """Use a prior when generating, or ignore it (it stays in the PriorSet either way)."""

    op: Literal["set_enabled"] = "set_enabled"
    kind: PriorKind
    enabled: bool = True

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        verb = "enable" if self.enabled else "disable"
        prior = prior_of(priors, self.kind, f"{verb} the {self.kind} prior")
        return with_prior(priors, prior.model_copy(update={"enabled": self.enabled}))

    def summary(self) -> str:
        return f"{'enabled' if self.enabled else 'disabled'} the {self.kind} prior"


@register_edit
class SetWeight(EditBase):
    """How strongly a prior steers generation (its ControlNet conditioning scale, 0 to 2)."""

    op: Literal["set_weight"] = "set_weight"
    kind: PriorKind
    weight: float = Field(ge=0.0, le=2.0)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        prior = prior_of(priors, self.kind, f"set the weight of the {self.kind} prior")
        return with_prior(priors, prior.model_copy(update={"weight": self.weight}))

    def summary(self) -> str:
        return f"set the {self.kind} prior's weight to {self.weight:g}"


@register_edit
class SetStepRange(EditBase):
    """The fraction of denoising steps a prior acts on: from `start` until `end` (0 to 1)."""

    op: Literal["set_step_range"] = "set_step_range"
    kind: PriorKind
    start: Unit = 0.0
    end: Unit = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> SetStepRange:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        return self

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        prior = prior_of(priors, self.kind, f"set the steps of the {self.kind} prior")
        return with_prior(priors, prior.model_copy(update={"start": self.start, "end": self.end}))

    def summary(self) -> str:
        return (
            f"made the {self.kind} prior act from {self.start:.0%} to {self.end:.0%}"
            " of the denoising steps"
        )
