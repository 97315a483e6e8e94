"""The rule registry, and the regex fragments rules are written with.

A rule is a name, one or more patterns (matched against a whole clause, case-insensitively)
and a handler `(match, context) -> list of actions | None` (None: not mine after all). Rules
with `people=True` see the clause with person references replaced by `@p`, and may be preceded
by 'make him' / 'have her' / 'get them to'. Rules are tried in registration order, which the
package sets family by family.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import QUANTITY_RE, Quantity, quantity

Match = re.Match[str]
Handler = Callable[[Match, Context], "list[Any] | None"]

P = r"@p"
# 'make him', 'have her', 'get them to', 'I'd like her to', 'could he', '@p should' before a
# person rule
LEAD = (
    rf"(?:(?:(?:make|have|let|get|tell|ask|want)\s+{P}\s+(?:to\s+)?)"
    rf"|(?:i'?d\s+like|i\s+would\s+like|i\s+want|i\s+need|i'?d\s+love)\s+{P}\s+to\s+"
    rf"|(?:could|can|would|will|should|might)\s+{P}\s+(?:please\s+)?"
    rf"|{P}\s+(?:should|must|needs?\s+to|has\s+to|will|could|can|is\s+going\s+to|is|are)\s+)?"
)


def q(name: str = "q") -> str:
    """A named, optional-free quantity group."""
    return rf"(?P<{name}>{QUANTITY_RE})"


@dataclass(frozen=True)
class Rule:
    name: str
    family: str
    patterns: tuple[re.Pattern[str], ...]
    handler: Handler
    people: bool


RULES: dict[str, Rule] = {}


def rule(name: str, *patterns: str, people: bool = False) -> Callable[[Handler], Handler]:
    """Register `handler` under `name` (unique, '<family>.<what>') for `patterns`."""

    def register(handler: Handler) -> Handler:
        if name in RULES:
            raise ValueError(f"Interpreter rule '{name}' is already registered.")
        lead = LEAD if people else ""
        compiled = tuple(re.compile(lead + p, re.IGNORECASE) for p in patterns)
        RULES[name] = Rule(name, name.split(".")[0], compiled, handler, people)
        return handler

    return register


def first(m: re.Match[str], *names: str) -> str | None:
    """The first of `names` that matched (patterns number alternative groups q, q2, ...)."""
    groups = m.re.groupindex
    for name in names:
        if name in groups and m[name]:
            return m[name]
    return None


def qty(m: re.Match[str], *names: str) -> Quantity | None:
    """The quantity of the first quantity group that matched (default names q, q2, q3, q4)."""
    return quantity(first(m, *(names or ("q", "q2", "q3", "q4"))))
