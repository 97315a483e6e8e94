"""The built-in command interpreter: English -> actions, without an LLM, in well under a
millisecond.

    interpret("raise her left arm a bit and drop the depth map", priors)

reads the message clause by clause (`clauses`), finds who each clause is about (`people`) and
how much (`quantities`), and lets the first rule of `rules` that reads the whole clause build
the actions: typed `Edit`s, plus `Undo`, `Redo`, `GoToVersion`, `Generate`, `ShowPriors` and
`Help`. Given the priors it checks references (there is no person 3 in a picture of one) and
says so; confidence is high (>= 0.8) only when every clause was read unambiguously.

Left and right: a body part is the subject's own ("her left arm"); a place is the picture's
("the woman on the left", "move him to the left"). See `people`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from image_interpreter.agent.interpreter import vocabulary
from image_interpreter.agent.interpreter.actions import (
    ACTION_ADAPTER,
    ACTION_LIST_ADAPTER,
    HISTORY_ACTIONS,
    OTHER_ACTIONS,
    Action,
    ActionBase,
    Generate,
    GoToVersion,
    Help,
    Redo,
    ShowPriors,
    Undo,
    UseCandidate,
)
from image_interpreter.agent.interpreter.clauses import split
from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.people import last_person
from image_interpreter.agent.interpreter.reply import EXAMPLES, compose, help_text
from image_interpreter.agent.interpreter.result import HIGH, Interpretation, Parsed
from image_interpreter.agent.interpreter.rules import RULES, matches, parse_clause
from image_interpreter.agent.interpreter.words import tidy
from image_interpreter.priors.schema import PriorSet

History = Sequence[Any]
"""Earlier Interpretations (or stored version edits, dicts with 'actions'), oldest first."""

MAX_CHARS = 2000


def interpret(
    text: str, priors: PriorSet | None = None, *, history: History | None = None
) -> Interpretation:
    """Read `text` as commands. `priors` (the current version) lets references be checked and
    relative changes ('stronger') start from the current values; `history` tells who 'him' is."""
    message = text[:MAX_CHARS]
    last = last_person(history)
    found = _read(text, message, priors, last, [])
    if found.unparsed:  # perhaps a typo: read again with the words one keystroke away
        fixed, notes = vocabulary.corrected(message)
        if notes:
            again = _read(text, fixed, priors, last, notes)
            if len(again.unparsed) < len(found.unparsed):
                return again
    return found


def _read(
    text: str, message: str, priors: PriorSet | None, last: int | None, corrections: list[str]
) -> Interpretation:
    ctx = Context(priors, last)
    parsed: list[Parsed] = []
    unparsed: list[str] = []
    understood: list[str] = []
    clauses = ["?"] if message.strip() == "?" else split(message, lambda t: matches(tidy(t)))
    for clause in clauses:
        said = "?" if clause == "?" else tidy(clause)
        if not said:  # an aside ('ok', 'thanks') or punctuation
            continue
        found = parse_clause(said, ctx)
        if found is None:
            unparsed.append(said)
            continue
        parsed.append(found)
        meaning = "; ".join(a.summary() for a in found.actions) or "nothing to do"
        understood.append(f"“{said}” → {meaning}")
    problems = [p for f in parsed for p in f.problems]
    assumptions = [*corrections, *(a for f in parsed for a in f.assumptions)]
    total = len(parsed) + len(unparsed)
    if not parsed:
        confidence = 0.0
    else:
        confidence = min(f.confidence for f in parsed) * len(parsed) / total
        if not any(f.actions for f in parsed) and not all(
            f.rule.startswith("keep.") for f in parsed
        ):
            confidence = min(confidence, 0.3)  # read, but nothing to do (a negation is clear)
    if corrections:
        confidence = min(confidence, 0.85)  # a typo read as a known word: said in the reply
    actions = [a for f in parsed for a in f.actions]
    return Interpretation(
        text=text,
        actions=actions,
        understood=understood,
        unparsed=unparsed,
        problems=problems,
        assumptions=assumptions,
        confidence=round(confidence, 3),
        reply=compose(parsed, unparsed, problems, assumptions),
        last_person=ctx.last_person,
    )


__all__ = [
    "ACTION_ADAPTER",
    "ACTION_LIST_ADAPTER",
    "EXAMPLES",
    "HIGH",
    "HISTORY_ACTIONS",
    "OTHER_ACTIONS",
    "RULES",
    "Action",
    "ActionBase",
    "Generate",
    "GoToVersion",
    "Help",
    "Interpretation",
    "Redo",
    "ShowPriors",
    "Undo",
    "UseCandidate",
    "help_text",
    "interpret",
]
