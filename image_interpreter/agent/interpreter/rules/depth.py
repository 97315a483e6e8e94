"""Depth: flatten it, push the background back, invert, blur, exaggerate. These set the depth
prior's adjustments (how it is rendered), so they are settings, not steps: 'flatten the depth
a bit' sets the flattening to 25%, whatever it was."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import Quantity, Scale, fraction
from image_interpreter.agent.interpreter.rules.base import Match, q, qty, rule
from image_interpreter.priors.edits import (
    BlurDepth,
    FlattenDepth,
    InvertDepth,
    PushBackground,
    ScaleDepth,
)

_DEPTH = r"(?:the\s+)?(?:depth(?:\s+map)?|depth\s+prior|scene(?:'s)?\s+depth)"
FLATTEN = Scale(small=0.25, medium=0.5, large=0.8, full=1.0, half=0.5)
PUSH = Scale(small=0.25, medium=0.5, large=0.8, full=1.0, half=0.5)
BLUR = Scale(small=0.01, medium=0.02, large=0.05, full=0.1, half=0.02)
DEEPEN = Scale(small=1.25, medium=1.5, large=2.0, full=3.0, half=1.25)


def amount(said: Quantity | None, scale: Scale, current: float = 0.0) -> float:
    """A 0-1 setting from what was said; 'a bit more' adds to the current setting."""
    if said is not None and said.value is not None and said.unit != "degrees":
        found = fraction(said)
        if found is not None:
            return found
    value = scale.of(said)
    if said is not None and said.more:
        value = current + value
    return round(min(1.0, value), 3)


def _adjust(ctx: Context, field: str) -> float:
    depth = ctx.prior("depth")
    return float(getattr(depth.adjust, field)) if depth is not None else 0.0


@rule(
    "depth.flatten",
    rf"(?:flatten|level|compress)(?:\s+out)?\s+{_DEPTH}(?:\s+{q()})?",
    rf"(?:flatten|level|compress)\s+{q('q2')}\s+{_DEPTH}",
    rf"(?:make\s+)?{_DEPTH}\s+(?:(?:{q('q3')})\s+)?(?:flatter|less\s+deep|shallower|flat)(?:\s+{q('q4')})?",
    rf"(?:make\s+(?:it|the\s+(?:scene|picture|image))\s+)(?:{q('q3')}\s+)?(?:flatter|less\s+deep|shallower)",
)
def flatten(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "flatten")
    return [FlattenDepth(amount=amount(qty(m), FLATTEN, _adjust(ctx, "flatten")))]


@rule(
    "depth.unflatten",
    rf"(?:unflatten|un-flatten|reset|restore)\s+(?:the\s+)?(?:depth\s+)?(?:flattening|flatness)"
    rf"|(?:unflatten|un-flatten)\s+{_DEPTH}|(?:stop|don'?t)\s+flatten(?:ing)?\s+{_DEPTH}",
)
def unflatten(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "change")
    return [FlattenDepth(amount=0.0)]


@rule(
    "depth.push",
    r"(?:push|move|send|shove|set)\s+(?:the\s+)?background\s+(?:(?:further|farther|more)\s+)?(?:back|away|backwards?"
    rf"|further|farther|into\s+the\s+distance)(?:\s+(?:further|farther|more))?(?:\s+{q()})?",
    rf"(?:push|move|send)\s+(?:the\s+)?background\s+{q('q2')}\s+(?:back|away|further|farther)",
    rf"(?:push|move)\s+(?:the\s+)?background\s+(?:back\s+)?{q('q4')}",
    rf"(?:make\s+)?(?:the\s+)?background\s+(?:(?:{q('q3')})\s+)?(?:further|farther|more\s+distant|further\s+away|farther"
    r"\s+away|recede|deeper)",
    r"(?:more|increase\s+the|add)\s+(?:depth\s+)?(?:separation|distance)(?:\s+(?:from|between)\s+(?:the\s+)?"
    r"(?:background|subject|foreground)(?:\s+and\s+(?:the\s+)?(?:background|foreground))?)?",
)
def push(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "push back")
    return [PushBackground(amount=amount(qty(m), PUSH, _adjust(ctx, "push_background")))]


@rule(
    "depth.invert",
    rf"(?:invert|reverse|flip|swap|negate|mirror)\s+{_DEPTH}",
    r"swap\s+(?:the\s+)?near\s+and\s+far|near\s+(?:becomes|is)\s+far|invert\s+depth|(?:make\s+)?near\s+"
    r"(?:things\s+)?far\s+and\s+far\s+(?:things\s+)?near",
)
def invert(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "invert")
    return [InvertDepth()]


@rule(
    "depth.blur",
    rf"(?:blur|smooth|soften|smooth\s+out)\s+{_DEPTH}(?:\s+{q()})?",
    rf"(?:blur|smooth|soften)\s+{q('q2')}\s+{_DEPTH}",
    rf"(?:make\s+)?{_DEPTH}\s+(?:(?:{q('q3')})\s+)?(?:blurrier|smoother|softer|blurry|smooth)",
)
def blur(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "blur")
    said = qty(m)
    if said is not None and said.value is not None:
        radius = fraction(said)
        radius = radius if radius is not None and radius <= 0.2 else None
        if radius is None:
            ctx.problem("The depth blur is a fraction of the width, from 0 to 0.2 (20%).", 0.2)
            return []
        return [BlurDepth(radius=round(radius, 4))]
    return [BlurDepth(radius=BLUR.of(said))]


@rule(
    "depth.deepen",
    rf"(?:exaggerate|deepen|amplify|enhance|increase|boost|stretch)\s+{_DEPTH}(?:\s+contrast)?(?:\s+{q()})?",
    rf"(?:more|stronger|increase\s+the)\s+depth\s+contrast(?:\s+{q('q2')})?|more\s+depth",
    rf"(?:make\s+)?{_DEPTH}\s+(?:(?:{q('q3')})\s+)?(?:deeper|more\s+pronounced|more\s+dramatic|more\s+extreme)",
    rf"make\s+(?:it|the\s+(?:scene|picture|image))\s+(?:(?:{q('q4')})\s+)?(?:deeper|more\s+three[-\s]dimensional|more\s+3d)",
)
def deepen(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "deepen")
    said = qty(m)
    factor = said.factor if said is not None and said.factor else DEEPEN.of(said)
    if said is not None and said.value is not None and said.unit == "percent":
        factor = 1 + said.value
    return [ScaleDepth(factor=round(factor, 3))]


@rule(
    "depth.reduce",
    rf"(?:reduce|lessen|decrease|lower|weaken|tone\s+down)\s+(?:the\s+)?depth\s+contrast(?:\s+{q()})?",
    r"less\s+depth\s+contrast",
)
def reduce(m: Match, ctx: Context) -> list[Any]:
    ctx.check_prior("depth", "reduce")
    said = qty(m)
    factor = 1 / (said.factor if said is not None and said.factor else DEEPEN.of(said))
    return [ScaleDepth(factor=round(factor, 3))]
