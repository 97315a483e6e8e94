"""Named pose presets ("raise the left arm", "hands on hips"), registered where defined.

Each preset sets target joint angles (see `kinematics`) for one side, so it respects the same
anatomical limits, keeps bone lengths, and carries hands along like any rotation."""

from __future__ import annotations

import math
from collections.abc import Callable

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import bodies
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.schema import Person


class Pose:
    """What a preset works with: the person so far, and the context to pose them in."""

    def __init__(self, person: Person, aspect: float, notes: list[str], number: int) -> None:
        self.person, self.aspect, self.notes, self.number = person, aspect, notes, number

    def angle(self, limb: str) -> float | None:
        return kin.joint_angle(self.person, kin.LIMBS[limb], self.aspect)

    def set(self, limb: str, target: float) -> None:
        self.person = kin.set_angle(self.person, limb, target, self.aspect, self.notes, self.number)

    def turn(self, limb: str, degrees: float) -> None:
        self.person = kin.rotate_limb(
            self.person, limb, degrees, self.aspect, self.notes, self.number
        )

    def point(self, limb: str, direction: g.Vec) -> None:
        self.person = kin.point_limb(
            self.person, limb, direction, self.aspect, self.notes, self.number
        )

    def at(self, joint: str) -> g.Vec:
        found = kin.point(self.person, joint, self.aspect)
        if found is None:
            raise EditError(
                f"Person {self.number}'s {joint.replace('_', ' ')} was not seen, so this pose"
                " cannot be placed. Place it first (move_joint with `to`)."
            )
        return found

    @property
    def view(self) -> kin.View:
        return kin.view(self.person, self.aspect)

    @property
    def frontal(self) -> bool:
        return self.view in ("camera", "away")


PresetFn = Callable[[Pose, str, "float | None"], None]

# Parts whose presets pose the whole part at once (a squat, a jump, a head turn), given the side
# as said; the presets of other parts run once per side ("both": left, then right).
WHOLE_PARTS = frozenset({"legs", "body", "torso", "head"})
PRESETS: dict[str, tuple[str, PresetFn]] = {}  # name -> (body part, function(pose, side, amount))
SummaryFn = Callable[[str, str, "float | None"], str]
SUMMARIES: dict[str, SummaryFn] = {}  # name -> (whose, side, amount) -> the past-tense sentence


def preset(name: str, part: str) -> Callable[[PresetFn], PresetFn]:
    def register(fn: PresetFn) -> PresetFn:
        PRESETS[name] = (part, fn)
        return fn

    return register


def _arm(pose: Pose, side: str, shoulder: float, elbow: float) -> None:
    pose.set(f"{side}_upper_arm", shoulder)
    pose.set(f"{side}_forearm", elbow)


@preset("raise_arm", "arm")
def raise_arm(pose: Pose, side: str, amount: float | None) -> None:
    """Straight arm pointing `amount`° above horizontal; by default 45°, or 30° higher than it
    already points (up to straight up), so the wrist always ends higher than it was."""
    before = pose.at(f"{side}_wrist")[1]
    current = pose.angle(f"{side}_upper_arm")
    elevation = amount
    if elevation is None:
        now = (current if current is not None else 0.0) - 90.0
        elevation = 45.0 if now < 44.0 else min(now + 30.0, 90.0)
    _arm(pose, side, 90.0 + elevation, 0.0)
    if amount is None and pose.at(f"{side}_wrist")[1] >= before - 1e-9:
        _arm(pose, side, 180.0, 0.0)


@preset("lower_arm", "arm")
def lower_arm(pose: Pose, side: str, amount: float | None) -> None:
    """Arm hanging straight down, a little away from the body when seen from the front."""
    _arm(pose, side, 8.0 if pose.frontal else 0.0, 0.0)


def _head_top(pose: Pose) -> float:
    """The highest point of the head (smallest y) known: face landmarks, eyes, ears, nose."""
    ys = [kp.y for name, kp in pose.person.body.items() if name in kin.HEAD_POINTS]
    if pose.person.face is not None:
        ys.extend(kp.y for kp in pose.person.face.landmarks.values())
    return min(ys) if ys else pose.at("neck")[1]


