"""Limbs, joint angles and their anatomical limits, in the picture's plane.

A limb turns about its proximal joint and carries everything beyond it. Its angle is measured
against the bone before it (the torso for shoulders, hips and the neck), in the anatomical
sense: positive is abduction or forward flexion at the shoulder and hip, flexion at the elbow and
knee. Which way that is in the picture depends on which way the person faces (`view`): seen from
the front, the left arm's abduction is counter-clockwise; from behind, clockwise. Seen from the
front or back an elbow may fold either way in the picture (the shoulder's rotation decides), so
only its extent is limited; a knee folds its shin towards the body's midline (or backwards, in
profile), never the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits.geometry import Vec
from image_interpreter.priors.schema import Keypoint, Person, Point

View = Literal["camera", "away", "left", "right"]
JointKind = Literal["shoulder", "elbow", "wrist", "hip", "knee", "neck"]

HEAD_POINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
    "mouth_left", "mouth_right",
)  # fmt: skip


def hand_points(side: str) -> tuple[str, ...]:
    """Body points that belong to a hand (BlazePose's), carried with it."""
    return (f"{side}_pinky", f"{side}_index", f"{side}_thumb")


def foot_points(side: str) -> tuple[str, ...]:
    return (f"{side}_heel", f"{side}_big_toe", f"{side}_small_toe", f"{side}_foot_index")


@dataclass(frozen=True)
class Limb:
    """A rigid segment that turns about `pivot` (a body joint), ending at `end`."""

    name: str
    joint: str  # what turns, for messages: "left elbow"
    kind: JointKind
    side: Literal["left", "right"] | None
    pivot: str
    end: str  # a body joint, or "hand" (the hand's middle knuckle)
    reference: tuple[str, str] | None  # the bone its angle is measured from; None: the torso
    carried: tuple[str, ...]  # body points that move with it
    hand: Literal["left", "right"] | None = None
    face: bool = False


def _side(s: Literal["left", "right"]) -> tuple[Limb, ...]:
    hand = (f"{s}_wrist", *hand_points(s))
    foot = (f"{s}_ankle", *foot_points(s))
    shoulder, elbow, wrist = f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist"
    hip, knee, ankle = f"{s}_hip", f"{s}_knee", f"{s}_ankle"
    return (
        Limb(f"{s}_upper_arm", f"{s} shoulder", "shoulder", s, shoulder, elbow, None,
             (elbow, *hand), hand=s),
        Limb(f"{s}_forearm", f"{s} elbow", "elbow", s, elbow, wrist, (shoulder, elbow),
             hand, hand=s),
        Limb(f"{s}_hand", f"{s} wrist", "wrist", s, wrist, "hand", (elbow, wrist),
             hand_points(s), hand=s),
        Limb(f"{s}_thigh", f"{s} hip", "hip", s, hip, knee, None, (knee, *foot)),
        Limb(f"{s}_shin", f"{s} knee", "knee", s, knee, ankle, (hip, knee), foot),
    )  # fmt: skip


LIMBS: dict[str, Limb] = {
    limb.name: limb
    for limb in (
        *_side("left"),
        *_side("right"),
        Limb("head", "neck", "neck", None, "neck", "nose", None, HEAD_POINTS, face=True),
    )
}

# Anatomical range of each joint in degrees: (seen from the front or back, seen in profile).
LIMITS: dict[JointKind, tuple[tuple[float, float], tuple[float, float]]] = {
    "shoulder": ((-75.0, 180.0), (-60.0, 180.0)),
    "elbow": ((-160.0, 160.0), (0.0, 160.0)),
    "wrist": ((-90.0, 90.0), (-90.0, 90.0)),
    "hip": ((-45.0, 135.0), (-45.0, 135.0)),
    "knee": ((0.0, 160.0), (0.0, 160.0)),
    "neck": ((-70.0, 70.0), (-70.0, 70.0)),
}


# --- where things are ------------------------------------------------------------------------


def point(person: Person, name: str, aspect: float) -> Vec | None:
    kp = person.body.get(name)  # type: ignore[call-overload]
    return g.pic(kp, aspect) if kp is not None else None


def _middle(person: Person, names: tuple[str, str], aspect: float) -> Vec | None:
    a, b = (point(person, n, aspect) for n in names)
    if a is not None and b is not None:
        return g.mid(a, b)
    return a or b


def torso_down(person: Person, aspect: float) -> Vec:
    """Unit vector from the neck towards the hips; straight down when they are not known."""
    neck = point(person, "neck", aspect) or _middle(
        person, ("left_shoulder", "right_shoulder"), aspect
    )
    hips = _middle(person, ("left_hip", "right_hip"), aspect)
    if neck is None or hips is None or g.length(g.sub(hips, neck)) == 0:
        return (0.0, 1.0)
    return g.unit(g.sub(hips, neck))


def torso_length(person: Person, aspect: float) -> float | None:
    neck = point(person, "neck", aspect)
    hips = _middle(person, ("left_hip", "right_hip"), aspect)
    if neck is None or hips is None:
        return None
    return g.length(g.sub(hips, neck)) or None


def view(person: Person, aspect: float) -> View:
    """Which way the person faces: the camera (their left on the picture's right), away, or in
    profile towards the picture's left or right."""
    for pair in (("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")):
        left, right = point(person, pair[0], aspect), point(person, pair[1], aspect)
        if left is None or right is None:
            continue
        across = g.dot(g.sub(left, right), g.turn(torso_down(person, aspect), 90))
        scale = torso_length(person, aspect) or g.length(g.sub(left, right))
        if abs(across) >= 0.3 * scale:
            return "camera" if across > 0 else "away"
        break
    nose = point(person, "nose", aspect)
    back = point(person, "neck", aspect) or _middle(person, ("left_ear", "right_ear"), aspect)
    if nose is not None and back is not None and nose[0] != back[0]:
        return "right" if nose[0] > back[0] else "left"
    return "camera"


def outward(view_: View, side: str | None) -> int:
    """+1 when the side's abduction (or forward flexion, in profile) is counter-clockwise as
    seen in the picture, -1 when clockwise."""
    if view_ == "right":
        return 1
    if view_ == "left":
        return -1
    if side is None:
        return 1
    sign = 1 if side == "left" else -1
    return sign if view_ == "camera" else -sign


def sense(limb: Limb, view_: View) -> int:
    """Picture rotation sense of the joint's positive anatomical direction."""
    if limb.kind == "neck":
        return 1
    sign = outward(view_, limb.side)
    return -sign if limb.kind == "knee" else sign


def limits(limb: Limb, view_: View) -> tuple[float, float]:
    frontal, profile = LIMITS[limb.kind]
    return frontal if view_ in ("camera", "away") else profile


def end_point(person: Person, limb: Limb, aspect: float) -> Vec | None:
    if limb.end == "hand":
        hand = person.hands.get(limb.hand) if limb.hand else None
        for kp in (hand.keypoints.get("middle_mcp") if hand else None,
                   person.body.get(f"{limb.side}_index")):  # fmt: skip
            if kp is not None:
                return g.pic(kp, aspect)
        return None
    found = point(person, limb.end, aspect)
    if found is None and limb.kind == "neck":
        found = _middle(person, ("left_eye", "right_eye"), aspect) or _middle(
            person, ("left_ear", "right_ear"), aspect
        )
    return found


def _reference(person: Person, limb: Limb, aspect: float) -> Vec | None:
    if limb.reference is None:
        down = torso_down(person, aspect)
        return g.mul(down, -1) if limb.kind == "neck" else down
    a, b = (point(person, n, aspect) for n in limb.reference)
    if a is None or b is None or a == b:
        return None
    return g.sub(b, a)


def _need(person: Person, limb: Limb, aspect: float, number: int) -> tuple[Vec, Vec]:
    pivot = point(person, limb.pivot, aspect)
    end = end_point(person, limb, aspect)
    if pivot is None or end is None:
        missing = limb.pivot if pivot is None else ("hand" if limb.end == "hand" else limb.end)
        raise EditError(
            f"Person {number}'s {missing.replace('_', ' ')} was not seen, so their"
            f" {limb.name.replace('_', ' ')} cannot be posed. Place it first (move_joint with"
            " `to`), or pose another limb."
        )
    if pivot == end:
        raise EditError(
            f"Person {number}'s {limb.name.replace('_', ' ')} has no length (both ends at the"
            " same point), so it has no direction to turn."
        )
    return pivot, end


def joint_angle(
    person: Person, limb: Limb, aspect: float, view_: View | None = None
) -> float | None:
    """The joint's anatomical angle in degrees, or None when its reference bone is unknown.
    Angles are unwrapped into the 360° window centred on the joint's range. (`view_`: the
    person's view when the caller knows it already.)"""
    pivot, end = point(person, limb.pivot, aspect), end_point(person, limb, aspect)
    reference = _reference(person, limb, aspect)
    if pivot is None or end is None or reference is None or pivot == end:
        return None
    view_ = view_ or view(person, aspect)
    low, high = limits(limb, view_)
    angle = sense(limb, view_) * g.angle_between(reference, g.sub(end, pivot))
    centre = (low + high) / 2
    return (angle - centre + 180.0) % 360.0 - 180.0 + centre


# --- turning ---------------------------------------------------------------------------------


def turn_limb(person: Person, limb: Limb, degrees: float, aspect: float) -> Person:
    """Turn `limb` and all it carries by `degrees` (picture counter-clockwise), no limits."""
    pivot = point(person, limb.pivot, aspect)
    if degrees == 0 or pivot is None:
        return person

    def spin(kp: Keypoint) -> Keypoint:
        return g.moved(kp, g.rotate_about(g.pic(kp, aspect), pivot, degrees), aspect)

    body = dict(person.body)
    for name in limb.carried:
        kp = body.get(name)  # type: ignore[call-overload]
        if kp is not None:
            body[name] = spin(kp)  # type: ignore[index]
    update: dict[str, object] = {"body": body}
    if limb.hand is not None and limb.hand in person.hands:
        hand = person.hands[limb.hand]
        keypoints = {name: spin(kp) for name, kp in hand.keypoints.items()}
        turned = hand.model_copy(update={"keypoints": keypoints})
        update["hands"] = {**person.hands, limb.hand: turned}
    if limb.face and person.face is not None:
        landmarks = {name: spin(kp) for name, kp in person.face.landmarks.items()}
        update["face"] = person.face.model_copy(update={"landmarks": landmarks})
    return person.model_copy(update=update)


def _limited(
    person: Person, limb: Limb, current: float | None, target: float, aspect: float,
    notes: list[str], view_: View | None = None,
) -> float:  # fmt: skip
    """`target` clamped to the joint's range (widened to include where it already is)."""
    if current is None:
        return target
    low, high = limits(limb, view_ or view(person, aspect))
    low, high = min(low, current), max(high, current)
    clamped = min(max(target, low), high)
    if abs(clamped - target) > 1e-9:
        bound = high if target > high else low
        notes.append(f"the {limb.joint} stopped at its limit of {abs(bound):g}°")
    return clamped


def rotate_limb(
    person: Person, limb_name: str, degrees: float, aspect: float, notes: list[str], number: int
) -> Person:
    """Turn a limb by `degrees` (picture counter-clockwise), stopping at its joint's limit."""
    limb = LIMBS[limb_name]
    _need(person, limb, aspect, number)
    current = joint_angle(person, limb, aspect)
    applied = degrees
    if current is not None:
        s = sense(limb, view(person, aspect))
        target = _limited(person, limb, current, current + s * degrees, aspect, notes)
        applied = s * (target - current)
    return g.grow_box(turn_limb(person, limb, applied, aspect))


def set_angle(
    person: Person, limb_name: str, target: float, aspect: float, notes: list[str], number: int
) -> Person:
    """Turn a limb so its joint's anatomical angle becomes `target` (within its limits)."""
    limb = LIMBS[limb_name]
    _need(person, limb, aspect, number)
    view_ = view(person, aspect)
    current = joint_angle(person, limb, aspect, view_)
    if current is None:
        raise EditError(
            f"Person {number}'s {limb.joint} cannot be posed: the bone it is measured from"
            f" ({' to '.join(n.replace('_', ' ') for n in limb.reference or ())}) was not seen."
        )
    target = _limited(person, limb, current, target, aspect, notes, view_)
    s = sense(limb, view_)
    return g.grow_box(turn_limb(person, limb, s * (target - current), aspect))


def point_limb(
    person: Person, limb_name: str, direction: Vec, aspect: float, notes: list[str], number: int
) -> Person:
    """Turn a limb to point along `direction` (picture units), within its joint's limits."""
    limb = LIMBS[limb_name]
    _need(person, limb, aspect, number)
    reference = _reference(person, limb, aspect)
    if reference is None:
        pivot, end = _need(person, limb, aspect, number)
        angle = g.angle_between(g.sub(end, pivot), direction)
        return g.grow_box(turn_limb(person, limb, angle, aspect))
    view_ = view(person, aspect)
    low, high = limits(limb, view_)
    centre = (low + high) / 2
    target = sense(limb, view_) * g.angle_between(reference, direction)
    target = (target - centre + 180.0) % 360.0 - 180.0 + centre
    return set_angle(person, limb_name, target, aspect, notes, number)


# --- moving one joint ------------------------------------------------------------------------


def move_joint(
    person: Person, joint: str, to: Point | None, by: Point | None, number: int
) -> Person:
    """Move one body joint; a wrist carries its hand and an ankle its foot."""
    current = person.body.get(joint)  # type: ignore[call-overload]
    if by is not None and current is None:
        raise EditError(
            f"Person {number}'s {joint.replace('_', ' ')} was not seen, so it cannot be moved by"
            " an offset. Give `to` (a point) to place it."
        )
    if to is not None:
        x, y = to.x, to.y
    else:
        assert by is not None and current is not None
        x, y = current.x + by.x, current.y + by.y
    confidence = current.confidence if current is not None else 1.0
    body = dict(person.body)
    body[joint] = Keypoint(x=x, y=y, confidence=confidence)  # type: ignore[index]
    update: dict[str, object] = {"body": body}

    side = joint.split("_", 1)[0]
    if joint.endswith(("_wrist", "_ankle")):
        hand = person.hands.get(side) if joint.endswith("_wrist") else None  # type: ignore[call-overload]
        anchor = current or (hand.keypoints.get("wrist") if hand is not None else None)
        if anchor is not None:
            dx, dy = x - anchor.x, y - anchor.y

            def shift(px: float, py: float) -> tuple[float, float]:
                return px + dx, py + dy

            extra = hand_points(side) if joint.endswith("_wrist") else foot_points(side)
            for name in extra:
                kp = body.get(name)  # type: ignore[call-overload]
                if kp is not None:
                    body[name] = g.map_keypoint(kp, shift)  # type: ignore[index]
            if hand is not None:
                update["hands"] = {**person.hands, side: g.map_hand(hand, shift)}
    return g.grow_box(person.model_copy(update=update))
