"""Whole people: move, scale, mirror, remove, duplicate. Directions are the picture's: 'move
him to the left' moves him towards the left edge of the picture."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.people import _centre_x
from image_interpreter.agent.interpreter.quantities import Scale
from image_interpreter.agent.interpreter.rules.base import Match, P, first, q, qty, rule
from image_interpreter.agent.interpreter.rules.pose import distance, offset
from image_interpreter.agent.interpreter.words import REMOVE
from image_interpreter.priors.edits import (
    DuplicatePerson,
    MirrorPerson,
    MovePerson,
    RemovePerson,
    ScalePerson,
)

SHIFT = Scale(small=0.05, medium=0.1, large=0.25, full=0.4, half=0.2)
GROW = Scale(small=1.1, medium=1.25, large=1.5, full=2.0, half=1.5)
SHRINK = Scale(small=0.9, medium=0.8, large=0.6, full=0.5, half=0.5)

_WHERE = (
    r"(?:(?:over|more|further|a\s+bit|a\s+little)\s+)?(?:to(?:wards?)?\s+the\s+|towards?\s+the\s+|to\s+)?"
    r"(?P<dir>left|right|up|down|upwards?|downwards?|higher|lower|leftwards?|rightwards?|top|bottom"
    r"|center|centre|middle)(?:\s+(?:side|edge|of\s+the\s+(?:picture|image|frame)))?"
)


@rule(
    "bodies.move",
    rf"(?:move|shift|slide|nudge|push|bring|drag|put|place|walk|step)\s+{P}(?:\s+{q()})?\s+{_WHERE}(?:\s+{q('q2')})?",
    rf"(?:{P}\s+)?(?:move|shift|step|walk|slide)(?:\s+{q('q3')})?\s+{_WHERE}(?:\s+{q('q4')})?",
    people=True,
)
def move(m: Match, ctx: Context) -> list[Any]:
    direction = m["dir"].lower()
    actions = []
    for n in ctx.people():
        if direction in ("center", "centre", "middle"):
            person = ctx.person_model(n)
            x = _centre_x(person) if person is not None else None
            if x is None:
                ctx.problem(f"I need the priors to know where person {n} is, to centre them.", 0.5)
                continue
            actions.append(MovePerson(person=n, dx=round(0.5 - x, 4)))
            continue
        across = "left" in direction or "right" in direction
        dx, dy = offset(direction, distance(ctx, qty(m), SHIFT, across))
        found = ctx.build(
            lambda n=n, dx=dx, dy=dy: MovePerson(person=n, dx=round(dx, 4), dy=round(dy, 4))
        )
        if found:
            actions.append(found)
    return actions


_BIG = r"bigger|larger|taller|huge|big|large|greater"
_SMALL = r"smaller|shorter|tiny|small|tinier|little|less\s+tall"


@rule(
    "bodies.scale",
    rf"(?:{P}\s+)?(?:(?:look|appear|be|seem)\s+)?(?:{q()}\s+)?(?P<adj>{_BIG}|{_SMALL})(?:\s+{q('q2')})?",
    rf"(?P<verb>enlarge|shrink|grow|scale\s+up|scale\s+down|upscale|downscale|resize|scale|magnify)\s+{P}"
    rf"(?:\s+(?:up|down))?(?:\s+(?:by\s+)?{q('q3')})?",
    rf"(?:{P}\s+)?(?:(?:twice|double)|(?P<half>half)|(?P<times>\w+)\s+times)\s+(?:as\s+)?(?:big|large|tall|the\s+size)",
    rf"(?:{P}\s+)?(?P<pct>\d+(?:\.\d+)?)\s*%\s+(?:of\s+)?(?:the\s+)?(?:size|as\s+big)",
    people=True,
)
def scale(m: Match, ctx: Context) -> list[Any]:
    text = m.group(0).lower()
    said = qty(m)
    adj = (first(m, "adj") or "").lower()
    verb = (first(m, "verb") or "").lower()
    shrink = bool(adj and adj.split()[0] in _SMALL.split("|")) or verb.startswith(
        ("shrink", "scale down", "downscale")
    )
    if first(m, "pct"):
        factor = float(m["pct"]) / 100
    elif first(m, "half"):
        factor = 0.5
    elif "twice" in text or "double" in text:
        factor = 2.0
    elif first(m, "times"):
        from image_interpreter.agent.interpreter.words import number

        try:
            factor = number(m["times"])
        except ValueError:
            return None  # type: ignore[return-value]
    elif said is not None and said.factor is not None:
        factor = said.factor
    elif said is not None and said.value is not None:
        change = said.value if said.unit == "percent" or said.value < 1 else said.value / 100
        grown = 1 - change if shrink else 1 + change
        factor = change if said.mode == "to" else grown
    else:
        factor = (SHRINK if shrink else GROW).of(said)
    anchor = "feet" if adj.startswith(("taller", "shorter", "less tall")) else "center"
    return [
        a
        for n in ctx.people()
        if (
            a := ctx.build(
                lambda n=n: ScalePerson(person=n, factor=round(factor, 3), anchor=anchor)
            )
        )
    ]


@rule(
    "bodies.mirror",
    rf"(?:mirror|flip|reflect)(?:\s+(?:the\s+)?(?:{P}\s+)?(?:pose|person|figure|skeleton|body))?"
    r"(?:\s+(?:horizontally|left\s+to\s+right|left-right|around|over))?",
    rf"(?:mirror|flip|reflect)\s+{P}(?:\s+(?:pose|body|skeleton))?(?:\s+(?:horizontally|left\s+to\s+right|around|over))?",
    rf"(?:{P}\s+)?(?:face|look)\s+the\s+other\s+way|turn\s+{P}\s+around",
    people=True,
)
def mirror(m: Match, ctx: Context) -> list[Any]:
    return [MirrorPerson(person=n) for n in ctx.people()]


@rule(
    "bodies.remove",
    rf"(?:{REMOVE}|take|kick|cut)\s+{P}(?:\s+out)?(?:\s+(?:from|of|out\s+of)\s+the\s+(?:picture|image|photo|scene|frame|shot))?",
    rf"(?:{P}\s+)?(?:leave|go\s+away|disappear|vanish)|(?:i\s+)?(?:don'?t|do\s+not)\s+want\s+{P}(?:\s+in\s+(?:it|the\s+picture))?",
    people=True,
)
def remove(m: Match, ctx: Context) -> list[Any]:
    numbers = ctx.people()
    return [RemovePerson(person=n) for n in sorted(numbers, reverse=True)]


@rule(
    "bodies.duplicate",
    rf"(?:duplicate|clone|copy|double|twin)\s+{P}",
    rf"(?:add|make|create|put|place|insert)\s+(?:a|an|another|one\s+more)\s+(?:copy|duplicate|clone|twin)\s+of\s+{P}"
    rf"(?:\s+(?:next\s+to|beside|by)\s+{P})?",
    rf"(?:add|make|create|put)\s+(?:another|one\s+more|a\s+second)\s+(?:one|person)\s+(?:like|just\s+like)\s+{P}",
    people=True,
)
def duplicate(m: Match, ctx: Context) -> list[Any]:
    return [DuplicatePerson(person=n) for n in ctx.people()]
