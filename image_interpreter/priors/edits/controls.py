"""Switch priors on and off, weigh them, and choose the denoising steps they act on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, model_validator

from image_interpreter.errors import EditError
from image_interpreter.priors.edits.base import EditBase, prior_of, register_edit, with_prior
from image_interpreter.priors.schema import Guide, PriorKind, PriorSet, Unit


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


DEFAULT_GUIDE = 1.0  # the weight 'guide with the depth' starts from
GUIDED_KINDS = ("caption", "people", "depth", "objects", "segmentation", "edges")  # with a loss
GuideKind = Literal[
    "caption", "people", "depth", "objects", "segmentation", "edges", "joint", "all"
]


@register_edit
class SetGuide(EditBase):
    """How hard a prior pulls sampling through its differentiable loss (prior guidance, beside
    its ControlNet weight): a `weight` (0 = off, up to 10), or a `factor` on the current one
    ('guide the depth harder' = 2; from off it starts at 1), and the steps it guides on. `kind`
    'joint' is the cross-related loss; 'all' sets every present prior and the joint loss."""

    op: Literal["set_guide"] = "set_guide"
    kind: GuideKind
    weight: float | None = Field(None, ge=0.0, le=10.0)
    factor: float | None = Field(None, gt=0.0, le=10.0)
    start: Unit | None = None
    end: Unit | None = None
    every: int | None = Field(None, ge=1, le=50, description="Guide every n-th step.")

    @model_validator(mode="after")
    def _something(self) -> SetGuide:
        if self.weight is not None and self.factor is not None:
            raise ValueError("give a weight or a factor, not both")
        if all(v is None for v in (self.weight, self.factor, self.start, self.end, self.every)):
            raise ValueError("give a weight, a factor, a step range or how often to guide")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        return self

    def _guide(self, current: Guide) -> Guide:
        update: dict[str, float | int] = {}
        if self.weight is not None:
            update["weight"] = self.weight
        elif self.factor is not None:
            if current.weight == 0:  # from off, 'harder' switches it on at the default
                update["weight"] = DEFAULT_GUIDE if self.factor > 1 else 0.0
            else:
                update["weight"] = round(min(10.0, current.weight * self.factor), 3)
        for name in ("start", "end", "every"):
            if getattr(self, name) is not None:
                update[name] = getattr(self, name)
        try:
            return Guide.model_validate(current.model_dump() | update)
        except ValidationError as exc:
            raise EditError(
                f"Cannot guide with the {self.kind} prior that way:"
                f" {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}."
            ) from None

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        if self.kind in ("joint", "all"):
            generation = priors.generation
            guide = self._guide(generation.joint_guide)
            priors = priors.model_copy(
                update={"generation": generation.model_copy(update={"joint_guide": guide})}
            )
            if self.kind == "joint":
                return priors
            for kind, prior in priors.priors().items():
                if kind not in GUIDED_KINDS:
                    continue
                priors = with_prior(
                    priors, prior.model_copy(update={"guide": self._guide(prior.guide)})
                )
            return priors
        prior = prior_of(priors, self.kind, f"guide with the {self.kind} prior")
        guide = self._guide(prior.guide)
        if guide.active and not prior.enabled:
            notes.append(f"the {self.kind} prior is disabled, so it guides only once enabled")
        return with_prior(priors, prior.model_copy(update={"guide": guide}))

    def summary(self) -> str:
        what = (
            "every prior"
            if self.kind == "all"
            else ("the joint loss" if self.kind == "joint" else f"the {self.kind} prior")
        )
        parts = []
        if self.weight is not None:
            parts.append(
                "stopped guiding with " + what
                if self.weight == 0
                else f"set {what}'s guidance weight to {self.weight:g}"
            )
        elif self.factor is not None:
            parts.append(
                f"{'strengthened' if self.factor > 1 else 'weakened'} the guidance by {what}"
            )
        if self.start is not None or self.end is not None:
            parts.append(
                f"made {what} guide from {self.start or 0:.0%}"
                f" to {1 if self.end is None else self.end:.0%} of the steps"
            )
        if self.every is not None:
            parts.append(
                f"made {what} guide every {self.every} steps"
                if self.every > 1
                else f"made {what} guide every step"
            )
        return "; ".join(parts)
