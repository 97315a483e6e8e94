"""Reaching: two-bone inverse kinematics for arms (shoulder-elbow-wrist) and legs
(hip-knee-ankle), and the body-relative places a hand can be sent to.

The solver puts the end joint (wrist or ankle) on a target in the picture's plane, keeping both
bones' lengths, by the law of cosines; of the two mirror solutions (elbow one way or the other)
it keeps the one the joint limits allow that lands closest, preferring the elbow or knee on the
side given (outwards, by default). It turns the bones through `kinematics.point_limb`, so the
same limits apply as for presets and rotations, and everything beyond (the hand) moves along.
Where the target is out of reach the limb stretches towards it and `solve` says how far off it
stayed; callers tell the user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.geometry import Vec
from image_interpreter.priors.schema import Person

LimbKind = Literal["arm", "leg"]
Side = Literal["left", "right"]

BodyPart = Literal[
    "head", "face", "mouth", "neck", "chest", "belly", "back",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip

TOLERANCE = 0.01  # of the picture's diagonal: a target closer than this is reached


def chain(kind: LimbKind, side: str) -> tuple[str, str]:
    """The two limbs (proximal, distal) of an arm or a leg."""
    return (f"{side}_upper_arm", f"{side}_forearm") if kind == "arm" else (
        f"{side}_thigh", f"{side}_shin")  # fmt: skip


def end_joint(kind: LimbKind, side: str) -> str:
    return f"{side}_wrist" if kind == "arm" else f"{side}_ankle"


@dataclass(frozen=True)
class Reached:
    """A solved limb: the person after, and how far (picture units) the end joint stayed from
    its target (0 where reached)."""

    person: Person
    miss: float

    def reached(self, aspect: float) -> bool:
        return self.miss <= TOLERANCE * math.hypot(aspect, 1.0)


def _at(person: Person, joint: str, aspect: float, number: int) -> Vec:
    found = kin.point(person, joint, aspect)
    if found is None:
        raise EditError(
            f"Person {number}'s {joint.replace('_', ' ')} was not seen, so that limb cannot"
            " reach anywhere. Place it first (move_joint with `to`)."
        )
    return found


def solve(
    person: Person, kind: LimbKind, side: str, target: Vec, aspect: float, notes: list[str],
    number: int, prefer: Vec | None = None,
) -> Reached:  # fmt: skip
    """Put the arm's wrist (or the leg's ankle) on `target` (picture units). `prefer`: the
    direction the elbow or knee should stick out to when both solutions are allowed."""
    upper, lower = chain(kind, side)
    root = _at(person, kin.LIMBS[upper].pivot, aspect, number)
    mid = _at(person, kin.LIMBS[upper].end, aspect, number)
    end = _at(person, kin.LIMBS[lower].end, aspect, number)
    a, b = g.length(g.sub(mid, root)), g.length(g.sub(end, mid))
    if a == 0 or b == 0:
        raise EditError(
            f"Person {number}'s {side} {kind} has a bone of no length (two joints at the same"
            " point), so it cannot reach. Move the joints apart first (move_joint)."
        )
    reach = g.sub(target, root)
    d = g.length(reach)
    if d == 0:
        reach, d = g.sub(mid, root), 0.0
    span = min(max(d, abs(a - b) + 1e-12), a + b - 1e-12)
    bend = math.degrees(
        math.acos(min(1.0, max(-1.0, (a * a + span * span - b * b) / (2 * a * span))))
    )
    if prefer is None:
        prefer = g.sub(root, _midline(person, aspect, root))

    def pose(who: Person, s: float, tried: list[str]) -> Person:
        elbow = g.add(root, g.mul(g.unit(g.turn(reach, s * bend)), a))
        posed = kin.point_limb(who, upper, g.sub(elbow, root), aspect, tried, number)
        mid_now = _at(posed, kin.LIMBS[upper].end, aspect, number)
        return kin.point_limb(posed, lower, g.sub(target, mid_now), aspect, tried, number)

    # both elbow solutions tried on the bare body (cheap), the better one posed in full
    bare = person.model_copy(update={"hands": {}, "face": None})
    best: tuple[float, float, float] | None = None
    for s in (1.0, -1.0):
        posed = pose(bare, s, [])
        miss = g.length(g.sub(_at(posed, kin.LIMBS[lower].end, aspect, number), target))
        outward = g.dot(g.sub(_at(posed, kin.LIMBS[upper].end, aspect, number), root), prefer)
        if best is None or (round(miss, 9), -outward) < best[:2]:
            best = (round(miss, 9), -outward, s)
    assert best is not None
    tried: list[str] = []
    posed = pose(person, best[2], tried)
    notes.extend(n for n in tried if n not in notes)
    miss = g.length(g.sub(_at(posed, kin.LIMBS[lower].end, aspect, number), target))
    return Reached(posed, miss)


def _midline(person: Person, aspect: float, fallback: Vec) -> Vec:
    """A point on the body's midline at the neck (for 'outwards')."""
    neck = kin.point(person, "neck", aspect)
    if neck is not None:
        return neck
    hips = [p for s in ("left", "right") if (p := kin.point(person, f"{s}_hip", aspect))]
    return g.mul(g.add(*hips), 0.5) if len(hips) == 2 else fallback


