"""More of the body as presets: legs (raise, kick, step, cross, kneel, sit, squat, stand), head
(turn, look up or down), torso (lean, bend over, turn the shoulders) and whole-body poses (jump,
walk, run, arms crossed, hands behind the head, shrug, clap, hug).

Each works in the view the person is seen from: joint angles are anatomical (`kinematics`), so a
raised leg is a forward flexion in profile and a lift out to the side from the front, within the
same limits. Limb bones keep their lengths in the picture; what only foreshortening could show
(a torso leaning towards the camera) moves the upper body rigidly along the torso instead.
Turns of the head and shoulders treat their points as lying on an upright cylinder of a radius
fixed by the torso's length, so a turn and its opposite cancel exactly; the face landmarks,
nose, eyes and ears move together. Feet stay on the ground unless the pose leaves it (a jump).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from image_interpreter.priors.edits import bodies, ik
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.presets import SUMMARIES, Pose, preset
from image_interpreter.priors.schema import Person

VecMap = Callable[[g.Vec], g.Vec]

ARM_POINTS = ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
UPPER_BODY = (
    "neck", *kin.HEAD_POINTS, *(f"{s}_{p}" for s in ("left", "right") for p in ARM_POINTS),
)  # fmt: skip

# --- moving parts of the body rigidly --------------------------------------------------------


def _map(person: Person, names: tuple[str, ...], fn: g.PointMap, hands: tuple[str, ...],
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


def _in_picture(aspect: float, fn: VecMap) -> g.PointMap:
    """A map of picture units (x scaled by the aspect) as one of normalised coordinates."""

    def mapped(x: float, y: float) -> tuple[float, float]:
        px, py = fn((x * aspect, y))
        return px / aspect, py

    return mapped


def _upper_body(pose: Pose, fn: VecMap) -> None:
    pose.person = _map(pose.person, UPPER_BODY, _in_picture(pose.aspect, fn),
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
                hand, _in_picture(pose.aspect, lambda p, by=by: g.add(p, by)))}})  # fmt: skip
    pose.person = g.grow_box(person)


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


def _hips(pose: Pose) -> g.Vec:
    return ik.frame(pose.person, pose.aspect, pose.number).hips


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
    sign = 1.0 if g.dot(_toward(f, side), g.turn(f.up, 90.0)) > 0 else -1.0
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


# --- whole body ------------------------------------------------------------------------------


def _reach(pose: Pose, side: str, target: g.Vec, prefer: g.Vec | None = None) -> None:
    reached = ik.solve(pose.person, "arm", side, target, pose.aspect, pose.notes, pose.number,
                       prefer)  # fmt: skip
    if not reached.reached(pose.aspect):
        pose.notes.append(f"the {side} hand could not quite get there")
    pose.person = reached.person


def _toward(f: ik.Frame, side: str) -> g.Vec:
    return f.left if side == "left" else g.mul(f.left, -1.0)


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
        across = 0.0 if not pose.frontal else 0.3 * f.torso
        forward = 0.0 if pose.frontal else 0.25 * f.torso
        target = g.add(chest, g.mul(_toward(f, _other(s)), across or forward))
        if not pose.frontal:
            target = g.add(chest, g.mul(f.left, forward))
        _reach(pose, s, target)


@preset("hands_behind_head", "body")
def hands_behind_head(pose: Pose, side: str, amount: float | None) -> None:
    """Both hands behind the head, elbows out and up."""
    f = ik.frame(pose.person, pose.aspect, pose.number)
    for s in ("left", "right"):
        way = _toward(f, s) if pose.frontal else g.mul(f.left, -1.0)
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
    pose.person = _map(pose.person, names, _in_picture(pose.aspect, lambda p: g.add(p, by)),
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
        gap = (
            g.mul(_toward(f, s), 0.02 * f.torso) if pose.frontal else g.mul(f.left, 0.35 * f.torso)
        )
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
