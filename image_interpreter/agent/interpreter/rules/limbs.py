"""Legs and reaching: 'raise the left leg', 'kick sideways', 'kneel on one knee', 'sit down';
'put the left hand on the head', 'touch the left knee with the right hand', 'point at the dog',
'they hold hands'.

Leg presets take the side said (the right leg when none is, said in the reply); reaching sends
a hand to a body part (`reach`), an object (`point_at`) or the other person's hand
(`join_hands`). A hand sent to its own hip is the hands_on_hips preset (`pose.hips`).
"""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.people import references
from image_interpreter.agent.interpreter.quantities import Quantity, Scale
from image_interpreter.agent.interpreter.rules.base import Match, P, first, q, qty, rule
from image_interpreter.agent.interpreter.rules.pose import _WHOSE, _degrees, _preset, _sides
from image_interpreter.agent.interpreter.words import strip_article
from image_interpreter.priors.edits import JoinHands, ObjectRef, PointAt, Reach

LIFT = Scale(small=30.0, medium=60.0, large=90.0, full=120.0, half=45.0)  # hip flexion, degrees

_LEG = r"(?P<part>legs?|knees?|foot|feet|thighs?)"
_LEG_ONLY = r"(?P<part>legs?|foot|feet)"
_WITH_LEG = rf"(?:\s+(?:with|using)\s+{_WHOSE}{_LEG_ONLY})"
_UP = r"(?:\s+(?:up|high|higher|upwards?|in\s+the\s+air|off\s+the\s+ground|forwards?|more|further))"
_BE = r"(?:be\s+)?"


def _hip(said: Quantity | None) -> float | None:
    if said is None:
        return None
    if said.value is not None:
        return min(_degrees(said), 135.0)
    return LIFT.of(said)


@rule(
    "legs.raise",
    rf"(?:raise|lift|bring\s+up|put\s+up|hold\s+up|kick\s+up)\s+{_WHOSE}{_LEG}{_UP}?(?:\s+{q()})?",
    rf"(?:raise|lift)\s+{q('q2')}\s+{_WHOSE}{_LEG}",
    rf"(?:{P}\s+)?{_WHOSE}{_LEG}\s+(?:raised|lifted|up)(?:\s+{q('q3')})?",
    rf"(?:stand|balance)\s+on\s+(?:one\s+leg|one\s+foot|{_WHOSE}(?P<stand>left|right)\s+(?:leg|foot))",
    people=True,
)
def raise_leg(m: Match, ctx: Context) -> list[Any]:
    if first(m, "stand"):
        sides = ["right" if m["stand"].lower() == "left" else "left"]
    elif "one" in m.group(0).lower() and "on one" in m.group(0).lower():
        ctx.assume("the left leg raised (say “on the left leg” for the other)")
        sides = ["left"]
    else:
        sides = _sides(ctx, m, part="leg")
    return _preset(ctx, "raise_leg", sides, _hip(qty(m)))


@rule(
    "legs.lower",
    rf"(?:lower|drop|put\s+down|bring\s+down|set\s+down|put\s+back\s+down)\s+{_WHOSE}{_LEG}"
    r"(?:\s+(?:back\s+)?(?:down|to\s+the\s+(?:ground|floor)|on\s+the\s+(?:ground|floor)|again))?",
    rf"(?:put|bring|set|place)\s+{_WHOSE}{_LEG}\s+(?:back\s+)?(?:down|on\s+the\s+(?:ground|floor))(?:\s+again)?",
    rf"straighten\s+{_WHOSE}legs?\s+(?:out\s+)?(?:down|again)",
    people=True,
)
def lower_leg(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "lower_leg", _sides(ctx, m, part="leg"))


@rule(
    "legs.kick",
    rf"kick(?:s|ing)?(?:\s+(?:forwards?|ahead|out|high|higher))?{_WITH_LEG}?(?:\s+(?:forwards?|ahead))?"
    rf"(?:\s+{q()})?",
    rf"kick\s+{_WHOSE}{_LEG_ONLY}(?:\s+(?:forwards?|out|high|higher|up))?(?:\s+{q()})?",
    rf"(?:do|give|throw)\s+a\s+(?:front\s+)?kick{_WITH_LEG}?",
    people=True,
)
def kick(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "kick", _sides(ctx, m, part="leg"), _hip(qty(m)))


_SIDEWAYS = r"(?:sideways|to\s+the\s+side|out\s+to\s+the\s+side|sidewards|out\s+sideways)"


@rule(
    "legs.kick_side",
    rf"kick(?:s|ing)?\s+{_SIDEWAYS}{_WITH_LEG}?",
    rf"kick(?:s|ing)?{_WITH_LEG}\s+{_SIDEWAYS}",
    rf"(?:swing|stick|lift|raise|kick|put|extend|stretch|move)\s+{_WHOSE}{_LEG_ONLY}\s+(?:out\s+)?{_SIDEWAYS}",
    rf"(?:do|give|throw)\s+a\s+side\s+kick{_WITH_LEG}?",
    people=True,
)
def kick_side(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "kick_side", _sides(ctx, m, part="leg"))