# --- where body parts are --------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A body's axes in the picture: `up` along the torso, `left` towards the subject's own
    left (its facing direction, in profile), and the sizes poses are scaled by."""

    neck: Vec
    hips: Vec
    up: Vec
    left: Vec
    torso: float
    head: Vec
    head_radius: float
    view: kin.View


def frame(person: Person, aspect: float, number: int) -> Frame:
    """The body's frame; needs a neck or shoulders, and takes sensible sizes for what is
    missing (hips below the neck, a head above it)."""
    view = kin.view(person, aspect)
    down = kin.torso_down(person, aspect)
    up = g.mul(down, -1.0)
    neck = kin.point(person, "neck", aspect)
    shoulders = [kin.point(person, f"{s}_shoulder", aspect) for s in ("left", "right")]
    if neck is None and all(p is not None for p in shoulders):
        neck = g.mid(shoulders[0], shoulders[1])  # type: ignore[arg-type]
    if neck is None:
        raise EditError(
            f"Person {number}'s neck and shoulders were not seen, so there is no body to reach"
            " to. Place them first (move_joint with `to`)."
        )
    torso = kin.torso_length(person, aspect)
    if torso is None:
        width = (
            g.length(g.sub(shoulders[0], shoulders[1]))  # type: ignore[arg-type]
            if all(p is not None for p in shoulders)
            else 0.1
        )
        torso = 1.6 * width or 0.1
    hips = g.add(neck, g.mul(down, torso))
    across = g.turn(down, 90.0)  # the picture's right of a body standing upright
    if view == "camera":
        left = across
    elif view == "away":
        left = g.mul(across, -1.0)
    else:
        left = across if view == "right" else g.mul(across, -1.0)
    heads = [p for n in kin.HEAD_POINTS if (p := kin.point(person, n, aspect)) is not None]
    if person.face is not None:
        heads.extend(g.pic(kp, aspect) for kp in person.face.landmarks.values())
    if heads:
        head = (sum(p[0] for p in heads) / len(heads), sum(p[1] for p in heads) / len(heads))
        radius = max(0.12 * torso, max(g.length(g.sub(p, head)) for p in heads))
    else:
        radius = 0.15 * torso
        head = g.add(neck, g.mul(up, 1.2 * radius))
    return Frame(neck, hips, up, left, torso, head, radius, view)


def body_target(person: Person, part: BodyPart, side: str, aspect: float, number: int) -> Vec:
    """Where a hand (the subject's `side`) goes to touch `part`: on top of the head, in front of
    the face, on the chest, behind the back at the waist, on a joint..."""
    f = frame(person, aspect, number)
    toward = g.mul(f.left, 1.0 if side == "left" else -1.0)
    if part == "head":
        return g.add(
            f.head, g.add(g.mul(f.up, 0.8 * f.head_radius), g.mul(toward, 0.4 * f.head_radius))
        )
    if part == "face":
        nose = kin.point(person, "nose", aspect)
        return nose if nose is not None else f.head
    if part == "mouth":
        nose = kin.point(person, "nose", aspect) or f.head
        return g.add(nose, g.mul(f.up, -0.35 * f.head_radius))
    if part == "neck":
        return f.neck
    if part == "chest":
        return g.add(f.neck, g.mul(f.up, -0.3 * f.torso))
    if part == "belly":
        return g.add(f.neck, g.mul(f.up, -0.65 * f.torso))
    if part == "back":
        return g.add(f.neck, g.mul(f.up, -0.8 * f.torso))
    joint = _at(person, part, aspect, number)
    if part.endswith("_hip"):  # the hand rests on the hip bone, at the waist above the joint
        return g.add(joint, g.mul(f.up, 0.2 * f.torso))
    return joint
