"""Head, torso and whole-body poses: 'turn her head to the right', 'look up', 'nod', 'lean
forward a bit', 'bend over', 'turn his shoulders left', 'make him jump', 'cross the arms',
'hands behind the head', 'shrug', 'clap', 'make them hug', and goals ('she should be walking').

Amounts are the degrees to turn by ('45 degrees', 'a bit' = 15); without one each preset takes
its default, and the opposite word (left/right, up/down, forward/back) undoes it.
"""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import Quantity
from image_interpreter.agent.interpreter.rules.base import Match, P, first, q, qty, rule
from image_interpreter.agent.interpreter.rules.pose import _WHO, _WHOSE, TURN, _degrees, _preset

_BE = r"(?:be\s+)?"
_MORE = r"(?:(?:more|further|again|some\s+more)\s+)?"  # relative turns: 'more' is one more step
_TO = rf"{_MORE}(?:(?:to(?:wards?)?|over\s+to|toward)\s+(?:(?:the|{P})\s+)?)?"
_LR = r"(?P<side>left|right)(?:wards?|\s+side)?"
_HEAD = r"(?:head|face)"


def _amount(said: Quantity | None) -> float | None:
    """Degrees to turn by: as said, or 'a bit' = 15, 'a lot' = 60; None: the default."""
    if said is None:
        return None
    if said.value is not None or said.level is not None:
        return min(_degrees(said), 90.0)
    return TURN.of(said)


def _one(ctx: Context, m: Match, preset: str, limit: float | None = None) -> list[Any]:
    side = (first(m, "side") or "").lower().replace("wards", "").replace(" side", "")
    amount = _amount(qty(m))
    if amount is not None and limit is not None:
        amount = min(amount, limit)
    return _preset(ctx, preset, [side] if side else ["both"], amount)


# --- head ----------------------------------------------------------------------------------


@rule(
    "posture.turn_head",
    rf"(?:turn|rotate|swivel|twist|swing|move)\s+{_WHO}{_HEAD}\s+(?:{q()}\s+)?{_TO}{_LR}(?:\s+(?:by\s+)?{q('q2')})?",
    rf"(?:turn|rotate|swivel|twist)\s+{_WHO}{_HEAD}\s+{q('q3')}\s+{_TO}{_LR}",
    rf"{_BE}(?:look|looks|looking|glance|glancing|gaze|gazing|face|facing)\s+(?:{q()}\s+)?{_TO}{_LR}(?:\s+{q('q2')})?",
    rf"{_BE}(?:look|looking|glance)\s+over\s+(?:{P}|the)\s+{_LR}\s+shoulder",
    people=True,
)
def turn_head(m: Match, ctx: Context) -> list[Any]:
    return _one(ctx, m, "turn_head")


_AT = r"\s+at\s+(?:the\s+)?\w+(?:\s+\w+)?"  # 'look up at the sky': what is looked at
_UP = rf"(?P<up>up|upwards|skywards?|to\s+the\s+sky|at\s+the\s+sky|up{_AT})"
_DOWN = rf"(?P<down>down|downwards|at\s+the\s+(?:ground|floor)|down{_AT})"


@rule(
    "posture.look",
    rf"{_BE}(?:look|looks|looking|glance|glancing|gaze|gazing|face|facing|turn\s+{_WHO}{_HEAD})\s+(?:{q()}\s+)?(?:{_UP}|{_DOWN})(?:\s+{q('q2')})?",
    rf"(?:tilt|tip|lean|throw|raise|lift|put)\s+{_WHO}(?:head|chin|face)\s+(?:{q()}\s+)?(?P<back>back|backwards|up)(?:\s+{q('q2')})?",
    rf"(?:raise|lift)\s+{_WHO}(?:chin|face|head)(?:\s+{q()})?",
    rf"(?:tilt|tip|lower|bow|drop|bend|hang|dip)\s+{_WHO}(?:head|chin|face)(?:\s+(?P<fwd>down|forwards?|downwards))?(?:\s+{q()})?",
    rf"(?P<nod>nod|nods|nodding)(?:\s+{_WHO}head)?",
    rf"(?P<bow>bow|bows|bowing)(?:\s+(?:{P}\s+)?head)?",
    people=True,
)
def look(m: Match, ctx: Context) -> list[Any]:
    text = m.group(0).lower()
    if first(m, "nod"):
        return _preset(ctx, "look_down", ["both"], 15.0)
    up = bool(first(m, "up", "back")) or text.startswith(("raise", "lift"))
    amount = _amount(qty(m))
    if amount is not None:
        amount = min(amount, 60.0)
    return _preset(ctx, "look_up" if up else "look_down", ["both"], amount)


# --- torso ---------------------------------------------------------------------------------

_BODY = r"(?:(?:upper\s+)?body|torso|trunk|chest|shoulders|back)"


@rule(
    "posture.lean",
    rf"{_BE}(?:lean|leans|leaning|bend|bends|bending|tilt|sway)\s+(?:{_WHO}{_BODY}\s+)?(?:{q()}\s+)?{_TO}{_LR}(?:\s+(?:by\s+)?{q('q2')})?",
    rf"(?:lean|tilt|bend)\s+{P}\s+(?:{q()}\s+)?{_TO}{_LR}(?:\s+{q('q2')})?",
    people=True,
)
def lean(m: Match, ctx: Context) -> list[Any]:
    return _one(ctx, m, "lean", 60.0)


_FORWARD = r"(?P<fwd>forwards?|in|over|towards?\s+the\s+camera|ahead)(?:\s+(?:more|further))?"
_BACK = r"(?P<back>back|backwards?|away|against\s+the\s+wall)(?:\s+(?:more|further))?"


