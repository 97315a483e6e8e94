"""Moving in the version tree: undo, redo, go back to version N, start over."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.actions import GoToVersion, Redo, Undo
from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.rules.base import Match, first, rule
from image_interpreter.agent.interpreter.words import INT, integer

_TIMES = rf"(?:(?P<n>{INT})\s+times|(?P<twice>twice|thrice))"
_LAST = r"(?:(?:my|the|that)\s+)?(?:last\s+)?(?:change|edit|step|one|thing|action|move)"


def _count(m: Match) -> int:
    said = first(m, "n", "n2")
    if said:
        return max(1, integer(said))
    twice = first(m, "twice")
    return {"twice": 2, "thrice": 3}.get((twice or "").lower(), 1)


@rule(
    "history.undo",
    rf"undo(?:\s+(?:that|it|this|{_LAST}))?(?:\s+{_TIMES})?",
    rf"undo\s+(?:the\s+)?(?:last\s+)?(?P<n2>{INT})(?:\s+(?:changes|edits|steps|things|actions|moves))?",
    rf"(?:go|step|move)\s+back(?:\s+(?:(?P<n>{INT})|a|one)\s+(?:steps?|versions?|changes?))?",
    r"(?:revert|reverse|cancel|scratch|drop|discard)\s+(?:that|it|this|the\s+last\s+(?:change|edit|step|one))",
    r"take\s+(?:that|it)\s+back|back|never\s*mind|nope,?\s+undo|oops|revert|previous\s+version",
    r"i\s+(?:don'?t|do\s+not)\s+like\s+(?:that|it|this),?\s+(?:undo(?:\s+it)?|go\s+back|revert)",
)
def undo(m: Match, ctx: Context) -> list[Any]:
    return [Undo(steps=_count(m))]


@rule(
    "history.redo",
    rf"redo(?:\s+(?:that|it|this|{_LAST}))?(?:\s+{_TIMES})?",
    rf"redo\s+(?:the\s+)?(?:last\s+)?(?P<n2>{INT})(?:\s+(?:changes|edits|steps))?",
    r"(?:go|step|move)\s+forward(?:\s+again)?|undo\s+(?:the|that|my)\s+undo|put\s+(?:it|that)\s+back",
)
def redo(m: Match, ctx: Context) -> list[Any]:
    return [Redo(steps=_count(m))]


@rule(
    "history.version",
    rf"(?:(?:go|jump|switch|get|take\s+me)\s+(?:back\s+)?to|revert\s+(?:back\s+)?to|return\s+to"
    rf"|back\s+to|check\s*out|restore|load|open|use|show)\s+(?:the\s+)?(?:version|v|ver\.?|revision)"
    rf"\s*#?\s*(?P<n>{INT})",
    rf"(?:version|v)\s*#?\s*(?P<n2>{INT})(?:\s+please)?",
)
def version(m: Match, ctx: Context) -> list[Any]:
    number = integer(first(m, "n", "n2") or "1")
    if number < 1:
        ctx.problem("Versions are numbered from 1.", 0.2)
        return []
    return [GoToVersion(version=number)]


@rule(
    "history.start_over",
    r"start\s+(?:over|again|from\s+scratch)|reset(?:\s+(?:everything|it\s+all|all(?:\s+changes)?))?",
    r"(?:go|get)\s+back\s+to\s+(?:the\s+)?(?:start|beginning|original(?:\s+(?:pose|version|picture|image))?|first\s+version)",
    r"(?:revert|return|back)\s+to\s+(?:the\s+)?(?:original|start|beginning|first\s+version)",
    r"(?:restore|use)\s+the\s+original(?:\s+(?:pose|version|priors))?|undo\s+(?:everything|all(?:\s+(?:of\s+it|changes))?)",
)
def start_over(m: Match, ctx: Context) -> list[Any]:
    return [GoToVersion(version=1)]
