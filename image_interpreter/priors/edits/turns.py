"""Turning and leaning: the head (turn left or right, look up or down) and the torso (lean
sideways, forwards or back, bend over, turn the shoulders).

Turns of the head and shoulders treat their points as lying on an upright cylinder of a radius
fixed by the torso's length: a point at `u` across the axis sits at longitude asin(u / radius)
and moves to radius * sin(longitude + degrees). So a turn and its opposite cancel exactly, and
the face landmarks, nose, eyes and ears move together. Leaning turns the upper body rigidly
about the hips; leaning towards the camera (forwards, seen from the front) moves it along the
torso by its foreshortening instead, so limb bones keep their lengths.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import ik
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.presets import Pose, preset
from image_interpreter.priors.schema import Person

VecMap = Callable[[g.Vec], g.Vec]

ARM_POINTS = ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
UPPER_BODY = (
    "neck", *kin.HEAD_POINTS, *(f"{s}_{p}" for s in ("left", "right") for p in ARM_POINTS),
)  # fmt: skip

# --- moving parts of the body rigidly --------------------------------------------------------


def map_points(person: Person, names: tuple[str, ...], fn: g.PointMap, hands: tuple[str, ...],
         face: bool) -> Person:  # fmt: skip
    """`fn` (normalised x, y -> x, y) applied to body points `names`, `hands` and the face."""
    body = dict(person.body)
    for name in names:
        kp = body.get(name)  # type: ignore[call-overload]
        if kp is not None:
            body[name] = g.map_keypoint(kp, fn)  # type: ignore[index]
    update: dict[str, object] = {"body": body}
    moved = {s: g.map_hand(h, fn) for s, h in person.hands.items() if s in hands}
    if moved:
        update["hands"] = {**person.hands, **moved}
    if face and person.face is not None:
        update["face"] = g.map_face(person.face, fn)
    return g.grow_box(person.model_copy(update=update))


def in_picture(aspect: float, fn: VecMap) -> g.PointMap:
    """A map of picture units (x scaled by the aspect) as one of normalised coordinates."""

    def mapped(x: float, y: float) -> tuple[float, float]:
        px, py = fn((x * aspect, y))
        return px / aspect, py

    return mapped


def _upper_body(pose: Pose, fn: VecMap) -> None:
    pose.person = map_points(pose.person, UPPER_BODY, in_picture(pose.aspect, fn),
                       ("left", "right"), True)  # fmt: skip


def _cylinder(pose: Pose, names: tuple[str, ...], centre: g.Vec, axis: g.Vec, radius: float,
              degrees: float, hands: tuple[str, ...] = (), face: bool = False,
              carry: dict[str, tuple[str, ...]] | None = None) -> None:  # fmt: skip
    """Turn points lying on a cylinder (through `centre`, radius `radius`) about its axis:
    a point `u` across the axis sits at longitude asin(u / radius) and moves to
    radius * sin(longitude + degrees). `carry`: point -> the points that move with it."""
    across = g.turn(axis, -90.0)  # the picture's right of an upright axis

    def shifted(p: g.Vec) -> float:
        u = g.dot(g.sub(p, centre), across)
        longitude = math.asin(max(-1.0, min(1.0, u / radius)))
        return (
            radius
            * math.sin(max(-math.pi / 2, min(math.pi / 2, longitude + math.radians(degrees))))
            - u
        )

    moves: dict[str, g.Vec] = {}
    for name in names:
        p = kin.point(pose.person, name, pose.aspect)
        if p is not None:
            moves[name] = g.mul(across, shifted(p))
    body = dict(pose.person.body)
    for name, by in moves.items():
        for each in (name, *(carry or {}).get(name, ())):
            kp = body.get(each)  # type: ignore[call-overload]
            if kp is not None:
                body[each] = g.moved(kp, g.add(g.pic(kp, pose.aspect), by), pose.aspect)  # type: ignore[index]
    person = pose.person.model_copy(update={"body": body})
    if face and person.face is not None:
        landmarks = {
            n: g.moved(
                kp,
                g.add(g.pic(kp, pose.aspect), g.mul(across, shifted(g.pic(kp, pose.aspect)))),
                pose.aspect,
            )
            for n, kp in person.face.landmarks.items()
        }
        person = person.model_copy(
            update={"face": person.face.model_copy(update={"landmarks": landmarks})}
        )
    for side in hands:
        hand, joint = person.hands.get(side), f"{side}_shoulder"  # type: ignore[call-overload]
        if hand is not None and joint in moves:
            by = moves[joint]
            person = person.model_copy(update={"hands": {**person.hands, side: g.map_hand(
                hand, in_picture(pose.aspect, lambda p, by=by: g.add(p, by)))}})  # fmt: skip
    pose.person = g.grow_box(person)


def toward(f: ik.Frame, side: str) -> g.Vec:
    """The picture direction of the subject's own `side` (forwards, in profile)."""
    return f.left if side == "left" else g.mul(f.left, -1.0)


