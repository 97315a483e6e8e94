"""Faces and hands: expressions ('make him smile', 'close her eyes') and hand gestures ('make a
fist with the right hand', 'thumbs up', 'peace sign'). Hands are the subject's own left and
right; with none named, the right hand."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import Scale, fraction
from image_interpreter.agent.interpreter.rules.base import Match, P, first, q, qty, rule
from image_interpreter.agent.interpreter.words import GESTURE, GESTURE_WORDS
from image_interpreter.priors.edits import SetExpression, SetGesture

STRENGTH = Scale(small=0.5, medium=1.0, large=1.0, full=1.0, half=0.5)
_OWN = rf"(?:(?:{P}|the|both|both\s+of\s+{P})\s+)?"

EXPRESSION_WORDS: dict[str, str] = {
    "smile": "smile", "smiles": "smile", "smiling": "smile", "grin": "smile", "grins": "smile",
    "grinning": "smile", "beam": "smile", "beaming": "smile", "happy": "smile",
    "happier": "smile", "cheerful": "smile", "joyful": "smile", "glad": "smile",
    "frown": "frown", "frowns": "frown", "frowning": "frown", "scowl": "frown",
    "scowling": "frown", "sad": "frown", "sadder": "frown", "unhappy": "frown",
    "angry": "frown", "grumpy": "frown", "upset": "frown", "annoyed": "frown", "mad": "frown",
    "surprised": "raised_brows", "shocked": "raised_brows", "astonished": "raised_brows",
    "amazed": "raised_brows", "skeptical": "raised_brows", "curious": "raised_brows",
    "neutral": "neutral", "calm": "neutral", "serious": "neutral", "expressionless": "neutral",
    "sleepy": "closed_eyes", "asleep": "closed_eyes", "sleeping": "closed_eyes",
    "shout": "open_mouth", "shouting": "open_mouth", "yell": "open_mouth",
    "yelling": "open_mouth", "scream": "open_mouth", "screaming": "open_mouth",
    "gasp": "open_mouth", "gasping": "open_mouth", "sing": "open_mouth", "singing": "open_mouth",
    "laugh": "open_mouth", "laughing": "open_mouth",
}  # fmt: skip
_VERBS = (
    "smile|smiles|smiling|grin|grins|grinning|beam|beaming|frown|frowns|frowning|scowl|scowling"
)
_ADJS = (
    "happy|happier|cheerful|joyful|glad|sad|sadder|unhappy|angry|grumpy|upset|annoyed|mad"
    "|surprised|shocked|astonished|amazed|skeptical|curious|neutral|calm|serious|expressionless"
    "|sleepy|asleep|sleeping"
)
_SOUNDS = "shout|shouting|yell|yelling|scream|screaming|gasp|gasping|sing|singing|laugh|laughing"
_SIZE = (
    r"(?P<size>big|broad|wide|huge|large|slight|small|little|subtle|faint|gentle|soft|light|tiny"
    r"|warm|bright)"
)


def _express(ctx: Context, expression: str, amount: float) -> list[Any]:
    return [
        SetExpression(person=n, expression=expression, amount=round(amount, 3))
        for n in ctx.people()
    ]


def _strength(m: Match) -> float:
    size = (first(m, "size") or "").lower()
    if size in ("slight", "small", "little", "subtle", "faint", "gentle", "soft", "light", "tiny"):
        return 0.5
    said = qty(m)
    if said is not None and said.value is not None:
        found = fraction(said)
        if found is not None:
            return found
    return STRENGTH.of(said)


@rule(
    "faces.expression",
    rf"(?:{P}\s+)?(?:{q('q2')}\s+)?(?P<verb>{_VERBS}|{_SOUNDS})(?:\s+(?:more|again))?(?:\s+{q()})?",
    rf"(?:{P}\s+)?(?:look|be|seem|appear|become|act)\s+(?:{q('q2')}\s+)?(?P<adj>{_ADJS})(?:\s+{q()})?",
    rf"(?:{P}\s+)?(?:{q('q2')}\s+)?(?P<adj2>{_ADJS})",
    rf"(?:give|add|put)\s+(?:{P}\s+)?(?:a\s+|an\s+)?(?:{_SIZE}\s+)?(?P<noun>smile|grin|frown|scowl|(?:surprised|happy|sad|angry"
    rf"|neutral|blank|serious)\s+(?:expression|face|look))(?:\s+(?:to|on)\s+{P}(?:\s+face)?)?(?:\s+{q()})?",
    rf"(?:a\s+)?(?:{_SIZE}\s+)?(?P<noun2>smile|grin|frown)(?:\s+(?:for|on)\s+{P})?(?:\s+please)?",
    people=True,
)
def expression(m: Match, ctx: Context) -> list[Any]:
    said = (first(m, "verb", "adj", "adj2", "noun", "noun2") or "").lower().split()
    word = said[0] if said else ""
    if word == "blank":
        word = "neutral"
    name = EXPRESSION_WORDS.get(word)
    if name is None:
        return None  # type: ignore[return-value]
    return _express(ctx, name, 1.0 if name == "neutral" else _strength(m))


@rule(
    "faces.stop",
    rf"(?:stop|quit|no\s+(?:more\s+)?|without\s+(?:a\s+)?|(?:remove|take\s+away|get\s+rid\s+of|lose|drop|wipe\s+off)\s+{_OWN})"
    rf"(?P<verb>smil(?:e|ing)|frown(?:ing)?|grin(?:ning)?|scowl(?:ing)?)(?:\s+(?:from|off)\s+{P}(?:\s+face)?)?",
    rf"(?:{P}\s+)?(?:stops?|quits?)\s+(?P<verb2>smil|frown|grinn|scowl)ing",
    rf"(?:wipe|take)\s+the\s+(?P<verb3>smile|grin|frown)\s+off\s+{P}\s+face",
    rf"(?:{P}\s+)?(?:not|don'?t|doesn'?t)\s+(?P<verb4>smile|frown)",
    people=True,
)
def stop(m: Match, ctx: Context) -> list[Any]:
    word = (first(m, "verb", "verb2", "verb3", "verb4") or "").lower()
    name = "frown" if word.startswith(("frown", "scowl")) else "smile"
    return _express(ctx, name, 0.0)


@rule(
    "faces.eyes",
    rf"(?P<verb>close|shut|open)\s+{_OWN}eyes(?:\s+{q()})?",
    rf"(?:{P}\s+)?(?:with\s+)?(?:{P}\s+)?eyes\s+(?:(?:{q('q2')})\s+)?(?P<state>closed|shut|open|opened)",
    rf"(?:{P}\s+)?(?P<blink>blink|wink|sleep|nap|doze\s+off)",
    people=True,
)
def eyes(m: Match, ctx: Context) -> list[Any]:
    word = (first(m, "verb", "state", "blink") or "").lower()
    if word in ("open", "opened"):
        return _express(ctx, "closed_eyes", 0.0)
    return _express(ctx, "closed_eyes", _strength(m))


@rule(
    "faces.mouth",
    rf"(?P<verb>open|close|shut)\s+{_OWN}(?:mouth|lips)(?:\s+{q()})?",
    rf"(?:{P}\s+)?(?:with\s+)?(?:{P}\s+)?mouth\s+(?:(?:{q('q2')})\s+)?(?:wide\s+)?(?P<state>open|opened|closed|shut)",
    people=True,
)
def mouth(m: Match, ctx: Context) -> list[Any]:
    word = (first(m, "verb", "state") or "").lower()
    if word in ("close", "closed", "shut"):
        return _express(ctx, "open_mouth", 0.0)
    return _express(ctx, "open_mouth", _strength(m))


@rule(
    "faces.brows",
    rf"(?P<verb>raise|lift|arch|lower|relax|drop)\s+{_OWN}(?:eye)?brows?(?:\s+{q()})?",
    rf"(?:{P}\s+)?(?:(?:eye)?brows)\s+(?P<state>up|raised|down|lowered)",
    people=True,
)
def brows(m: Match, ctx: Context) -> list[Any]:
    word = (first(m, "verb", "state") or "").lower()
    if word in ("lower", "relax", "drop", "down", "lowered"):
        return _express(ctx, "raised_brows", 0.0)
    return _express(ctx, "raised_brows", _strength(m))


@rule(
    "faces.neutral",
    rf"(?:give\s+(?:{P}\s+)?|make\s+{P}\s+(?:have\s+)?|put\s+on\s+|use\s+)?(?:an?\s+)?(?:neutral|blank|straight|poker|relaxed|normal)"
    rf"\s+(?:expression|face|look)(?:\s+(?:for|on)\s+{P})?",
    rf"(?:make|set)\s+{_OWN}(?:expression|face)\s+(?:neutral|blank|normal)",
    rf"(?:reset|clear|remove)\s+{_OWN}(?:expression|facial\s+expression)s?",
    people=True,
)
def neutral(m: Match, ctx: Context) -> list[Any]:
    return _express(ctx, "neutral", 1.0)


# --- gestures ---------------------------------------------------------------------------------

_HAND = (
    rf"(?:(?:{P}|the|with)\s+)?(?:(?P<side>left|right|both|other)\s+)?(?:hands?|fists?|fingers?)"
)
_WITH = rf"(?:\s+(?:with|using|on|in)\s+{_HAND})?"


def _sides(ctx: Context, side: str | None) -> list[str]:
    if side == "both":
        return ["left", "right"]
    if side in ("left", "right"):
        return [side]
    if side == "other" and ctx.last_side in ("left", "right"):
        return ["right" if ctx.last_side == "left" else "left"]
    ctx.assume("the right hand (say “left hand” for the other)")
    return ["right"]


def _gesture(ctx: Context, gesture: str, side: str | None) -> list[Any]:
    sides = _sides(ctx, side.lower() if side else None)
    if len(sides) == 1:
        ctx.last_side = sides[0]
    return [SetGesture(person=n, side=s, gesture=gesture) for n in ctx.people() for s in sides]  # type: ignore[arg-type]


@rule(
    "faces.gesture",
    rf"(?:make|form|do|give|show|flash|throw|hold\s+up|put\s+up|sign|gesture)\s+(?:(?:{P}|us|me)\s+)?(?:a\s+|an\s+)?{GESTURE}"
    rf"(?:\s+(?:sign|gesture|hand\s+sign))?{_WITH}",
    rf"{GESTURE}(?:\s+(?:sign|gesture|hand\s+sign))?{_WITH}",
    rf"(?:{_HAND}\s+)(?:(?:in|into|to|as|making|doing|showing|forming|in\s+a|into\s+a|to\s+a)\s+)?(?:a\s+|an\s+)?{GESTURE}",
    rf"(?:turn|make|change|shape|form|curl|put|bend)\s+{_HAND}\s+(?:in|into|to|as)\s+(?:a\s+|an\s+)?{GESTURE}",
    people=True,
)
def gesture(m: Match, ctx: Context) -> list[Any]:
    said = " ".join(m["gesture"].lower().split())
    return _gesture(ctx, GESTURE_WORDS[said], first(m, "side"))


@rule(
    "faces.fist",
    rf"(?:clench|close|ball|tighten|squeeze)\s+{_HAND}(?:\s+(?:into\s+a\s+fist|tight|shut))?",
    rf"(?P<open>open|relax|spread|unclench|open\s+up|flatten)\s+{_HAND}(?:\s+(?:wide|open|out|flat))?",
    rf"(?P<spread>spread)\s+{_OWN}fingers(?:\s+(?:on|of)\s+{_HAND})?",
    people=True,
)
def fist(m: Match, ctx: Context) -> list[Any]:
    opened = first(m, "open", "spread") is not None
    return _gesture(ctx, "open_palm" if opened else "fist", first(m, "side"))


# Pointing with no object to aim at is a hand shape; at an object it is `limbs.point`.
_AIM = r"(?:something|the\s+camera|the\s+viewer|us|me|you|the\s+sky|up|ahead|forwards?|away)"


@rule(
    "faces.point",
    rf"point(?:\s+(?:at|to|towards?)\s+{_AIM})?{_WITH}",
    rf"point\s+(?:with\s+)?{_HAND}(?:\s+(?:index\s+)?finger)?(?:\s+(?:at|to|towards?)\s+{_AIM})?",
    rf"(?:{_HAND}\s+)(?:point|points|pointing)(?:\s+(?:at|to|towards?)\s+{_AIM})?",
    people=True,
)
def point(m: Match, ctx: Context) -> list[Any]:
    return _gesture(ctx, "point", first(m, "side"))
