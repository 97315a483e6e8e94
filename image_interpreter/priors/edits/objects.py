"""Mark detected objects to be replaced or removed when generating.

The object keeps its box and mask, so generation can inpaint exactly that region; an object
without a mask is allowed (its box is used instead). Objects are picked by an `ObjectRef`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from image_interpreter.errors import EditError
from image_interpreter.priors.edits.base import EditBase, prior_of, register_edit, with_prior
from image_interpreter.priors.schema import DetectedObject, Model, ObjectsPrior, Point, PriorSet


class ObjectRef(Model):
    """Which object: by `label` (plus `index` among objects of that label, from 1), by `index`
    alone (among all objects, from 1), or by a `point` inside its box (the smallest box wins)."""

    label: str | None = Field(None, min_length=1, max_length=200)
    index: int | None = Field(None, ge=1)
    point: Point | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ObjectRef:
        if self.point is not None and (self.label is not None or self.index is not None):
            raise ValueError("pick an object by point, or by label/index, not both")
        if self.point is None and self.label is None and self.index is None:
            raise ValueError("pick an object by label, index or point")
        return self

    def text(self) -> str:
        if self.point is not None:
            return f"the object at ({self.point.x:.2f}, {self.point.y:.2f})"
        if self.label is None:
            return f"object {self.index}"
        return f"the {self.label}" if self.index is None else f"{self.label} {self.index}"


def _where(number: int, obj: DetectedObject) -> str:
    b = obj.box
    return f"object {number} '{obj.label}' at ({b.x0:.2f}, {b.y0:.2f})-({b.x1:.2f}, {b.y1:.2f})"


def _contains(obj: DetectedObject, x: float, y: float) -> bool:
    return obj.box.x0 <= x <= obj.box.x1 and obj.box.y0 <= y <= obj.box.y1


def find_object(objects: list[DetectedObject], ref: ObjectRef) -> int:
    """The 0-based index `ref` picks, or an error listing what could have been meant."""
    if not objects:
        raise EditError("No objects were detected in this picture, so there is nothing to pick.")
    listing = "; ".join(_where(i, o) for i, o in enumerate(objects, 1))
    if ref.point is not None:
        x, y = ref.point.x, ref.point.y
        inside = [i for i, o in enumerate(objects) if _contains(o, x, y)]
        if not inside:
            raise EditError(f"No object's box contains ({x:.2f}, {y:.2f}). Objects: {listing}.")
        area = [(objects[i].box.x1 - objects[i].box.x0) * (objects[i].box.y1 - objects[i].box.y0)
                for i in inside]  # fmt: skip
        return inside[area.index(min(area))]
    if ref.label is None:
        assert ref.index is not None
        if ref.index > len(objects):
            raise EditError(
                f"There is no object {ref.index}: {len(objects)} were detected. Objects: {listing}."
            )
        return ref.index - 1
    wanted = ref.label.strip().casefold()
    matches = [i for i, o in enumerate(objects) if o.label.strip().casefold() == wanted]
    if not matches:
        matches = [i for i, o in enumerate(objects) if wanted in o.label.casefold()]
    if not matches:
        labels = ", ".join(sorted({o.label for o in objects}))
        raise EditError(f"No object is labelled '{ref.label}'. The labels found: {labels}.")
    if ref.index is not None:
        if ref.index > len(matches):
            raise EditError(
                f"There is no {ref.label} {ref.index}: only {len(matches)} found"
                f" ({'; '.join(_where(i + 1, objects[i]) for i in matches)})."
            )
        return matches[ref.index - 1]
    if len(matches) > 1:
        found = "; ".join(f"{n}: {_where(i + 1, objects[i])}" for n, i in enumerate(matches, 1))
        raise EditError(
            f"There are {len(matches)} objects labelled '{ref.label}' ({found})."
            f" Say which with an index from 1 to {len(matches)}, or point at it."
        )
    return matches[0]


def _mark(priors: PriorSet, ref: ObjectRef, doing: str, **changes: object) -> PriorSet:
    prior: ObjectsPrior = prior_of(priors, "objects", doing)
    at = find_object(prior.objects, ref)
    objects = list(prior.objects)
    objects[at] = objects[at].model_copy(update=changes)
    return with_prior(priors, prior.model_copy(update={"objects": objects}))


@register_edit
class ReplaceObject(EditBase):
    """Generate something else where an object is ('replace the umbrella with a balloon')."""

    op: Literal["replace_object"] = "replace_object"
    target: ObjectRef
    text: str = Field(min_length=1, max_length=500, description="What replaces it.")

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        text = " ".join(self.text.split())
        return _mark(priors, self.target, "replace an object", action="replace", replacement=text)

    def summary(self) -> str:
        return f"replaced {self.target.text()} with {' '.join(self.text.split())}"


@register_edit
class RemoveObject(EditBase):
    """Take an object out: generation fills its region with background."""

    op: Literal["remove_object"] = "remove_object"
    target: ObjectRef

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _mark(priors, self.target, "remove an object", action="remove", replacement=None)

    def summary(self) -> str:
        return f"removed {self.target.text()}"