@rule(
    "legs.step",
    rf"(?:take\s+a\s+step|step|stride)\s+(?:forwards?|ahead|out){_WITH_LEG}?",
    rf"(?:take\s+a\s+)?step\s+(?:forwards?\s+)?(?:with|using)\s+{_WHOSE}{_LEG_ONLY}(?:\s+forwards?)?",
    rf"(?:put|move|bring|place)\s+{_WHOSE}{_LEG_ONLY}\s+(?:a\s+step\s+)?(?:forwards?|ahead|in\s+front)",
    people=True,
)
def step(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "step_forward", _sides(ctx, m, part="foot"))


@rule(
    "legs.cross",
    rf"cross\s+{_WHOSE}(?:legs|ankles)",
    rf"(?:{P}\s+)?(?:stand\s+|sit\s+)?(?:with\s+)?{_WHOSE}(?:legs|ankles)\s+crossed",
    r"(?:stand\s+|sit\s+)?cross-?\s?legged",
    people=True,
)
def cross_legs(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "cross_legs", ["both"])


@rule(
    "legs.kneel",
    rf"{_BE}(?:kneel|kneels|kneeling|knelt)(?:\s+down)?(?:\s+on\s+(?:{_WHOSE}(?P<knee>knees?)|(?P<one>one\s+knee)))?",
    rf"(?:get|go|drop|be)\s+down\s+on\s+(?:{_WHOSE}(?P<knee2>knees?)|(?P<one2>one\s+knee))",
    rf"(?:{P}\s+)?(?:on\s+)?{_WHOSE}(?P<knee3>knees)",
    people=True,
)
def kneel(m: Match, ctx: Context) -> list[Any]:
    knee = (first(m, "knee", "knee2", "knee3") or "knees").lower()
    side = (first(m, "side") or "").lower()
    if first(m, "one", "one2"):
        ctx.assume("on the right knee (say “on the left knee” for the other)")
        return _preset(ctx, "kneel", ["right"])
    if side in ("left", "right") and not knee.endswith("s"):
        return _preset(ctx, "kneel", [side])
    return _preset(ctx, "kneel", ["both"])


_SEAT = rf"(?:a\s+|the\s+|{P}\s+)?(?:chair|bench|stool|seat|sofa|couch|box|step|ledge)"


@rule(
    "legs.sit",
    rf"{_BE}(?:sit|sits|sitting|sat|seated)(?:\s+down)?(?:\s+(?:on|in)\s+(?:{_SEAT}|the\s+(?:floor|ground)))?",
    rf"sit\s+{P}\s+(?:down|(?:on|in)\s+{_SEAT})(?:\s+(?:on|in)\s+{_SEAT})?",
    r"(?:take|have)\s+a\s+seat",
    people=True,
)
def sit(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "sit", ["both"])


@rule(
    "legs.squat",
    rf"{_BE}(?:squat|squats|squatting)(?:\s+down)?",
    r"(?:do|into)\s+a\s+squat",
    people=True,
)
def squat(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "squat", ["both"])


@rule(
    "legs.stand",
    rf"{_BE}(?:stand|stands|standing|stood)(?:\s+(?:up|upright|straight|up\s+straight|back\s+up))?",
    r"(?:get|getting|got)\s+(?:back\s+)?up",
    rf"(?:straighten|stretch)\s+{_WHOSE}legs(?:\s+again)?",
    people=True,
)
def stand(m: Match, ctx: Context) -> list[Any]:
    return _preset(ctx, "stand", ["both"])


# --- reaching ------------------------------------------------------------------------------

TARGETS: dict[str, str] = {
    "head": "head", "top of the head": "head", "top of her head": "head", "hair": "head",
    "face": "face", "eyes": "face", "mouth": "mouth", "lips": "mouth", "chin": "mouth",
    "neck": "neck", "throat": "neck", "chest": "chest", "heart": "chest", "breast": "chest",
    "belly": "belly", "stomach": "belly", "tummy": "belly", "waist": "belly", "back": "back",
    "shoulder": "shoulder", "elbow": "elbow", "hip": "hip", "knee": "knee", "ankle": "ankle",
    "foot": "ankle", "leg": "knee", "thigh": "knee",
}  # fmt: skip
SIDED = {"shoulder", "elbow", "hip", "knee", "ankle"}
_TARGET = "|".join(sorted(TARGETS, key=len, reverse=True)).replace(" ", r"\s+")
_ON = r"(?P<prep>on|onto|on\s+top\s+of|over|to|against|at|in\s+front\s+of|behind|across)"
_PART = rf"(?:(?:{P}|the|{P}\s+own)\s+)?(?:(?P<tside>left|right|other)\s+)?(?P<target>{_TARGET})"
_HAND = r"(?P<part>hands?|arms?|palms?|fingers?|foot|feet)"
_WITH = rf"(?:\s+(?:with|using)\s+{_WHOSE}(?P<part2>hands?|fingers?|palms?|foot|feet))"