@rule(
    "posture.pitch",
    rf"{_BE}(?:lean|leans|leaning|tilt|tip)\s+(?:{_WHO}{_BODY}\s+)?(?:{q()}\s+)?(?:{_FORWARD}|{_BACK})(?:\s+{q('q2')})?",
    rf"(?:lean|tilt|tip)\s+{P}\s+(?:{q()}\s+)?(?:{_FORWARD}|{_BACK})(?:\s+{q('q2')})?",
    people=True,
)
def pitch(m: Match, ctx: Context) -> list[Any]:
    amount = _amount(qty(m))
    if first(m, "back"):
        return _preset(ctx, "lean_back", ["both"], None if amount is None else min(amount, 40.0))
    return _preset(ctx, "lean_forward", ["both"], None if amount is None else min(amount, 80.0))


@rule(
    "posture.bend_over",
    rf"{_BE}(?:bend|bends|bending|bent|fold|stoop|stooping|hunch)\s+(?:over|down|forwards?)(?:\s+(?:at\s+the\s+(?:waist|hips)|to\s+the\s+(?:ground|floor)))?",
    r"(?:bend|fold)\s+(?:at\s+the\s+(?:waist|hips))(?:\s+forwards?)?",
    r"(?:bend|fold)\s+forwards?\s+at\s+the\s+(?:waist|hips)",
    rf"touch\s+(?:the|{P})\s+toes",
    people=True,
)
def bend_over(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "bend_over", ["both"])


@rule(
    "posture.turn_shoulders",
    rf"(?:turn|twist|rotate|swivel)\s+{_WHO}(?:shoulders|torso|upper\s+body|body|chest|trunk|waist|hips)"
    rf"\s+(?:{q()}\s+)?{_TO}{_LR}(?:\s+(?:by\s+)?{q('q2')})?",
    rf"(?:turn|twist|rotate)\s+{_WHO}(?:shoulders|torso|upper\s+body|body|chest|trunk)\s+{q('q3')}\s+{_TO}{_LR}",
    rf"(?:turn|twist|rotate)\s+(?:{q()}\s+)?{_TO}{_LR}\s+at\s+the\s+waist",
    people=True,
)
def turn_shoulders(m: Match, ctx: Context) -> list[Any]:
    return _one(ctx, m, "turn_shoulders")


# --- the whole body ------------------------------------------------------------------------


def _whole(ctx: Context, name: str) -> list[Any]:
    return _preset(ctx, name, ["both"])


@rule(
    "posture.jump",
    rf"{_BE}(?:jump|jumps|jumping|leap|leaps|leaping|hop|hopping)(?:\s+(?:up|high|in\s+the\s+air|into\s+the\s+air|for\s+joy))?",
    r"(?:in|into)\s+the\s+air",
    people=True,
)
def jump(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "jump")


@rule(
    "posture.walk",
    rf"{_BE}(?:walk|walks|walking|stroll|strolling|mid-?stride|striding)(?:\s+(?:forwards?|along|away|towards\s+the\s+camera))?",
    r"(?:take|taking)\s+a\s+(?:walk|stroll)",
    people=True,
)
def walk(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "walk")


@rule(
    "posture.run",
    rf"{_BE}(?:run|runs|running|sprint|sprints|sprinting|jog|jogs|jogging|race|racing)(?:\s+(?:fast|forwards?|away|along))?",
    people=True,
)
def run(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "run")


_ARMS = rf"{_WHOSE}(?:arms)"


@rule(
    "posture.cross_arms",
    rf"(?:cross|fold)\s+{_ARMS}(?:\s+(?:across|over)\s+(?:{P}|the)\s+chest)?",
    rf"(?:{P}\s+)?(?:stand|sit|be\s+standing|pose|standing)?\s*(?:with\s+)?{_ARMS}\s+(?:crossed|folded)",
    r"arms\s+(?:crossed|folded)",
    people=True,
)
def cross_arms(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "cross_arms")


@rule(
    "posture.uncross_arms",
    rf"(?:uncross|unfold)\s+{_ARMS}",
    people=True,
)
def uncross_arms(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "lower_arm", ["both"])


@rule(
    "posture.behind_head",
    rf"(?:put|place|clasp|hold|rest|lace)\s+{_WHOSE}(?:hands|arms|fingers)\s+behind\s+(?:{P}|the)\s+head",
    rf"(?:{P}\s+)?(?:with\s+)?{_WHOSE}(?:hands|arms)\s+behind\s+(?:{P}|the)\s+head",
    people=True,
)
def behind_head(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "hands_behind_head")


@rule(
    "posture.shrug",
    rf"{_BE}(?:shrug|shrugs|shrugging)(?:\s+{_WHO}shoulders)?",
    rf"(?:raise|lift)\s+{_WHO}shoulders",
    people=True,
)
def shrug(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "shrug")


@rule(
    "posture.clap",
    rf"{_BE}(?:clap|claps|clapping|applaud|applauding)(?:\s+{_WHOSE}hands)?",
    rf"(?:put|bring|press)\s+{_WHOSE}hands\s+together",
    people=True,
)
def clap(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "clap")


@rule(
    "posture.hug",
    rf"{_BE}(?:hug|hugs|hugging|embrace|embracing|cuddle|cuddling)(?:\s+(?:each\s+other|one\s+another|{P}))?",
    rf"(?:give|giving)\s+(?:each\s+other\s+|{P}\s+)?a\s+hug",
    people=True,
)
def hug(m: Match, ctx: Context) -> list[Any]:
    return _whole(ctx, "hug")
