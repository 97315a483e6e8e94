"""Typed, pure edits of a PriorSet: what "raise her left arm" or "make it 16:9" becomes.

`Edit` is a discriminated union (field `op`) of small pydantic models, usable as a field and in
JSON; `apply(edit, priors)` returns a new PriorSet and never changes its input, and
`apply_all` applies a list all-or-nothing. Anything that cannot apply raises `EditError` with a
message a user can act on. `describe(edit)` is the one-line English a user sees.

Conventions every edit shares:
- People are numbered from 1, as a user says "person 2"; `person` defaults to 1.
- Left and right are always the subject's own: a person facing the camera has their left arm on
  the picture's right.
- Coordinates are normalised to the picture (x right, y down, 0 to 1). Geometry (rotations,
  lengths, gestures) is done in the picture's true proportions, so bones keep their length as
  the user sees them, whatever the aspect ratio.
- Angles are degrees, positive = counter-clockwise as seen in the picture.
- Results share the parts an edit did not touch with the input; treat PriorSets as values
  (change them with edits, not by assigning to fields).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter, ValidationError

from image_interpreter.errors import EditError
from image_interpreter.priors.edits.base import EDIT_TYPES, EditBase, register_edit
from image_interpreter.priors.edits.controls import SetEnabled, SetGuide, SetStepRange, SetWeight
from image_interpreter.priors.edits.depth import (
    BlurDepth,
    FlattenDepth,
    InvertDepth,
    PushBackground,
    ScaleDepth,
)
from image_interpreter.priors.edits.expressions import SetExpression
from image_interpreter.priors.edits.generation import (
    SetCandidates,
    SetGuidance,
    SetSeed,
    SetSize,
    SetSteps,
    SetStrength,
)
from image_interpreter.priors.edits.gestures import SetGesture
from image_interpreter.priors.edits.objects import ObjectRef, RemoveObject, ReplaceObject
from image_interpreter.priors.edits.people import (
    CopyPose,
    DuplicatePerson,
    MirrorPerson,
    MovePerson,
    RemovePerson,
    ScalePerson,
)
from image_interpreter.priors.edits.pose import (
    LimbName,
    MoveJoint,
    PosePreset,
    PresetName,
    RotateLimb,
)
from image_interpreter.priors.edits.reaching import JoinHands, PointAt, Reach
from image_interpreter.priors.edits.templates import ExpressionName, GestureName
from image_interpreter.priors.edits.text import (
    AddStyle,
    AmendCaption,
    SetCaption,
    SetNegativePrompt,
    SetTimeOfDay,
)
from image_interpreter.priors.schema import PriorSet

Edit = Annotated[
    # pose
    RotateLimb
    | PosePreset
    | MoveJoint
    | Reach
    | PointAt
    | JoinHands
    # people
    | MovePerson
    | ScalePerson
    | MirrorPerson
    | RemovePerson
    | DuplicatePerson
    | CopyPose
    # hands and face
    | SetGesture
    | SetExpression
    # priors
    | SetEnabled
    | SetWeight
    | SetStepRange
    | SetGuide
    # text
    | SetCaption
    | AmendCaption
    | AddStyle
    | SetTimeOfDay
    | SetNegativePrompt
    # objects
    | ReplaceObject
    | RemoveObject
    # depth
    | ScaleDepth
    | FlattenDepth
    | InvertDepth
    | BlurDepth
    | PushBackground
    # generation settings
    | SetSize
    | SetSeed
    | SetCandidates
    | SetSteps
    | SetGuidance
    | SetStrength,
    Field(discriminator="op"),
]

EDIT_ADAPTER: TypeAdapter[Edit] = TypeAdapter(Edit)

assert set(get_args(get_args(Edit)[0])) == set(EDIT_TYPES.values()), "Edit union != EDIT_TYPES"


def _problem(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        loc = item["loc"][1:] if item["loc"] and item["loc"][0] in EDIT_TYPES else item["loc"]
        where = ".".join(str(p) for p in loc) or "edit"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_edit(data: Mapping[str, Any] | str | bytes | EditBase) -> EditBase:
    """An edit from a dict or JSON text (as an agent or a file gives it), or EditError."""
    if isinstance(data, EditBase):
        return data
    try:
        if isinstance(data, str | bytes):
            return EDIT_ADAPTER.validate_json(data)
        return EDIT_ADAPTER.validate_python(data)
    except ValidationError as error:
        tags = [e["loc"][0] for e in error.errors() if e["loc"] and e["loc"][0] in EDIT_TYPES]
        op = tags[0] if tags else data.get("op") if isinstance(data, Mapping) else None
        known = ", ".join(sorted(EDIT_TYPES))
        hint = "" if op in EDIT_TYPES else f" Known ops: {known}."
        name = f" {op!r}" if op else ""
        raise EditError(f"Invalid edit{name}: {_problem(error)}.{hint}") from None


def _run(edit: EditBase | Mapping[str, Any], priors: PriorSet) -> tuple[PriorSet, list[str]]:
    parsed = parse_edit(edit)
    notes: list[str] = []
    try:
        return parsed._run(priors, notes), notes
    except ValidationError as error:
        raise EditError(
            f"Cannot apply “{parsed.summary()}”: the result would be invalid ({_problem(error)})."
        ) from None


def apply(edit: EditBase | Mapping[str, Any], priors: PriorSet) -> PriorSet:
    """The PriorSet after `edit`; `priors` is left as it was. Raises EditError."""
    return _run(edit, priors)[0]


def apply_all(edits: Iterable[EditBase | Mapping[str, Any]], priors: PriorSet) -> PriorSet:
    """Apply edits in order, all or nothing: if one fails, EditError says which, and nothing
    is applied (the input is never changed, so there is nothing to undo)."""
    edits = list(edits)
    result = priors
    for number, edit in enumerate(edits, 1):
        what = ""
        try:
            parsed = parse_edit(edit)
            what = f" ({parsed.summary()})"
            result = apply(parsed, result)
        except EditError as error:
            raise EditError(
                f"Edit {number} of {len(edits)}{what} failed, so none were applied: {error}"
            ) from None
    return result


def describe(edit: EditBase | Mapping[str, Any], priors: PriorSet | None = None) -> str:
    """One short sentence for the user ("rotated person 1's left forearm 30° clockwise"). Given
    the priors it applies to, it also says what happened beyond the request (a joint limit),
    and raises EditError where `apply` would."""
    parsed = parse_edit(edit)
    text = parsed.summary()
    if priors is not None:
        notes = _run(parsed, priors)[1]
        if notes:
            text += " (" + "; ".join(notes) + ")"
    return text


__all__ = [
    "EDIT_ADAPTER",
    "EDIT_TYPES",
    "AddStyle",
    "AmendCaption",
    "BlurDepth",
    "CopyPose",
    "DuplicatePerson",
    "Edit",
    "EditBase",
    "ExpressionName",
    "FlattenDepth",
    "GestureName",
    "InvertDepth",
    "JoinHands",
    "LimbName",
    "MirrorPerson",
    "MoveJoint",
    "MovePerson",
    "ObjectRef",
    "PointAt",
    "PosePreset",
    "PresetName",
    "PushBackground",
    "Reach",
    "RemoveObject",
    "RemovePerson",
    "ReplaceObject",
    "RotateLimb",
    "ScaleDepth",
    "ScalePerson",
    "SetCandidates",
    "SetCaption",
    "SetEnabled",
    "SetExpression",
    "SetGesture",
    "SetGuidance",
    "SetGuide",
    "SetNegativePrompt",
    "SetSeed",
    "SetSize",
    "SetStepRange",
    "SetSteps",
    "SetStrength",
    "SetTimeOfDay",
    "SetWeight",
    "apply",
    "apply_all",
    "describe",
    "parse_edit",
    "register_edit",
]
