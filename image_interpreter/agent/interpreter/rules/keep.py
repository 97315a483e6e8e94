"""Negations that ask for nothing: 'keep the arms as they are', 'don't move her legs', 'leave
the head alone'. They are read (so they are not taken for something else, a caption or a
style) and change nothing. 'Don't use the depth' is another thing: it switches a prior off
(`controls`)."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.rules.base import Match, P, rule

_THING = (
    rf"(?:(?:{P}|the|everything|all|both)\s+)?(?:(?:left|right|other)\s+)?"
    r"(?:arms?|hands?|legs?|feet|foot|knees?|elbows?|head|face|pose|posture|body|torso"
    r"|shoulders?|rest|else|everything\s+else|expression|people|person|it|that|this|them|those"
    r"|@p)"
)
_AS_IS = (
    r"(?:as\s+(?:it\s+is|(?:they|@p)\s+are|is|before|it\s+was|(?:they|@p)\s+were)|alone|unchanged"
    r"|untouched|the\s+same|where\s+(?:it\s+is|(?:they|@p)\s+are)|still|in\s+place"
    r"|how\s+(?:it\s+is|(?:they|@p)\s+are))"
)
_CHANGE = (
    r"(?:move|change|touch|bend|raise|lower|turn|rotate|alter|modify|edit|adjust|mess\s+with"
    r"|lift|drop|straighten|tilt|cross|pose)"
)


@rule(
    "keep.unchanged",
    rf"(?:keep|leave)\s+{_THING}(?:\s+and\s+{_THING})*\s+{_AS_IS}",
    rf"(?:do\s+not|don'?t|never|no\s+need\s+to)\s+{_CHANGE}\s+{_THING}(?:\s+and\s+{_THING})*(?:\s+{_AS_IS})?",
    rf"{_THING}\s+(?:should\s+)?(?:stays?|remains?)\s+{_AS_IS}",
    people=True,
)
def unchanged(m: Match, ctx: Context) -> list[Any]:
    return []
