"""Pose: arms up and down, elbows and knees, hands on hips, waving, head tilts, rotating a limb
and moving one joint. Body parts are the subject's own left and right.

Without an amount a change is a named preset ('raise her left arm' = the raise_arm preset);
with one it is a rotation ('raise her left arm a bit' = 15° about the shoulder). Which way a
rotation turns in the picture depends on which way the person faces; with the priors that is
read from their shoulders, without them the person is taken to face the camera.
"""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import Quantity, Scale
from image_interpreter.agent.interpreter.rules.base import Match, P, first, q, qty, rule
from image_interpreter.agent.interpreter.words import (
    JOINT,
    JOINT_WORDS,
    LIMB,
    LIMB_WORDS,
    UNSIDED_JOINTS,
)
from image_interpreter.priors.edits import MoveJoint, PosePreset, RotateLimb
from image_interpreter.priors.schema import Point

TURN = Scale(small=15.0, medium=30.0, large=60.0, full=90.0, half=45.0)
NUDGE = Scale(small=0.03, medium=0.05, large=0.12, full=0.25, half=0.1)

_SIDE = (
    r"(?P<side>left|right|both|other|left\s+and\s+(?:the\s+)?right|right\s+and\s+(?:the\s+)?left"
    r"|each|either)"
)
_WHOSE = rf"(?:(?:{P}|the|both\s+of\s+{P}|one\s+of\s+{P}|an?)\s+)?(?:{_SIDE}\s+)?"
_WHO = rf"(?:(?:{P}|the)\s+)?"
_ARMS = r"(?P<part>arms?|hands?)"
_ARMS_ONLY = r"(?P<part>arms?)"
_UP = r"(?:up|high|higher|upwards?|up\s+high|in\s+the\s+air|into\s+the\s+air|skyward|aloft)"
_OVER_HEAD = (
    rf"(?:(?:over|above|on\s+top\s+of)\s+(?:{P}|the)\s+head|overhead|straight\s+up"
    r"|all\s+the\s+way\s+up)"
)
_DOWN = rf"(?:down|lower|downwards?|(?:to|by|at)\s+(?:{P}|the)\s+sides?)"
_OUT = (
    r"(?:out|outwards?|wide|open|to\s+the\s+sides?|sideways|out\s+to\s+the\s+sides?"
    r"|horizontally|straight\s+out|out\s+wide)"
)
_IT = r"(?P<it>it|that\s+arm|that\s+one|the\s+same\s+arm)"


def _sides(ctx: Context, m: Match, default: str = "right", part: str = "side") -> list[str]:
    """The sides a clause names ('left', 'both arms', 'other'), else `default` (assumed)."""
    side = (first(m, "side") or "").lower()
    plural = (first(m, "part") or "").lower().endswith("s")
    if first(m, "it") and ctx.last_side:
        return [ctx.last_side]
    if (
        side.startswith(("left and", "right and"))
        or side in ("both", "each")
        or (plural and not side)
    ):
        return ["both"]
    if side in ("left", "right"):
        return [side]
    if side == "other" and ctx.last_side in ("left", "right"):
        return ["right" if ctx.last_side == "left" else "left"]
    said = (first(m, "part", "joint", "joint2", "limb") or "").lower().rstrip("s")
    thing = said or part
    ctx.assume(f"the {default} {thing} (say “left {thing}” for the other)")
    return [default]


def _remember(ctx: Context, sides: list[str]) -> None:
    if sides and sides[0] in ("left", "right"):
        ctx.last_side = sides[0]


def facing_camera(ctx: Context, number: int) -> bool:
    """True unless the priors show the person's back (their left shoulder on the picture's
    left)."""
    person = ctx.person_model(number)
    if person is None:
        return True
    left, right = person.body.get("left_shoulder"), person.body.get("right_shoulder")
    if left is None or right is None or left.x == right.x:
        return True
    return left.x > right.x


def outward(ctx: Context, number: int, side: str) -> int:
    """+1 when raising that arm sideways turns it counter-clockwise in the picture."""
    sign = 1 if side == "left" else -1
    return sign if facing_camera(ctx, number) else -sign


def _degrees(said: Quantity | None) -> float:
    if said is not None and said.unit == "degrees" and said.value is not None:
        return abs(said.value)
    if said is not None and said.unit is None and said.value is not None and said.value > 1:
        return abs(said.value)  # 'raise it 20' means degrees
    return TURN.of(said)


def _turn_arms(ctx: Context, sides: list[str], said: Quantity | None, up: bool) -> list[Any]:
    degrees = _degrees(said)
    actions = []
    for n in ctx.people():
        for side in ("left", "right") if sides == ["both"] else sides:
            sign = outward(ctx, n, side) * (1 if up else -1)
            actions.append(RotateLimb(person=n, limb=f"{side}_upper_arm", degrees=sign * degrees))  # type: ignore[arg-type]
    return actions