@rule(
    "limbs.reach",
    rf"(?:put|place|rest|lay|hold|have|bring|move|press|keep|raise|hide|clasp)\s+{_WHOSE}{_HAND}\s+{_ON}\s+{_PART}",
    rf"(?:{P}\s+)?{_WHOSE}{_HAND}\s+{_ON}\s+{_PART}",
    rf"(?P<verb>touch|tap|grab|hold|scratch|rub|cover|clutch|pat|cup|stroke)(?:es|s)?\s+{_PART}{_WITH}?",
    people=True,
)
def reach(m: Match, ctx: Context) -> list[Any] | None:
    said = " ".join(m["target"].lower().split())
    part = TARGETS[said]
    prep = " ".join((first(m, "prep") or "").lower().split())
    if part == "back" and prep not in ("behind", "on", "") and not first(m, "verb"):
        return None
    tside = (first(m, "tside") or "").lower()
    hand_part = (first(m, "part", "part2") or "hand").lower()
    limb = "leg" if hand_part in ("foot", "feet") else "arm"
    plural = hand_part.endswith("s") or hand_part == "feet"
    side_said = (first(m, "side") or "").lower()
    if plural and not side_said:
        sides = ["left", "right"]
    else:
        sides = [s for s in _sides(ctx, m, part="hand") if s != "both"] or ["left", "right"]
    if part == "head" and prep == "behind" and limb == "arm":
        return _preset(ctx, "hands_behind_head", ["both"]) if len(sides) == 2 else None
    actions = []
    for side in sides:
        if part in SIDED:
            if tside in ("left", "right"):
                to = f"{tside}_{part}"
            elif tside == "other":
                to = f"{'right' if side == 'left' else 'left'}_{part}"
            elif part == "hip":
                return None  # a hand on its own hip: the hands_on_hips preset
            else:
                to = f"{side}_{part}"
            if part == "hip" and to == f"{side}_hip":
                return None
        else:
            to = part
        for n in ctx.people():
            made = ctx.build(
                lambda n=n, side=side, to=to: Reach(person=n, side=side, to=to, limb=limb)
            )
            if made is not None:
                actions.append(made)
    return actions


@rule(
    "limbs.point",
    rf"point(?:s|ing)?\s+(?:at|to|towards?|in\s+the\s+direction\s+of)\s+(?P<obj>(?!@p).+?){_WITH}?",
    rf"point(?:s|ing)?\s+{_WHOSE}(?P<part>hand|arm|finger)\s+(?:at|to|towards?)\s+(?P<obj2>(?!@p).+?)",
    people=True,
)
def point(m: Match, ctx: Context) -> list[Any] | None:
    label = strip_article(first(m, "obj", "obj2") or "")
    if not label or "@p" in label:
        return None
    sides = _sides(ctx, m, part="hand")
    if sides == ["both"]:
        sides = ["right"]
    target = ObjectRef(label=label)
    ctx.check_prior("objects", f"find {target.text()}")
    return [
        PointAt(person=n, side=sides[0], target=target)  # type: ignore[arg-type]
        for n in ctx.people()
    ]


_PAIR = (
    rf"(?:(?:the\s+two\s+of\s+{P}|both\s+of\s+{P}|the\s+two|the\s+couple|{P}(?:\s+and\s+{P})?"
    rf"|and\s+{P})\s+)?"
)


@rule(
    "limbs.hands",
    rf"{_PAIR}(?:should\s+|will\s+|to\s+)?(?:be\s+)?(?P<how>hold|holding|join|joining|clasp|shake|shaking)\s+hands"
    rf"(?:\s+with\s+(?:each\s+other|one\s+another|{P}))?",
    rf"{_PAIR}(?:should\s+|to\s+)?(?P<how2>hold|shake)\s+each\s+other'?s\s+hands?",
    people=True,
)
def hands(m: Match, ctx: Context) -> list[Any]:
    how = "shake" if first(m, "how", "how2").lower().startswith("shak") else "hold"  # type: ignore[union-attr]
    plural = ctx.ref is None or ctx.ref.every or ctx.ref.pronoun == "neutral"
    numbers = ctx.people() if not plural else []
    count = ctx.scene.count if ctx.scene.known else None
    named = references(ctx.clause)
    if len(numbers) == 1 and len(named) >= 2:  # 'the woman on the left and the man'
        second = ctx.scene.resolve(named[1], numbers[0])
        ctx.confidence = min(ctx.confidence, second.confidence)
        ctx.problems.extend([second.problem] if second.problem else [])
        if second.numbers and second.numbers[0] != numbers[0]:
            numbers = [numbers[0], second.numbers[0]]
    if len(numbers) >= 2:
        one, other = numbers[0], numbers[1]
    elif len(numbers) == 1 and count == 2:
        one, other = numbers[0], 3 - numbers[0]
    else:
        one, other = 1, 2
        if count is not None and count != 2:
            ctx.assume(f"people 1 and 2 (this picture has {ctx.scene.describe_count()})", 0.6)
    ctx.last_person = None
    return [JoinHands(person=min(one, other), other=max(one, other), how=how)]
