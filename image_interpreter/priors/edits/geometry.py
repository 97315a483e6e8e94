"""Plane geometry for edits: vectors in picture units, rotations, and mapping every point of a
person at once.

Picture units are (x * aspect, y): lengths in image heights, so a rotation here is a rotation
as the user sees it (in normalised coordinates it would shear a non-square picture)."""

from __future__ import annotations

import math
from collections.abc import Callable

from image_interpreter.priors.schema import Box, Face, Hand, Keypoint, Person

Vec = tuple[float, float]
PointMap = Callable[[float, float], tuple[float, float]]


def add(a: Vec, b: Vec) -> Vec:
    return (a[0] + b[0], a[1] + b[1])


def sub(a: Vec, b: Vec) -> Vec:
    return (a[0] - b[0], a[1] - b[1])


def mul(a: Vec, k: float) -> Vec:
    return (a[0] * k, a[1] * k)


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1]


def length(a: Vec) -> float:
    return math.hypot(a[0], a[1])


def unit(a: Vec) -> Vec:
    n = length(a)
    return (a[0] / n, a[1] / n) if n > 0 else (0.0, 0.0)


def mid(a: Vec, b: Vec) -> Vec:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def turn(v: Vec, degrees: float) -> Vec:
    """`v` turned counter-clockwise as seen in the picture (y points down)."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return (v[0] * c + v[1] * s, -v[0] * s + v[1] * c)


def rotate_about(p: Vec, pivot: Vec, degrees: float) -> Vec:
    return add(pivot, turn(sub(p, pivot), degrees))


def angle_between(a: Vec, b: Vec) -> float:
    """Degrees from `a` to `b`, counter-clockwise as seen in the picture, in (-180, 180]."""
    cross = a[0] * b[1] - a[1] * b[0]
    return -math.degrees(math.atan2(cross, dot(a, b)))


def cross(a: Vec, b: Vec) -> float:
    """Positive when `b` lies clockwise of `a` as seen in the picture."""
    return a[0] * b[1] - a[1] * b[0]


# --- keypoints in picture units ---------------------------------------------------------------


def pic(kp: Keypoint, aspect: float) -> Vec:
    return (kp.x * aspect, kp.y)


def moved(kp: Keypoint, p: Vec, aspect: float) -> Keypoint:
    """`kp` at picture-unit position `p`, its confidence kept."""
    return Keypoint(x=p[0] / aspect, y=p[1], confidence=kp.confidence)


def map_keypoint(kp: Keypoint, fn: PointMap) -> Keypoint:
    x, y = fn(kp.x, kp.y)
    return Keypoint(x=x, y=y, confidence=kp.confidence)


def map_hand(hand: Hand, fn: PointMap) -> Hand:
    keypoints = {name: map_keypoint(kp, fn) for name, kp in hand.keypoints.items()}
    return hand.model_copy(update={"keypoints": keypoints})


def map_face(face: Face, fn: PointMap) -> Face:
    landmarks = {name: map_keypoint(kp, fn) for name, kp in face.landmarks.items()}
    return face.model_copy(update={"landmarks": landmarks})


def map_person(person: Person, fn: PointMap) -> Person:
    """Every keypoint of `person` (body, hands, face) through `fn`, in normalised coordinates;
    the box is left to the caller."""
    return person.model_copy(
        update={
            "body": {name: map_keypoint(kp, fn) for name, kp in person.body.items()},
            "hands": {side: map_hand(hand, fn) for side, hand in person.hands.items()},
            "face": map_face(person.face, fn) if person.face is not None else None,
        }
    )


def all_keypoints(person: Person) -> list[Keypoint]:
    points = list(person.body.values())
    for hand in person.hands.values():
        points.extend(hand.keypoints.values())
    if person.face is not None:
        points.extend(person.face.landmarks.values())
    return points


def bounds(person: Person) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of every keypoint, normalised; None for a person with none."""
    points = all_keypoints(person)
    if not points:
        return None
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def extent(person: Person) -> tuple[float, float, float, float] | None:
    """The person's box if known, else their keypoints' bounds."""
    if person.box is not None:
        b = person.box
        return b.x0, b.y0, b.x1, b.y1
    return bounds(person)


def clip_box(x0: float, y0: float, x1: float, y1: float) -> Box | None:
    """The part of a box inside the picture; None when nothing of it is."""
    if x1 <= 0 or y1 <= 0 or x0 >= 1 or y0 >= 1:
        return None
    return Box(x0=max(0.0, x0), y0=max(0.0, y0), x1=min(1.0, x1), y1=min(1.0, y1))


def in_picture(person: Person) -> bool:
    if person.box is not None:
        return True
    return any(0 <= p.x <= 1 and 0 <= p.y <= 1 for p in all_keypoints(person))


BOX_MARGIN = 0.01


def grow_box(person: Person) -> Person:
    """After a pose change, widen the box (never shrink it) to hold every keypoint: a raised
    arm must stay inside its person's box."""
    box, found = person.box, bounds(person)
    if box is None or found is None:
        return person
    m = BOX_MARGIN
    grown = clip_box(
        min(box.x0, found[0] - m),
        min(box.y0, found[1] - m),
        max(box.x1, found[2] + m),
        max(box.y1, found[3] + m),
    )
    if grown is None or grown == box:
        return person
    return person.model_copy(update={"box": grown})
