"""More of the body as presets: legs (raise, kick, step, cross, kneel, sit, squat, stand) and
whole-body poses (jump, walk, run, arms crossed, hands behind the head, shrug, clap, hug); the
head and torso are in `turns`.

Each works in the view the person is seen from: joint angles are anatomical (`kinematics`), so a
raised leg is a forward flexion in profile and a lift out to the side from the front, within the
same limits, and limb bones keep their lengths in the picture. Hands go where a pose puts them
by two-bone IK (`ik`). Feet stay on the ground unless the pose leaves it (a jump).
"""

from __future__ import annotations

from collections.abc import Callable

from image_interpreter.priors.edits import bodies, ik
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.presets import SUMMARIES, Pose, preset
from image_interpreter.priors.edits.turns import ARM_POINTS, in_picture, map_points, toward


def _ground(pose: Pose, support: tuple[str, ...] = ()) -> float | None:
    names = [n for s in ("left", "right") for n in (f"{s}_ankle", *kin.foot_points(s))]
    names += [f"{s}_{p}" for s in ("left", "right") for p in support]
    ys = [kp.y for n in names if (kp := pose.person.body.get(n)) is not None]  # type: ignore[call-overload]
    return max(ys) if ys else None


def _keep_ground(pose: Pose, before: float | None, support: tuple[str, ...] = (),
                 lift: float = 0.0) -> None:  # fmt: skip
    """Move the person so their lowest foot (or `support` point: knees) is where the lowest foot
    was, less `lift` (a jump)."""
    after = _ground(pose, support)
    if before is not None and after is not None and abs(after - before + lift) > 1e-12:
        pose.person = bodies.translate(pose.person, 0.0, before - lift - after, pose.number)


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _sides(side: str) -> tuple[str, ...]:
    return ("left", "right") if side == "both" else (side,)


def _legs(thigh: float, shin: float) -> dict[str, float]:
    """Both legs at the same hip and knee angles."""
    return {
        f"{s}_{limb}": a
        for s in ("left", "right")
        for limb, a in (("thigh", thigh), ("shin", shin))
    }


def _angles(pose: Pose, frontal: dict[str, float], profile: dict[str, float]) -> None:
    for limb, angle in (frontal if pose.frontal else profile).items():
        pose.set(limb, angle)


# --- legs ------------------------------------------------------------------------------------


@preset("raise_leg", "leg")
def raise_leg(pose: Pose, side: str, amount: float | None) -> None:
    """Leg raised at the hip `amount`° (default 60 in profile, forwards; 45 seen from the front,
    out to the side), knee bent so the shin hangs down; the other foot stays on the ground."""
    hip = amount
    if hip is None:  # the default, or higher than it already is ('raise the leg more')
        default, now = (45.0 if pose.frontal else 60.0), pose.angle(f"{side}_thigh") or 0.0
        hip = default if now < default - 5.0 else min(now + 30.0, 120.0)
    knee = min(hip, 160.0) if pose.frontal else min(hip + 10.0, 160.0)
    pose.set(f"{side}_thigh", hip)
    pose.set(f"{side}_shin", knee)


@preset("lower_leg", "leg")
def lower_leg(pose: Pose, side: str, amount: float | None) -> None:
    """The leg straight down again (the opposite of raise_leg, kick and step_forward)."""
    pose.set(f"{side}_thigh", 0.0)
    pose.set(f"{side}_shin", 0.0)


@preset("kick", "leg")
def kick(pose: Pose, side: str, amount: float | None) -> None:
    """A straight leg kicked forwards `amount`° (default 80; 60 out to the side, seen from the
    front)."""
    pose.set(f"{side}_shin", 0.0)
    pose.set(f"{side}_thigh", amount if amount is not None else (60.0 if pose.frontal else 80.0))


@preset("kick_side", "leg")
def kick_side(pose: Pose, side: str, amount: float | None) -> None:
    """A straight leg kicked out sideways."""
    pose.set(f"{side}_shin", 0.0)
    pose.set(f"{side}_thigh", 50.0 if pose.frontal else 45.0)


@preset("step_forward", "leg")
def step_forward(pose: Pose, side: str, amount: float | None) -> None:
    """One foot a step ahead, its knee a little bent, the other leg behind."""
    ground = _ground(pose)
    if pose.frontal:
        _angles(pose, {f"{side}_thigh": 8.0, f"{side}_shin": 15.0}, {})
    else:
        behind = _other(side)
        _angles(pose, {}, {f"{side}_thigh": 25.0, f"{side}_shin": 10.0,
                           f"{behind}_thigh": -15.0, f"{behind}_shin": 0.0})  # fmt: skip
    _keep_ground(pose, ground)


@preset("cross_legs", "legs")
def cross_legs(pose: Pose, side: str, amount: float | None) -> None:
    """Standing with the ankles crossed (the thighs turned in)."""
    ground = _ground(pose)
    for s in ("left", "right"):
        pose.set(f"{s}_shin", 0.0)
        pose.set(f"{s}_thigh", -12.0 if pose.frontal else (5.0 if s == "left" else -5.0))
    _keep_ground(pose, ground)