def _preset(ctx: Context, preset: str, sides: list[str], amount: float | None = None) -> list[Any]:
    _remember(ctx, sides)
    made = [
        ctx.build(lambda n=n, s=s: PosePreset(person=n, preset=preset, side=s, amount=amount))
        for n in ctx.people()
        for s in sides
    ]
    return [a for a in made if a is not None]


_RAISE = r"(?:raise|lift|put\s+up|hold\s+up|bring\s+up|stick\s+up|throw\s+up|reach\s+up\s+with)"
_PUT = r"(?:put|hold|bring|stick|throw|get|move|have|reach)"


def _further(words: str) -> Quantity:
    """'higher', 'a bit lower', 'further': a small step when hedged, else a medium one."""
    hedged = any(word in words.lower() for word in ("bit", "little"))
    return Quantity(level="small" if hedged else "medium")


@rule(
    "pose.raise",
    rf"{_RAISE}\s+(?:{_WHOSE}{_ARMS}|{_IT})(?:\s+{_UP})?(?:\s+{q()})?",
    rf"{_RAISE}\s+{q('q2')}\s+{_WHOSE}{_ARMS}",
    rf"{_PUT}\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+(?:{q('q3')}\s+)?{_UP}(?:\s+{q()})?",
    rf"(?:{P}\s+)?{_WHOSE}{_ARMS}\s+(?:{q('q3')}\s+)?{_UP}(?:\s+{q()})?",
    rf"(?:{_RAISE}|{_PUT})\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+(?P<to>to\s+(?P<deg>\d+(?:\.\d+)?)\s*(?:°|degrees?)(?:\s+above\s+(?:the\s+)?horizontal)?)",
    rf"{_RAISE}\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+(?P<height>higher|even\s+higher|more|further|a\s+bit\s+higher|a\s+little\s+higher)",
    people=True,
)
def raise_arm(m: Match, ctx: Context) -> list[Any]:
    sides = _sides(ctx, m)
    said = qty(m, "q", "q2", "q3")
    if first(m, "deg"):
        return _preset(ctx, "raise_arm", sides, float(m["deg"]))
    if said is not None and said.mode == "to" and said.value is not None and said.unit != "percent":
        return _preset(ctx, "raise_arm", sides, abs(said.value))  # an angle above horizontal
    if said is not None and said.level == "full":
        return _preset(ctx, "arm_over_head", sides)
    if said is not None and said.level == "half":
        return _preset(ctx, "arm_out", sides)
    if said is None and first(m, "height"):
        said = _further(m["height"])
    if said is None:
        return _preset(ctx, "raise_arm", sides)
    _remember(ctx, sides)
    return _turn_arms(ctx, sides, said, up=True)


_LOWER = r"(?:lower|drop|put\s+down|bring\s+down|let\s+down|relax|let\s+(?:fall|hang)|rest)"


@rule(
    "pose.lower",
    rf"{_LOWER}\s+(?:{_WHOSE}{_ARMS}|{_IT})(?:\s+{_DOWN})?(?:\s+{q()})?",
    rf"{_LOWER}\s+{q('q2')}\s+{_WHOSE}{_ARMS}",
    rf"{_PUT}\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+(?:{q('q3')}\s+)?{_DOWN}(?:\s+{q()})?",
    rf"(?:{P}\s+)?{_WHOSE}{_ARMS}\s+(?:{q('q3')}\s+)?{_DOWN}(?:\s+{q()})?",
    rf"{_LOWER}\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+(?P<height>lower|more|further|a\s+bit\s+lower|a\s+little\s+lower)",
    people=True,
)
def lower_arm(m: Match, ctx: Context) -> list[Any]:
    sides = _sides(ctx, m)
    said = qty(m, "q", "q2", "q3")
    if said is None and first(m, "height"):
        said = _further(m["height"])
    if said is None or said.level == "full":
        return _preset(ctx, "lower_arm", sides)
    _remember(ctx, sides)
    return _turn_arms(ctx, sides, said, up=False)


@rule(
    "pose.over_head",
    rf"(?:{_RAISE}|{_PUT}|place|stretch|lift)\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+{_OVER_HEAD}",
    rf"(?:{P}\s+)?{_WHOSE}{_ARMS}\s+{_OVER_HEAD}",
    rf"{_RAISE}\s+(?:{_WHOSE}{_ARMS}|{_IT})\s+(?:all\s+the\s+way|fully|straight\s+up|as\s+high\s+as\s+(?:possible|it\s+goes))",
    people=True,
)
def over_head(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "arm_over_head", _sides(ctx, m))


