"""Fit a gesture template to a hand: same wrist, size, direction and handedness in the picture."""

from __future__ import annotations

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.geometry import Vec
from image_interpreter.priors.edits.templates import GESTURES, HAND_TO_FOREARM
from image_interpreter.priors.schema import Hand, Keypoint, Person

DEFAULT_HAND = 0.03  # wrist to middle knuckle, in picture heights, when nothing else tells


def _chirality(keypoints: dict[str, Keypoint], along: Vec, aspect: float) -> int | None:
    """+1 when the thumb side is where the template has it (a right palm facing the viewer),
    -1 for the mirror image, None when the hand does not show."""
    pairs = (("index_mcp", "pinky_mcp"), ("thumb_cmc", "pinky_mcp"), ("thumb_tip", "pinky_tip"))
    for thumb_side, other in pairs:
        a, b = keypoints.get(thumb_side), keypoints.get(other)
        if a is not None and b is not None:
            side = g.cross(along, g.sub(g.pic(a, aspect), g.pic(b, aspect)))
            if abs(side) > 1e-12:
                return 1 if side > 0 else -1
    return None


def _default_chirality(person: Person, side: str, aspect: float) -> int:
    """The palm towards the camera when the person faces it (the back of it otherwise)."""
    facing = kin.view(person, aspect)
    right = 1 if side == "right" else -1
    return -right if facing == "away" else right


def _frame(person: Person, side: str, aspect: float, number: int) -> tuple[Vec, Vec, int]:
    """Where the hand goes: its wrist, the vector wrist -> middle knuckle, and its handedness."""
    hand = person.hands.get(side)  # type: ignore[call-overload]
    keypoints = hand.keypoints if hand is not None else {}
    wrist_kp = keypoints.get("wrist") or person.body.get(f"{side}_wrist")  # type: ignore[call-overload]
    if wrist_kp is None:
        raise EditError(
            f"Person {number} has no {side} wrist or hand keypoints to shape. Place the wrist"
            f" first (move_joint {side}_wrist with `to`)."
        )
    wrist = g.pic(wrist_kp, aspect)
    knuckle = keypoints.get("middle_mcp")
    if knuckle is not None and g.pic(knuckle, aspect) != wrist:
        along = g.sub(g.pic(knuckle, aspect), wrist)
    else:
        along = _from_forearm(person, side, wrist, aspect)
    handed = _chirality(keypoints, along, aspect) or _default_chirality(person, side, aspect)
    return wrist, along, handed


def _from_forearm(person: Person, side: str, wrist: Vec, aspect: float) -> Vec:
    """A new hand continues the forearm, sized from its length."""
    elbow = kin.point(person, f"{side}_elbow", aspect)
    if elbow is not None and elbow != wrist:
        forearm = g.sub(wrist, elbow)
        return g.mul(forearm, HAND_TO_FOREARM)
    other = person.hands.get("left" if side == "right" else "right")  # type: ignore[call-overload]
    size = DEFAULT_HAND
    if other is not None and {"wrist", "middle_mcp"} <= set(other.keypoints):
        size = g.length(g.sub(g.pic(other.keypoints["middle_mcp"], aspect),
                              g.pic(other.keypoints["wrist"], aspect))) or size  # fmt: skip
    return (0.0, size)


def set_gesture(person: Person, side: str, gesture: str, aspect: float, number: int) -> Person:
    """`person` with their `side` hand shaped as `gesture`, fitted where the hand is."""
    wrist, along, handed = _frame(person, side, aspect, number)
    size = g.length(along)
    up = g.unit(along)  # the template's (0, -1)
    thumb = (-up[1], up[0])  # the template's (1, 0): a quarter turn clockwise from `up`
    old = person.hands.get(side)  # type: ignore[call-overload]
    keypoints = {}
    for name, (tx, ty) in GESTURES[gesture].items():
        offset = g.add(g.mul(up, -ty * size), g.mul(thumb, handed * tx * size))
        at = g.add(wrist, offset)
        keypoints[name] = Keypoint(x=at[0] / aspect, y=at[1], confidence=1.0)
    if old is not None and "wrist" in old.keypoints:
        keypoints["wrist"] = old.keypoints["wrist"]  # exactly where it was
    hand = Hand(keypoints=keypoints, gestures={gesture: 1.0})
    return g.grow_box(person.model_copy(update={"hands": {**person.hands, side: hand}}))
