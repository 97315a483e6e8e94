"""OpenPose JSON import and export, so poses move to and from other tools' OpenPose editors.

The format: `{"canvas_width", "canvas_height", "people": [{"pose_keypoints_2d": [x, y, c, ...],
"hand_left_keypoints_2d", "hand_right_keypoints_2d", "face_keypoints_2d"}]}` with pixel coordinates,
18 body points (BODY_25 is read too), 21 per hand and 70 face points; an undetected point is
`0, 0, 0`. Editors that save a list of frames are read from their first frame; editors that save
coordinates already normalised to [0, 1] are recognised.

Points OpenPose-18 has no slot for (feet, BlazePose extras) and a person's label are written under
`image_interpreter_extra` in each person, which other tools ignore, so our own round trip keeps
everything. Coordinates round-trip to within float rounding (x * width / width).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from image_interpreter.errors import PriorsError
from image_interpreter.priors.joints import FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.schema import Face, Hand, Keypoint, Person

# BODY_25 adds mid_hip (dropped: it is the mean of the hips) and the six foot points.
OPENPOSE_BODY_25: tuple[str | None, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    None,
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip

EXTRA_KEY = "image_interpreter_extra"
_KEYPOINT_LISTS = (
    "pose_keypoints_2d",
    "hand_left_keypoints_2d",
    "hand_right_keypoints_2d",
    "face_keypoints_2d",
)
_BODY_18 = set(OPENPOSE_BODY_18)


@dataclass(frozen=True)
class OpenPoseImport:
    """People read from an OpenPose JSON file, in normalised coordinates, and its canvas size."""

    people: list[Person]
    width: int
    height: int


def export_openpose(people: list[Person], width: int, height: int) -> dict[str, Any]:
    """People -> OpenPose JSON (a dict for `json.dumps`), in pixels of a width x height canvas."""
    if width <= 0 or height <= 0:
        raise PriorsError(f"The canvas must have a positive size, not {width}x{height}.")
    out_people = []
    for person in people:
        entry: dict[str, Any] = {
            "pose_keypoints_2d": _flatten(person.body, OPENPOSE_BODY_18, width, height),
            "hand_left_keypoints_2d": _flatten(_hand(person, "left"), HAND_21, width, height),
            "hand_right_keypoints_2d": _flatten(_hand(person, "right"), HAND_21, width, height),
            "face_keypoints_2d": _flatten(
                person.face.landmarks if person.face else {}, FACE_70, width, height
            ),
        }
        extra = _extra(person, width, height)
        if extra:
            entry[EXTRA_KEY] = extra
        out_people.append(entry)
    return {"canvas_width": width, "canvas_height": height, "people": out_people}


def import_openpose(
    data: dict[str, Any] | list[Any] | str | bytes,
    *,
    width: int | None = None,
    height: int | None = None,
) -> OpenPoseImport:
    """OpenPose JSON (text or parsed) -> people. `width`/`height` are needed only when the file has
    no canvas size."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PriorsError(f"This is not JSON ({exc.msg} at line {exc.lineno}).") from None
    if isinstance(data, list):
        if not data:
            raise PriorsError("The OpenPose JSON is an empty list of frames; it holds no pose.")
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise PriorsError(
            "This is not OpenPose JSON: expected an object with a 'people' list "
            "(and 'canvas_width'/'canvas_height')."
        )
    canvas_w = _canvas(data.get("canvas_width", width), "canvas_width")
    canvas_h = _canvas(data.get("canvas_height", height), "canvas_height")
    normalised = _looks_normalised(data["people"])
    scale_w, scale_h = (1.0, 1.0) if normalised else (float(canvas_w), float(canvas_h))
    people = [
        _read_person(raw, index, scale_w, scale_h) for index, raw in enumerate(data["people"], 1)
    ]
    return OpenPoseImport(people=people, width=canvas_w, height=canvas_h)


# --- export helpers ---------------------------------------------------------------------------


def _hand(person: Person, side: str) -> dict[str, Keypoint]:
    hand = person.hands.get(side)  # type: ignore[call-overload]
    return dict(hand.keypoints) if hand else {}


def _flatten(points: dict[str, Keypoint], order: tuple[str, ...], w: int, h: int) -> list[float]:
    if not points:
        return []
    flat: list[float] = []
    for name in order:
        point = points.get(name)
        flat.extend((point.x * w, point.y * h, point.confidence) if point else (0.0, 0.0, 0.0))
    return flat


def _extra(person: Person, w: int, h: int) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    points = {
        name: [p.x * w, p.y * h, p.confidence]
        for name, p in person.body.items()
        if name not in _BODY_18
    }
    if points:
        extra["keypoints_2d"] = points
    # Points OpenPose would read as 'missing' (0, 0, 0) but that we do know about.
    zeros = _known_zero_points(person)
    if zeros:
        extra["zero_points"] = zeros
    if person.label is not None:
        extra["label"] = person.label
    if person.box is not None:
        extra["box"] = person.box.model_dump()
    if person.expression:
        extra["expression"] = person.expression
    gestures = {side: hand.gestures for side, hand in person.hands.items() if hand.gestures}
    if gestures:
        extra["gestures"] = gestures
    empty = [side for side, hand in person.hands.items() if not hand.keypoints]
    if empty:
        extra["empty_hands"] = sorted(empty)
    if person.face is not None and not person.face.landmarks:
        extra["empty_face"] = True
    return extra