@rule(
    "pose.arm_out",
    rf"(?:stretch|spread|put|hold|extend|stick|open|reach|fling|throw)\s+(?:out\s+)?{_WHOSE}{_ARMS_ONLY}(?:\s+{_OUT})?",
    rf"(?:{P}\s+)?{_WHOSE}{_ARMS_ONLY}\s+{_OUT}",
    r"(?:do\s+a\s+|strike\s+a\s+|into\s+a\s+)?t[-\s]?pose",
    people=True,
)
def arm_out(m: Match, ctx: Context) -> list[Any]:
    if "pose" in m.group(0).lower():
        return _preset(ctx, "arm_out", ["both"])
    return _preset(ctx, "arm_out", _sides(ctx, m))


@rule(
    "pose.hips",
    rf"(?:put|place|rest|have|set)\s+{_WHOSE}{_ARMS}\s+on\s+(?:{P}|the)\s+(?:hips?|waist)",
    rf"(?:{P}\s+)?(?:stand\s+|pose\s+)?(?:with\s+)?{_WHOSE}{_ARMS}\s+on\s+(?:{P}\s+|the\s+)?(?:hips?|waist)",
    r"(?:arms\s+)?akimbo|(?:stand\s+|pose\s+)?(?:with\s+)?arms\s+akimbo|hands\s+on\s+hips",
    people=True,
)
def hips(m: Match, ctx: Context) -> list[Any]:
    side = (first(m, "side") or "").lower()
    part = (first(m, "part") or "hands").lower()
    if side in ("left", "right"):
        sides = [side]
    elif part.endswith("s") or side in ("both", "each") or not first(m, "part"):
        sides = ["both"]
    else:
        sides = _sides(ctx, m)
    return _preset(ctx, "hands_on_hips", sides)


@rule(
    "pose.wave",
    rf"(?:{P}\s+)?wav(?:e|es|ing)(?:\s+(?:hello|goodbye|hi|bye|at\s+(?:the\s+camera|us|me|the\s+viewer)))?"
    rf"(?:\s+(?:with|using)\s+{_WHOSE}{_ARMS})?",
    rf"wave\s+{_WHOSE}{_ARMS}",
    rf"(?:{P}\s+)?{_WHOSE}{_ARMS}\s+wav(?:e|es|ing)",
    r"say\s+(?:hello|hi|goodbye|bye)",
    people=True,
)
def wave(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "wave", _sides(ctx, m, part="hand"))


_BEND = r"(?P<verb>bend|flex|fold|crook|straighten|unbend|extend|stretch\s+out|lock)"


@rule(
    "pose.bend",
    rf"{_BEND}\s+{_WHOSE}(?P<joint>elbows?|arms?|knees?|legs?)(?:\s+(?:more|fully|straight|out))?(?:\s+{q()})?",
    rf"{_BEND}\s+{q('q2')}\s+{_WHOSE}(?P<joint2>elbows?|arms?|knees?|legs?)",
    r"(?P<crouch>crouch|crouch\s+down)",
    people=True,
)
def bend(m: Match, ctx: Context) -> list[Any]:
    if first(m, "crouch"):
        return _preset(ctx, "bend_knee", ["both"])
    joint = (first(m, "joint", "joint2") or "").lower()
    knee = joint.startswith(("knee", "leg"))
    plural = joint.endswith("s")
    side = (first(m, "side") or "").lower()
    sides = ["both"] if plural and not side else _sides(ctx, m)
    verb = m["verb"].lower()
    straighten = verb in ("straighten", "unbend", "extend", "stretch out", "lock")
    if straighten:
        return _preset(ctx, "straighten_knee" if knee else "straighten_elbow", sides)
    said = qty(m)
    amount = None
    if said is not None:
        amount = _degrees(said) if said.unit == "degrees" or said.value else {
            "small": 45.0, "large": 135.0, "full": 160.0, "half": 90.0,
        }.get(said.level or "")  # fmt: skip
    return _preset(ctx, "bend_knee" if knee else "bend_elbow", sides, amount)


@rule(
    "pose.tilt",
    rf"(?:tilt|tip|lean|cock|incline|bend)\s+{_WHO}head(?:\s+{q()})?(?:\s+(?:to(?:wards?)?|toward|over\s+to|on)\s+"
    rf"(?:(?:the|{P})\s+)?(?P<side>left|right)(?:\s+(?:shoulder|side))?)?(?:\s+{q('q2')})?",
    rf"(?:tilt|tip|lean|cock|incline)\s+{_WHO}head\s+(?P<side2>left|right)(?:wards?)?(?:\s+{q('q3')})?",
    people=True,
)
def tilt(m: Match, ctx: Context) -> list[Any]:
    side = (first(m, "side", "side2") or "").lower()
    if side not in ("left", "right"):
        ctx.assume("towards the right shoulder (say “to the left” for the other way)")
        side = "right"
    said = qty(m)
    amount = None
    if said is not None:
        amount = (
            _degrees(said)
            if said.value
            else {"small": 8.0, "large": 30.0, "full": 45.0}.get(said.level or "")
        )
    return _preset(ctx, "tilt_head", [side], amount)