# --- head ------------------------------------------------------------------------------------


def _head_turn(pose: Pose, degrees: float, vertical: bool) -> None:
    f = ik.frame(pose.person, pose.aspect, pose.number)
    radius = 0.25 * f.torso
    axis = f.up if not vertical else g.turn(f.up, -90.0)
    centre = g.add(f.neck, g.mul(f.up, radius))
    _cylinder(pose, kin.HEAD_POINTS, centre, axis, radius, degrees, face=True)


@preset("turn_head", "head")
def turn_head(pose: Pose, side: str, amount: float | None) -> None:
    """Head turned `amount`° (default 30) towards the subject's `side`: nose, eyes, ears and
    face landmarks slide that way around the head."""
    degrees = 30.0 if amount is None else amount
    f = ik.frame(pose.person, pose.aspect, pose.number)
    right = g.turn(f.up, -90.0)
    toward_left = 1.0 if g.dot(f.left, right) >= 0 else -1.0
    _head_turn(pose, degrees * (toward_left if side == "left" else -toward_left), False)


@preset("look_up", "head")
def look_up(pose: Pose, side: str, amount: float | None) -> None:
    """Face raised `amount`° (default 20): the face's points move up the head."""
    _head_turn(pose, -(20.0 if amount is None else amount), True)


@preset("look_down", "head")
def look_down(pose: Pose, side: str, amount: float | None) -> None:
    """Face lowered `amount`° (default 20; a nod is 15)."""
    _head_turn(pose, 20.0 if amount is None else amount, True)


# --- torso -----------------------------------------------------------------------------------


@preset("lean", "torso")
def lean(pose: Pose, side: str, amount: float | None) -> None:
    """The upper body leaned `amount`° (default 15) towards the subject's `side`, about the
    hips. In profile that is towards or away from the camera, which the picture cannot show."""
    if not pose.frontal:
        pose.notes.append("seen in profile, leaning sideways is towards the camera: not drawn")
        return
    f = ik.frame(pose.person, pose.aspect, pose.number)
    degrees = 15.0 if amount is None else amount
    # a counter-clockwise turn moves the top towards turn(up, 90)
    sign = 1.0 if g.dot(toward(f, side), g.turn(f.up, 90.0)) > 0 else -1.0
    _upper_body(pose, lambda p: g.rotate_about(p, f.hips, sign * degrees))


def _pitch(pose: Pose, degrees: float) -> None:
    """Lean forwards (+) or back (-): a turn about the hips in profile; from the front the upper
    body moves along the torso by its foreshortening (cos), so forward and back cancel."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    if pose.frontal:
        factor = math.cos(math.radians(abs(degrees)))
        shrink = (1.0 - factor) if degrees > 0 else (1.0 - 1.0 / factor)
        by = g.mul(f.up, -shrink * g.length(g.sub(f.neck, f.hips)))
        _upper_body(pose, lambda p: g.add(p, by))
        return
    turn = degrees if g.dot(f.left, g.turn(f.up, 90.0)) > 0 else -degrees  # towards the face
    _upper_body(pose, lambda p: g.rotate_about(p, f.hips, turn))


@preset("lean_forward", "torso")
def lean_forward(pose: Pose, side: str, amount: float | None) -> None:
    """Upper body leaned `amount`° (default 20) forwards at the hips."""
    _pitch(pose, 20.0 if amount is None else amount)


@preset("lean_back", "torso")
def lean_back(pose: Pose, side: str, amount: float | None) -> None:
    """Upper body leaned `amount`° (default 15) back at the hips."""
    _pitch(pose, -(15.0 if amount is None else amount))


@preset("bend_over", "torso")
def bend_over(pose: Pose, side: str, amount: float | None) -> None:
    """Bent over at the waist, 70° forwards."""
    _pitch(pose, 70.0)


@preset("turn_shoulders", "torso")
def turn_shoulders(pose: Pose, side: str, amount: float | None) -> None:
    """Shoulders (and the arms with them) turned `amount`° (default 30) towards the subject's
    `side` about the spine; the hips stay."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    degrees = 30.0 if amount is None else amount
    right = g.turn(f.up, -90.0)
    toward_left = 1.0 if g.dot(f.left, right) >= 0 else -1.0
    sign = toward_left if side == "left" else -toward_left
    carry = {f"{s}_shoulder": tuple(f"{s}_{p}" for p in ARM_POINTS[1:]) for s in ("left", "right")}
    _cylinder(pose, ("left_shoulder", "right_shoulder"), f.neck, f.up, 0.4 * f.torso,
              sign * degrees, hands=("left", "right"), carry=carry)  # fmt: skip