def _known_zero_points(person: Person) -> list[str]:
    groups: list[tuple[str, dict[str, Keypoint]]] = [("body", dict(person.body))]
    groups += [(f"hand_{side}", dict(hand.keypoints)) for side, hand in person.hands.items()]
    if person.face:
        groups.append(("face", person.face.landmarks))
    return [
        f"{group}.{name}"
        for group, points in groups
        for name, p in points.items()
        if p.x == 0 and p.y == 0 and p.confidence == 0
    ]


# --- import helpers ---------------------------------------------------------------------------


def _canvas(value: Any, field: str) -> int:
    if value is None:
        raise PriorsError(
            f"The OpenPose JSON has no '{field}'; give the canvas size of its picture."
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise PriorsError(f"'{field}' must be a positive number of pixels, not {value!r}.")
    return int(value)


def _looks_normalised(people: list[Any]) -> bool:
    """Some editors save coordinates in [0, 1]; pixel files always have a coordinate above 1."""
    coords = [
        value
        for raw in people
        if isinstance(raw, dict)
        for key in _KEYPOINT_LISTS
        for i, value in enumerate(raw.get(key) or [])
        if i % 3 != 2 and isinstance(value, (int, float))
    ]
    return bool(coords) and max(coords) <= 1.0 and any(c > 0 for c in coords)


def _triples(raw: dict[str, Any], key: str, index: int) -> list[tuple[float, float, float]]:
    values = raw.get(key) or []
    if not isinstance(values, list) or len(values) % 3:
        raise PriorsError(
            f"Person {index}: '{key}' must be a flat list of x, y, confidence triples;"
            f" it has {len(values) if isinstance(values, list) else type(values).__name__} values."
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PriorsError(f"Person {index}: '{key}' holds {value!r}, which is not a number.")
        if not math.isfinite(value):
            raise PriorsError(f"Person {index}: '{key}' holds {value}, which is not finite.")
    return [tuple(values[i : i + 3]) for i in range(0, len(values), 3)]  # type: ignore[misc]


def _points(
    triples: list[tuple[float, float, float]],
    order: tuple[str | None, ...],
    zeros: set[str],
    group: str,
    w: float,
    h: float,
) -> dict[str, Keypoint]:
    points: dict[str, Keypoint] = {}
    for name, (x, y, c) in zip(order, triples, strict=True):
        if name is None:
            continue
        if x == 0 and y == 0 and c == 0 and f"{group}.{name}" not in zeros:
            continue
        points[name] = Keypoint(x=x / w, y=y / h, confidence=min(max(c, 0.0), 1.0))
    return points


def _read_person(raw: Any, index: int, w: float, h: float) -> Person:
    if not isinstance(raw, dict):
        raise PriorsError(f"Person {index} is not an object with keypoint lists.")
    extra = raw.get(EXTRA_KEY) or {}
    zeros = set(extra.get("zero_points") or [])
    body_triples = _triples(raw, "pose_keypoints_2d", index)
    if len(body_triples) == 18:
        body_order: tuple[str | None, ...] = OPENPOSE_BODY_18
    elif len(body_triples) == 25:
        body_order = OPENPOSE_BODY_25
    elif not body_triples:
        body_order = ()
    else:
        raise PriorsError(
            f"Person {index}: 'pose_keypoints_2d' has {len(body_triples)} points; expected 18"
            " (OpenPose COCO-18) or 25 (BODY_25)."
        )
    try:
        body = _points(body_triples, body_order, zeros, "body", w, h)
        for name, (x, y, c) in (extra.get("keypoints_2d") or {}).items():
            body[name] = Keypoint(x=x / w, y=y / h, confidence=c)
        hands: dict[str, Hand] = {}
        gestures = extra.get("gestures") or {}
        for side in ("left", "right"):
            triples = _triples(raw, f"hand_{side}_keypoints_2d", index)
            if triples and len(triples) != 21:
                raise PriorsError(
                    f"Person {index}: 'hand_{side}_keypoints_2d' has {len(triples)} points;"
                    " expected 21."
                )
            keypoints = _points(triples, HAND_21, zeros, f"hand_{side}", w, h) if triples else {}
            if keypoints or side in (extra.get("empty_hands") or []) or side in gestures:
                hands[side] = Hand(keypoints=keypoints, gestures=gestures.get(side, {}))
        face_triples = _triples(raw, "face_keypoints_2d", index)
        if face_triples and len(face_triples) != 70:
            raise PriorsError(
                f"Person {index}: 'face_keypoints_2d' has {len(face_triples)} points; expected 70."
            )
        landmarks = _points(face_triples, FACE_70, zeros, "face", w, h) if face_triples else {}
        face = Face(landmarks=landmarks) if landmarks or extra.get("empty_face") else None
        return Person.model_validate(
            {
                "label": extra.get("label"),
                "box": extra.get("box"),
                "body": body,
                "hands": hands,
                "face": face,
                "expression": extra.get("expression") or {},
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PriorsError(f"Person {index}: {where}: {first['msg']}.") from None