@preset("arm_over_head", "arm")
def arm_over_head(pose: Pose, side: str, amount: float | None) -> None:
    """Upper arm up, forearm folded over the head, the wrist above its top; a straight arm up
    where the arm is too short for that."""
    _arm(pose, side, 165.0, 60.0)
    if pose.at(f"{side}_wrist")[1] >= _head_top(pose):
        _arm(pose, side, 180.0, 0.0)


@preset("arm_out", "arm")
def arm_out(pose: Pose, side: str, amount: float | None) -> None:
    """Straight arm, horizontal, out to the side (forwards, in profile)."""
    _arm(pose, side, 90.0, 0.0)


def _bend(current: float | None, amount: float | None) -> float:
    size = abs(current or 0.0)
    if amount is not None:
        return amount
    return 90.0 if size < 89.0 else min(size + 45.0, 160.0)


@preset("bend_elbow", "arm")
def bend_elbow(pose: Pose, side: str, amount: float | None) -> None:
    """Elbow flexed `amount`° (default 90, or 45° more if already bent that far). Seen from the
    front, it folds the way it already bends; a straight arm folds up if raised, else across."""
    current = pose.angle(f"{side}_forearm") or 0.0
    sign = 1.0
    if pose.frontal:
        if abs(current) > 5.0:
            sign = math.copysign(1.0, current)
        elif (pose.angle(f"{side}_upper_arm") or 0.0) < 60.0:
            sign = -1.0
    pose.set(f"{side}_forearm", sign * _bend(current, amount))


@preset("straighten_elbow", "arm")
def straighten_elbow(pose: Pose, side: str, amount: float | None) -> None:
    pose.set(f"{side}_forearm", 0.0)


@preset("hands_on_hips", "arm")
def hands_on_hips(pose: Pose, side: str, amount: float | None) -> None:
    """Wrist at the waist just above the hip, elbow out to the side (behind, in profile)."""
    shoulder, hip = pose.at(f"{side}_shoulder"), pose.at(f"{side}_hip")
    elbow, wrist = pose.at(f"{side}_elbow"), pose.at(f"{side}_wrist")
    torso = kin.torso_length(pose.person, pose.aspect) or g.length(g.sub(hip, shoulder))
    down = kin.torso_down(pose.person, pose.aspect)
    other = kin.point(pose.person, f"{'right' if side == 'left' else 'left'}_hip", pose.aspect)
    out = g.unit(g.sub(hip, other)) if other is not None else (0.0, 0.0)
    target = g.add(hip, g.add(g.mul(down, -0.25 * torso), g.mul(out, 0.1 * torso)))
    upper, fore = g.length(g.sub(elbow, shoulder)), g.length(g.sub(wrist, elbow))
    if upper == 0 or fore == 0:
        raise EditError(
            f"Person {pose.number}'s {side} arm has a bone of no length (two joints at the same"
            " point), so it cannot reach the hip. Move the joints apart first (move_joint)."
        )
    reach = g.sub(target, shoulder)
    d = min(max(g.length(reach), abs(upper - fore) + 1e-9), upper + fore - 1e-9)
    cos_a = (upper**2 + d**2 - fore**2) / (2 * upper * d)
    a = math.degrees(math.acos(min(1.0, max(-1.0, cos_a))))
    candidates = [g.add(shoulder, g.mul(g.unit(g.turn(reach, s * a)), upper)) for s in (1, -1)]
    if pose.frontal:
        centre = g.mid(hip, other) if other is not None else hip
        new_elbow = max(candidates, key=lambda e: abs(g.dot(g.sub(e, centre), out or (1, 0))))
    else:
        facing = 1.0 if pose.view == "right" else -1.0
        new_elbow = min(candidates, key=lambda e: facing * e[0])
    pose.point(f"{side}_upper_arm", g.sub(new_elbow, shoulder))
    pose.point(f"{side}_forearm", g.sub(target, pose.at(f"{side}_elbow")))


@preset("wave", "arm")
def wave(pose: Pose, side: str, amount: float | None) -> None:
    """Upper arm out to the side, forearm straight up."""
    _arm(pose, side, 90.0, 90.0)


