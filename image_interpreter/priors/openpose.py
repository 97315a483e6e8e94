"""OpenPose JSON import and export, so poses move to and from other tools' OpenPose editors.

The format: `{"canvas_width", "canvas_height", "people": [{"pose_keypoints_2d": [x, y, c, ...],
"hand_left_keypoints_2d", "hand_right_keypoints_2d", "face_keypoints_2d"}]}` with pixel coordinates,
18 body points (BODY_25 is read too), 21 per hand and 70 face points; an undetected point is
`0, 0, 0`. Editors that save a list of frames are read from their first frame; editors that save
coordinates already normalised to [0, 1] are recognised.

Points OpenPose-18 has no slot for (feet, BlazePose extras) and a person's label are written under
`image_interpreter_extra` in each person, which other tools ignore, so our own round trip keeps
everything. Coordinates round-trip to within float rounding (x * width / width).

Files come from anyone: the whole document is validated against a pydantic model of the format
(`OpenPoseDocument`) before anything is read from it, so a bad file is refused with one message
naming the field, never a Python exception from deep inside the conversion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from image_interpreter.errors import PriorsError
from image_interpreter.priors.joints import FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.schema import (
    MAX_LABEL,
    MAX_PEOPLE,
    MAX_SCORES,
    Box,
    Face,
    Hand,
    Keypoint,
    Person,
    Side,
)

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
MAX_JSON_BYTES = 4 * 2**20  # MAX_PEOPLE people with every point and extra take well under 1 MiB
MAX_CANVAS = 65_536  # pixels a side

# --- the format, as pydantic models ------------------------------------------------------------

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # no bools, strings, NaN, inf
Triple = tuple[Number, Number, Number]
Canvas = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=1, le=MAX_CANVAS)]
# The longest list is the face's: 70 points, 3 values each.
Flat = Annotated[list[Number], Field(max_length=3 * len(FACE_70))]
Name = Annotated[str, Field(max_length=MAX_LABEL)]


class _Format(BaseModel):
    """Other tools add fields of their own: they are kept out of the way, not refused."""

    model_config = ConfigDict(extra="ignore")


class OpenPoseExtra(_Format):
    """What our own export adds under `image_interpreter_extra` (see `_extra`)."""

    keypoints_2d: dict[Name, Triple] = Field(default_factory=dict, max_length=64)
    zero_points: list[Name] = Field(default_factory=list, max_length=512)
    label: Name | None = None
    box: Box | None = None
    expression: dict[Name, Number] = Field(default_factory=dict, max_length=MAX_SCORES)
    gestures: dict[Side, dict[Name, Number]] = Field(default_factory=dict)
    empty_hands: list[Side] = Field(default_factory=list, max_length=2)
    empty_face: bool = False


class OpenPosePerson(_Format):
    pose_keypoints_2d: Flat | None = None
    hand_left_keypoints_2d: Flat | None = None
    hand_right_keypoints_2d: Flat | None = None
    face_keypoints_2d: Flat | None = None
    image_interpreter_extra: OpenPoseExtra | None = None


class OpenPoseDocument(_Format):
    """One frame of an OpenPose JSON file."""

    canvas_width: Canvas | None = None
    canvas_height: Canvas | None = None
    people: list[OpenPosePerson] = Field(max_length=MAX_PEOPLE)


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
    """OpenPose JSON (text, bytes or parsed) -> people, or one PriorsError naming what is wrong.
    `width`/`height` are needed only when the file has no canvas size."""
    if isinstance(data, (str, bytes)):
        data = parse_json(data)
    if isinstance(data, list):
        if not data:
            raise PriorsError("The OpenPose JSON is an empty list of frames; it holds no pose.")
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise PriorsError(
            "This is not OpenPose JSON: expected an object with a 'people' list "
            "(and 'canvas_width'/'canvas_height')."
        )
    try:
        document = OpenPoseDocument.model_validate(
            {"canvas_width": width, "canvas_height": height} | data
        )
    except ValidationError as exc:
        raise PriorsError(_refusal(exc)) from None
    canvas_w = _canvas(document.canvas_width, "canvas_width")
    canvas_h = _canvas(document.canvas_height, "canvas_height")
    normalised = _looks_normalised(document.people)
    scale_w, scale_h = (1.0, 1.0) if normalised else (float(canvas_w), float(canvas_h))
    people = [
        _read_person(raw, index, scale_w, scale_h) for index, raw in enumerate(document.people, 1)
    ]
    return OpenPoseImport(people=people, width=canvas_w, height=canvas_h)


def parse_json(data: str | bytes) -> Any:
    """Text or bytes of a JSON file -> its value, or a PriorsError a user can act on (not UTF-8,
    not JSON, too large, nested too deeply)."""
    size = len(data)
    if size > MAX_JSON_BYTES:
        raise PriorsError(
            f"The JSON file is {size / 2**20:.1f} MiB; at most {MAX_JSON_BYTES // 2**20} MiB is"
            " read (a pose or priors file is far smaller)."
        )
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PriorsError(
                f"This is not a JSON text file: byte {exc.object[exc.start]:#04x} at offset"
                f" {exc.start} is not UTF-8. Choose the .json file the pose editor saved."
            ) from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise PriorsError(f"This is not JSON ({exc.msg} at line {exc.lineno}).") from None
    except RecursionError:
        raise PriorsError("This JSON is nested too deeply to be a pose or priors file.") from None


def _refusal(exc: ValidationError) -> str:
    """The first problem, where it is (`people[2].pose_keypoints_2d[4]`) and what is wrong."""
    first = exc.errors(include_url=False)[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    if first["type"] == "too_long" and first["loc"] == ("people",):
        return (
            f"The OpenPose JSON has {len(first['input'])} people; at most {MAX_PEOPLE} are read"
            " from one picture."
        )
    value = json.dumps(first["input"], default=str)[:40]
    if first["loc"] in {("canvas_width",), ("canvas_height",)}:
        problem = f"it must be a positive number of pixels (1 to {MAX_CANVAS}), not {value}"
    elif first["type"] == "float_type":
        problem = f"{value} is not a number"
    elif first["type"] == "finite_number":
        problem = f"{value} is not a finite number"
    else:
        problem = first["msg"][:1].lower() + first["msg"][1:]
    return f"The OpenPose JSON is not valid at '{where}': {problem}."


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


def _canvas(value: float | None, field: str) -> int:
    """A validated canvas side (1 .. MAX_CANVAS) in whole pixels, or a refusal if missing."""
    if value is None:
        raise PriorsError(
            f"The OpenPose JSON has no '{field}'; give the canvas size of its picture."
        )
    return round(value)


def _looks_normalised(people: list[OpenPosePerson]) -> bool:
    """Some editors save coordinates in [0, 1]; pixel files always have a coordinate above 1."""
    coords = [
        value
        for person in people
        for key in _KEYPOINT_LISTS
        for i, value in enumerate(getattr(person, key) or [])
        if i % 3 != 2
    ]
    return bool(coords) and max(coords) <= 1.0 and any(c > 0 for c in coords)


def _triples(raw: OpenPosePerson, key: str, index: int) -> list[tuple[float, float, float]]:
    values = getattr(raw, key) or []
    if len(values) % 3:
        raise PriorsError(
            f"Person {index}: '{key}' must be a flat list of x, y, confidence triples;"
            f" it has {len(values)} values."
        )
    return [(values[i], values[i + 1], values[i + 2]) for i in range(0, len(values), 3)]


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


def _read_person(raw: OpenPosePerson, index: int, w: float, h: float) -> Person:
    extra = raw.image_interpreter_extra or OpenPoseExtra()
    zeros = set(extra.zero_points)
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
        for name, (x, y, c) in extra.keypoints_2d.items():
            body[name] = Keypoint(x=x / w, y=y / h, confidence=c)
        hands: dict[str, Hand] = {}
        gestures = extra.gestures
        for side in ("left", "right"):
            triples = _triples(raw, f"hand_{side}_keypoints_2d", index)
            if triples and len(triples) != 21:
                raise PriorsError(
                    f"Person {index}: 'hand_{side}_keypoints_2d' has {len(triples)} points;"
                    " expected 21."
                )
            keypoints = _points(triples, HAND_21, zeros, f"hand_{side}", w, h) if triples else {}
            if keypoints or side in extra.empty_hands or side in gestures:
                hands[side] = Hand(keypoints=keypoints, gestures=gestures.get(side, {}))
        face_triples = _triples(raw, "face_keypoints_2d", index)
        if face_triples and len(face_triples) != 70:
            raise PriorsError(
                f"Person {index}: 'face_keypoints_2d' has {len(face_triples)} points; expected 70."
            )
        landmarks = _points(face_triples, FACE_70, zeros, "face", w, h) if face_triples else {}
        face = Face(landmarks=landmarks) if landmarks or extra.empty_face else None
        return Person.model_validate(
            {
                "label": extra.label,
                "box": extra.box,
                "body": body,
                "hands": hands,
                "face": face,
                "expression": extra.expression,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PriorsError(f"Person {index}: {where}: {first['msg']}.") from None