_SENSE = r"(?P<sense>clockwise|counter-?clockwise|anti-?clockwise|cw|ccw)"


@rule(
    "pose.rotate",
    rf"(?:rotate|turn|swing|twist|pivot|move)\s+{_WHOSE}{LIMB}\s+(?:by\s+)?{q()}(?:\s+{_SENSE})?",
    rf"(?:rotate|turn|swing|twist|pivot)\s+{_WHOSE}{LIMB}\s+{_SENSE}(?:\s+(?:by\s+)?{q('q2')})?",
    rf"(?:rotate|turn|swing|twist|pivot)\s+{_WHOSE}{LIMB}\s+{q('q3')}\s+{_SENSE}",
    people=True,
)
def rotate(m: Match, ctx: Context) -> list[Any]:
    word = " ".join(m["limb"].lower().split())
    base = LIMB_WORDS.get(word) or LIMB_WORDS.get(word.rstrip("s"), "upper_arm")
    said = qty(m)
    degrees = _degrees(said)
    sense = (first(m, "sense") or "").lower().replace("-", "")
    if not sense:
        if said is not None and said.value is not None and said.value < 0:
            sense = "clockwise"
        else:
            ctx.assume(
                "counter-clockwise as seen in the picture (say “clockwise” for the other way)"
            )
    sign = -1.0 if sense in ("clockwise", "cw") else 1.0
    if base == "head":
        limbs = ["head"]
    else:
        sides = _sides(ctx, m)
        _remember(ctx, sides)
        limbs = [f"{s}_{base}" for s in (("left", "right") if sides == ["both"] else sides)]
    return [
        a
        for n in ctx.people()
        for limb in limbs
        if (
            a := ctx.build(
                lambda n=n, limb=limb: RotateLimb(person=n, limb=limb, degrees=sign * degrees)
            )
        )
    ]


_DIRECTION = (
    r"(?P<dir>up|down|left|right|upwards?|downwards?|higher|lower|leftwards?|rightwards?|to\s+the\s+left"
    r"|to\s+the\s+right|towards?\s+the\s+(?:left|right|top|bottom)|outwards?|inwards?)"
)


def offset(direction: str, distance: float) -> tuple[float, float]:
    """A picture-space offset: 'left' is the picture's left, 'up' its top."""
    d = direction.lower()
    if "left" in d:
        return -distance, 0.0
    if "right" in d:
        return distance, 0.0
    if "up" in d or "higher" in d or "top" in d:
        return 0.0, -distance
    return 0.0, distance


def distance(ctx: Context, said: Quantity | None, scale: Scale, across: bool) -> float:
    """How far, as a fraction of the picture: 'a bit', '10%', '0.1', '50 pixels'."""
    if said is not None and said.value is not None:
        if said.unit == "pixels":
            side = None
            if ctx.priors is not None:
                side = ctx.priors.source.width if across else ctx.priors.source.height
            if side is None:
                ctx.assume("a 1024-pixel picture, to turn pixels into a fraction", 0.85)
            return round(abs(said.value) / (side or 1024), 4)
        if said.unit == "percent" or said.value <= 1:
            return abs(said.value)
        return abs(said.value) / 100
    return scale.of(said)


@rule(
    "pose.move_joint",
    rf"(?:move|shift|nudge|drag|slide|push|pull|bring|put)\s+{_WHOSE}{JOINT}\s+(?:{q()}\s+)?{_DIRECTION}(?:\s+{q('q2')})?",
    people=True,
)
def move_joint(m: Match, ctx: Context) -> list[Any]:
    joint = JOINT_WORDS[m["joint"].lower()]
    said = qty(m)
    direction = m["dir"]
    if direction.lower().startswith(("out", "in")):
        return None  # type: ignore[return-value]  (depends on the side; not a joint move)
    across = "left" in direction.lower() or "right" in direction.lower()
    dx, dy = offset(direction, distance(ctx, said, NUDGE, across))
    if joint in UNSIDED_JOINTS:
        names = [joint]
    else:
        sides = _sides(ctx, m)
        _remember(ctx, sides)
        names = [f"{s}_{joint}" for s in (("left", "right") if sides == ["both"] else sides)]
    return [
        MoveJoint(person=n, joint=name, by=Point(x=round(dx, 4), y=round(dy, 4)))  # type: ignore[arg-type]
        for n in ctx.people()
        for name in names
    ]