def _knee(pose: Pose, side: str, flexion: float) -> None:
    """Flex a knee, turning the thigh out (forwards, in profile) by half the change so the foot
    stays under the hip, as in a squat; then put the lowest foot back on the ground."""
    ground = _ground(pose)
    change = flexion - (pose.angle(f"{side}_shin") or 0.0)
    hip = pose.angle(f"{side}_thigh")
    if hip is not None:
        pose.set(f"{side}_thigh", hip + change / 2)
    pose.set(f"{side}_shin", flexion)
    after = _ground(pose)
    if ground is not None and after is not None and after != ground:
        pose.person = bodies.translate(pose.person, 0.0, ground - after, pose.number)


def _ground(pose: Pose) -> float | None:
    """The y of the lowest foot point: where the person stands."""
    feet = [
        kp.y
        for s in ("left", "right")
        for name in (f"{s}_ankle", *kin.foot_points(s))
        if (kp := pose.person.body.get(name)) is not None  # type: ignore[call-overload]
    ]
    return max(feet) if feet else None


@preset("bend_knee", "leg")
def bend_knee(pose: Pose, side: str, amount: float | None) -> None:
    """Knee flexed `amount`° (default 90, or 45° more if already bent that far), the thigh
    turned out by half as much; feet stay on the ground (both knees bent: a squat)."""
    _knee(pose, side, _bend(pose.angle(f"{side}_shin"), amount))


@preset("straighten_knee", "leg")
def straighten_knee(pose: Pose, side: str, amount: float | None) -> None:
    """Straight leg; undoes bend_knee exactly when no limit was reached."""
    _knee(pose, side, 0.0)


@preset("tilt_head", "head")
def tilt_head(pose: Pose, side: str, amount: float | None) -> None:
    """Head tilted `amount`° (default 15) towards `side`'s shoulder; negative tilts away."""
    degrees = 15.0 if amount is None else amount
    neck = pose.at("neck")
    head = kin.end_point(pose.person, kin.LIMBS["head"], pose.aspect)
    shoulder = kin.point(pose.person, f"{side}_shoulder", pose.aspect)
    towards = 0.0
    if head is not None and shoulder is not None:
        towards = g.angle_between(g.sub(head, neck), g.sub(shoulder, neck))
    if abs(towards) < 1.0 or abs(towards) > 179.0:
        towards = -kin.outward(pose.view, side)
    pose.turn("head", math.copysign(1.0, towards) * degrees)


def pose_preset(
    person: Person, name: str, side: str, amount: float | None, aspect: float, notes: list[str],
    number: int,
) -> Person:  # fmt: skip
    """`person` with preset `name` applied to `side` ("left", "right" or "both")."""
    part, fn = PRESETS[name]
    pose = Pose(person, aspect, notes, number)
    for one in (side,) if part in WHOLE_PARTS or side != "both" else ("left", "right"):
        fn(pose, one, amount)
    return pose.person


def preset_summary(number: int, name: str, side: str, amount: float | None) -> str:
    """The sentence a user sees for a preset ("raised person 1's left arm")."""
    who, both = f"person {number}'s", side == "both"

    def limb(word: str) -> str:
        return f"{who} {word}s" if both else f"{who} {side} {word}"

    to = f" to {amount:g}°" if amount is not None else ""
    if name == "tilt_head":
        degrees = 15.0 if amount is None else amount
        towards = side if degrees >= 0 else ("right" if side == "left" else "left")
        return f"tilted {who} head {abs(degrees):g}° towards their {towards} shoulder"
    if name in SUMMARIES:
        return SUMMARIES[name](who, side, amount)
    texts = {
        "raise_arm": f"raised {limb('arm')}" + (f"{to} above horizontal" if to else ""),
        "lower_arm": f"lowered {limb('arm')}",
        "arm_over_head": f"put {limb('arm')} over their head",
        "arm_out": f"stretched {limb('arm')} out to the side" + ("s" if both else ""),
        "bend_elbow": f"bent {limb('elbow')}{to}",
        "straighten_elbow": f"straightened {limb('elbow')}",
        "bend_knee": f"bent {limb('knee')}{to}",
        "straighten_knee": f"straightened {limb('knee')}",
        "hands_on_hips": f"put {who} hands on their hips"
        if both
        else f"put {who} {side} hand on their hip",
        "wave": f"made person {number} wave with "
        + ("both hands" if both else f"their {side} hand"),
    }
    return texts[name]