@preset("kneel", "legs")
def kneel(pose: Pose, side: str, amount: float | None) -> None:
    """On both knees, or on one (`side`) with the other foot forward; knees on the ground."""
    ground = _ground(pose)
    for s in _sides(side):
        pose.set(f"{s}_thigh", 0.0)
        pose.set(f"{s}_shin", 150.0 if pose.frontal else 90.0)
    if side != "both":
        pose.set(f"{_other(side)}_thigh", 30.0 if pose.frontal else 90.0)
        pose.set(f"{_other(side)}_shin", 60.0 if pose.frontal else 90.0)
    _keep_ground(pose, ground, support=("knee",))


@preset("sit", "legs")
def sit(pose: Pose, side: str, amount: float | None) -> None:
    """Sitting on a chair: thighs level and shins down in profile (from the front, knees apart
    and bent), the body lowered so the feet stay on the ground."""
    ground = _ground(pose)
    _angles(pose, _legs(20.0, 20.0),
            _legs(90.0, 90.0))  # fmt: skip
    _keep_ground(pose, ground)


@preset("squat", "legs")
def squat(pose: Pose, side: str, amount: float | None) -> None:
    """A deep squat: knees far bent and apart, feet on the ground."""
    ground = _ground(pose)
    _angles(pose, _legs(40.0, 80.0),
            _legs(110.0, 130.0))  # fmt: skip
    _keep_ground(pose, ground)


@preset("stand", "legs")
def stand(pose: Pose, side: str, amount: float | None) -> None:
    """Standing on straight legs (the opposite of sit, kneel and squat), feet on the ground."""
    ground = _ground(pose, support=("knee",))
    for s in ("left", "right"):
        pose.set(f"{s}_thigh", 0.0)
        pose.set(f"{s}_shin", 0.0)
    _keep_ground(pose, ground)


# --- whole body ------------------------------------------------------------------------------


def _reach(pose: Pose, side: str, target: g.Vec, prefer: g.Vec | None = None) -> None:
    reached = ik.solve(pose.person, "arm", side, target, pose.aspect, pose.notes, pose.number,
                       prefer)  # fmt: skip
    if not reached.reached(pose.aspect):
        pose.notes.append(f"the {side} hand could not quite get there")
    pose.person = reached.person


@preset("jump", "body")
def jump(pose: Pose, side: str, amount: float | None) -> None:
    """In the air: arms up, knees tucked, the feet off the ground by a quarter of the torso."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    ground = _ground(pose)
    for s in ("left", "right"):
        pose.set(f"{s}_upper_arm", 150.0)
        pose.set(f"{s}_forearm", 0.0)
    _angles(pose, _legs(20.0, 40.0),
            _legs(40.0, 70.0))  # fmt: skip
    _keep_ground(pose, ground, lift=0.25 * f.torso)


def _gait(pose: Pose, frontal: dict[str, float], profile: dict[str, float]) -> None:
    ground = _ground(pose)
    _angles(pose, frontal, profile)
    _keep_ground(pose, ground)


@preset("walk", "body")
def walk(pose: Pose, side: str, amount: float | None) -> None:
    """Mid-stride: the left leg ahead, the right arm swung forward."""
    _gait(pose, {"left_thigh": 3.0, "left_shin": 15.0, "right_thigh": 0.0, "right_shin": 0.0,
                 "left_upper_arm": 8.0, "right_upper_arm": 8.0,
                 "left_forearm": 10.0, "right_forearm": 10.0},
          {"left_thigh": 20.0, "left_shin": 5.0, "right_thigh": -15.0, "right_shin": 15.0,
           "left_upper_arm": -20.0, "right_upper_arm": 20.0,
           "left_forearm": 15.0, "right_forearm": 15.0})  # fmt: skip


@preset("run", "body")
def run(pose: Pose, side: str, amount: float | None) -> None:
    """Running: the left knee driven up, the right leg pushing off, elbows bent at 90°."""
    _gait(pose, {"left_thigh": 10.0, "left_shin": 50.0, "right_thigh": 0.0, "right_shin": 10.0,
                 "left_upper_arm": 20.0, "right_upper_arm": 20.0,
                 "left_forearm": 90.0, "right_forearm": 90.0},
          {"left_thigh": 50.0, "left_shin": 60.0, "right_thigh": -25.0, "right_shin": 80.0,
           "left_upper_arm": -40.0, "right_upper_arm": 40.0,
           "left_forearm": 90.0, "right_forearm": 90.0})  # fmt: skip


@preset("cross_arms", "body")
def cross_arms(pose: Pose, side: str, amount: float | None) -> None:
    """Arms folded across the chest, each hand at the other side."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    chest = g.add(f.neck, g.mul(f.up, -0.4 * f.torso))
    for s in ("left", "right"):
        if pose.frontal:  # each hand over on the other side of the chest
            target = g.add(chest, g.mul(toward(f, _other(s)), 0.3 * f.torso))
        else:  # both hands in front of the chest
            target = g.add(chest, g.mul(f.left, 0.25 * f.torso))
        _reach(pose, s, target)


