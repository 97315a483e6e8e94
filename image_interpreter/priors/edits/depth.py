"""Depth edits: change `depth.adjust`, which renderers apply to the extracted map.

Values beyond `DepthAdjust`'s ranges are refused with the largest change still possible, rather
than clamped silently."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from image_interpreter.errors import EditError
from image_interpreter.priors.edits.base import EditBase, prior_of, register_edit, with_prior
from image_interpreter.priors.schema import DepthAdjust, DepthPrior, PriorSet, Unit

MAX_SCALE: float = next(
    m.le for m in DepthAdjust.model_fields["scale"].metadata if hasattr(m, "le")
)


def _adjust(priors: PriorSet, doing: str, **changes: object) -> PriorSet:
    prior: DepthPrior = prior_of(priors, "depth", doing)
    adjust = prior.adjust.model_copy(update=changes)
    return with_prior(priors, prior.model_copy(update={"adjust": adjust}))


@register_edit
class ScaleDepth(EditBase):
    """Multiply the depth contrast: above 1 exaggerates near/far, below 1 flattens it."""

    op: Literal["scale_depth"] = "scale_depth"
    factor: float = Field(gt=0.0, le=MAX_SCALE)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        prior: DepthPrior = prior_of(priors, "depth", "scale the depth")
        scale = prior.adjust.scale * self.factor
        if scale > MAX_SCALE + 1e-12:
            most = MAX_SCALE / prior.adjust.scale
            raise EditError(
                f"The depth contrast is already {prior.adjust.scale:g}; scaling by {self.factor:g}"
                f" would pass the maximum {MAX_SCALE:g}. The most it can be scaled by now is"
                f" {most:.2f}."
            )
        return _adjust(priors, "scale the depth", scale=min(scale, MAX_SCALE))

    def summary(self) -> str:
        return f"scaled the depth contrast by {self.factor:g}"


@register_edit
class FlattenDepth(EditBase):
    """How flat the depth becomes: 0 as extracted, 1 completely flat (a setting, not a step)."""

    op: Literal["flatten_depth"] = "flatten_depth"
    amount: Unit

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _adjust(priors, "flatten the depth", flatten=self.amount)

    def summary(self) -> str:
        return f"set the depth flattening to {self.amount:.0%}"


@register_edit
class InvertDepth(EditBase):
    """Swap near and far; inverting twice restores the map."""

    op: Literal["invert_depth"] = "invert_depth"

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        prior: DepthPrior = prior_of(priors, "depth", "invert the depth")
        return _adjust(priors, "invert the depth", invert=not prior.adjust.invert)

    def summary(self) -> str:
        return "inverted the depth (near and far swapped)"


@register_edit
class BlurDepth(EditBase):
    """Soften the depth map: blur radius as a fraction of the image width (0 to 0.2)."""

    op: Literal["blur_depth"] = "blur_depth"
    radius: float = Field(ge=0.0, le=0.2)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _adjust(priors, "blur the depth", blur=self.radius)

    def summary(self) -> str:
        return f"set the depth blur to {self.radius:.0%} of the width"


@register_edit
class PushBackground(EditBase):
    """Push far things further away (0 as extracted, 1 the most)."""

    op: Literal["push_background"] = "push_background"
    amount: Unit

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _adjust(priors, "push the background back", push_background=self.amount)

    def summary(self) -> str:
        return f"pushed the background back by {self.amount:.0%}"
