"""The guidance controls of the web chat's settings panel (`app.py`).

Each enabled prior with a guidance loss gets a weight (0 = off), the fraction of steps it guides
from and until, and how often; the joint loss ("priors agree") a weight. The panel shows the
session's current version (`Conversations.guides`); what the user moves goes back as `guides`
of `Conversations.set_generation`, i.e. `SetGuide` edits: one version, undoable, and refused as
a whole (the state left as it was) when a value does not validate.

Widget ids are `guide_<kind>_<field>` (no dots: the browser's form would nest them).
"""

from __future__ import annotations

from typing import Any

from chainlit.input_widget import InputWidget, Slider

from image_interpreter.priors.schema import Guide

PREFIX = "guide_"
FIELDS = ("weight", "start", "end", "every")
JOINT_FIELDS = ("weight",)
MAX_WEIGHT = next(m.le for m in Guide.model_fields["weight"].metadata if hasattr(m, "le"))
LABELS = {
    "caption": "Caption (CLIP)",
    "people": "Pose",
    "depth": "Depth",
    "objects": "Objects",
    "segmentation": "Segmentation",
    "edges": "Edges",
    "joint": "Priors agree",
}


def widget_id(kind: str, field: str) -> str:
    return f"{PREFIX}{kind}_{field}"


def guidance_values(guides: dict[str, Guide]) -> dict[str, float | int]:
    """What the panel shows, by widget id, for the guides of the current version."""
    values: dict[str, float | int] = {}
    for kind, guide in guides.items():
        for field in JOINT_FIELDS if kind == "joint" else FIELDS:
            values[widget_id(kind, field)] = getattr(guide, field)
    return values


def guidance_widgets(values: dict[str, float | int]) -> list[InputWidget]:
    """The sliders for `values` (from `guidance_values`), kind by kind, the joint loss last."""
    widgets: list[InputWidget] = []
    for key, value in values.items():
        kind, field = _parse(key)
        name = LABELS.get(kind, kind)
        if field == "weight":
            widgets.append(
                Slider(
                    id=key,
                    label=f"{name}: guidance weight (0 = off)",
                    min=0,
                    max=MAX_WEIGHT,
                    step=0.25,
                    initial=value,
                    description=(
                        "How hard the priors are made to agree with each other (people's depth,"
                        " objects in their masks) while sampling."
                        if kind == "joint"
                        else f"How hard the {kind} prior's loss steers sampling, beside its"
                        " ControlNet weight."
                    ),
                )
            )
        elif field in ("start", "end"):
            widgets.append(
                Slider(
                    id=key,
                    label=f"{name}: guides {'from' if field == 'start' else 'until'}",
                    min=0,
                    max=1,
                    step=0.05,
                    initial=value,
                    description="Fraction of the denoising steps.",
                )
            )
        else:
            widgets.append(
                Slider(
                    id=key,
                    label=f"{name}: guide every n-th step",
                    min=1,
                    max=max(10, int(value)),
                    step=1,
                    initial=value,
                )
            )
    return widgets


def guide_changes(values: dict[str, Any], shown: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The guidance fields the user changed in the panel (`values` against the `shown` ones), by
    kind, for `Conversations.set_generation(guides=...)`. Fields not shown are ignored (the panel
    may be older than the chat's own changes). ValueError, with a sentence for the user, where a
    value is not a number (or `every` not a whole one)."""
    changes: dict[str, dict[str, float]] = {}
    for key, value in values.items():
        if not key.startswith(PREFIX) or key not in shown or value == shown[key]:
            continue
        kind, field = _parse(key)
        name = LABELS.get(kind, kind).lower()
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"The {name} guidance {field} must be a number, not “{value}”."
            ) from None
        if field == "every":
            if not number.is_integer():
                raise ValueError(f"The {name} guidance must be every whole number of steps.")
            number = int(number)
        changes.setdefault(kind, {})[field] = number
    return changes


def _parse(key: str) -> tuple[str, str]:
    kind, _, field = key.removeprefix(PREFIX).rpartition("_")
    return kind, field