@preset("hands_behind_head", "body")
def hands_behind_head(pose: Pose, side: str, amount: float | None) -> None:
    """Both hands behind the head, elbows out and up."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    for s in ("left", "right"):
        way = toward(f, s) if pose.frontal else g.mul(f.left, -1.0)
        target = g.add(
            f.head, g.add(g.mul(way, 0.5 * f.head_radius), g.mul(f.up, 0.2 * f.head_radius))
        )
        _reach(pose, s, target, prefer=g.add(way, f.up))


@preset("shrug", "body")
def shrug(pose: Pose, side: str, amount: float | None) -> None:
    """Shoulders up, forearms out to the sides, palms up."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    by = g.mul(f.up, 0.08 * f.torso)
    names = tuple(f"{s}_{p}" for s in ("left", "right") for p in ARM_POINTS)
    pose.person = map_points(pose.person, names, in_picture(pose.aspect, lambda p: g.add(p, by)),
                       ("left", "right"), False)  # fmt: skip
    for s in ("left", "right"):
        pose.set(f"{s}_upper_arm", 10.0 if pose.frontal else 0.0)
        pose.set(f"{s}_forearm", 90.0)


@preset("clap", "body")
def clap(pose: Pose, side: str, amount: float | None) -> None:
    """Hands together in front of the chest."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    chest = g.add(f.neck, g.mul(f.up, -0.35 * f.torso))
    for s in ("left", "right"):
        gap = g.mul(toward(f, s), 0.02 * f.torso) if pose.frontal else g.mul(f.left, 0.35 * f.torso)
        _reach(pose, s, g.add(chest, gap))


@preset("hug", "body")
def hug(pose: Pose, side: str, amount: float | None) -> None:
    """Arms wrapped around someone in front: hands towards the opposite shoulders."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    for s in ("left", "right"):
        if pose.frontal:
            shoulder = kin.point(pose.person, f"{_other(s)}_shoulder", pose.aspect) or f.neck
            target = g.add(shoulder, g.mul(f.up, -0.15 * f.torso))
        else:
            target = g.add(
                f.neck, g.add(g.mul(f.left, 0.45 * f.torso), g.mul(f.up, -0.2 * f.torso))
            )
        _reach(pose, s, target)


# --- what each says --------------------------------------------------------------------------


def _deg(amount: float | None, default: float) -> str:
    return f"{(default if amount is None else amount):g}°"


def _leg(word: str) -> Callable[[str, str, float | None], str]:
    def say(who: str, side: str, amount: float | None) -> str:
        legs = f"{who} legs" if side == "both" else f"{who} {side} leg"
        return word.format(legs=legs, to=f" to {amount:g}°" if amount is not None else "")

    return say


def _whole(text: str) -> Callable[[str, str, float | None], str]:
    def say(who: str, side: str, amount: float | None) -> str:
        person = who.removesuffix("'s")
        on = "" if side == "both" else f" on their {side} knee"
        return text.format(who=who, person=person, on=on)

    return say


SUMMARIES.update({
    "raise_leg": _leg("raised {legs}{to}, knee bent"),
    "lower_leg": _leg("lowered {legs}, straight"),
    "kick": _leg("kicked forwards with {legs}{to}"),
    "kick_side": _leg("kicked sideways with {legs}"),
    "step_forward": _leg("stepped forwards with {legs}"),
    "cross_legs": _whole("crossed {who} legs"),
    "kneel": _whole("made {person} kneel{on}"),
    "sit": _whole("sat {person} down, knees bent"),
    "squat": _whole("made {person} squat"),
    "stand": _whole("stood {person} up on straight legs"),
    "turn_head": lambda who, side, a: f"turned {who} head {_deg(a, 30)} to their {side}",
    "look_up": lambda who, side, a: f"tilted {who} face up {_deg(a, 20)}",
    "look_down": lambda who, side, a: f"tilted {who} face down {_deg(a, 20)}",
    "lean": lambda who, side, a: f"leaned {who} upper body {_deg(a, 15)} to their {side}",
    "lean_forward": lambda who, side, a: f"leaned {who} upper body {_deg(a, 20)} forwards",
    "lean_back": lambda who, side, a: f"leaned {who} upper body {_deg(a, 15)} back",
    "bend_over": _whole("bent {person} over at the waist"),
    "turn_shoulders": lambda who, side, a: f"turned {who} shoulders {_deg(a, 30)} to their {side}",
    "jump": _whole("made {person} jump"),
    "walk": _whole("made {person} walk"),
    "run": _whole("made {person} run"),
    "cross_arms": _whole("crossed {who} arms"),
    "hands_behind_head": _whole("put {who} hands behind their head"),
    "shrug": _whole("made {person} shrug"),
    "clap": _whole("made {person} clap"),
    "hug": _whole("made {person} hug, arms wrapped forwards"),
})  # fmt: skip
