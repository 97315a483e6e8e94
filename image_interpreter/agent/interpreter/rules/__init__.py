"""Rules by family, tried in this order: the order settles phrases two families could claim
('remove the depth map' is a prior switched off before it is an object removed)."""

from __future__ import annotations

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.people import extract
from image_interpreter.agent.interpreter.result import Parsed
from image_interpreter.agent.interpreter.rules import (  # noqa: F401  (they register rules)
    bodies,
    controls,
    depth,
    faces,
    history,
    keep,
    limbs,
    objects,
    pose,
    posture,
    session,
    settings,
    text,
)
from image_interpreter.agent.interpreter.rules.base import RULES, Rule, rule

FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(r.family for r in RULES.values()))


def parse_clause(clause: str, ctx: Context) -> Parsed | None:
    """The first rule whose pattern matches the whole clause and whose handler accepts it."""
    form, ref = extract(clause)
    for entry in RULES.values():
        subject = form if entry.people else clause
        for pattern in entry.patterns:
            m = pattern.fullmatch(subject)
            if m is None:
                continue
            ctx.begin(ref if entry.people else None, clause)
            actions = entry.handler(m, ctx)
            if actions is None:
                continue
            return Parsed(
                clause, entry.name, list(actions), ctx.confidence, list(ctx.assumptions),
                list(ctx.problems),
            )  # fmt: skip
    return None


def matches(clause: str) -> bool:
    """Whether some rule's pattern matches the whole clause (no handler runs)."""
    form, _ = extract(clause)
    for entry in RULES.values():
        subject = form if entry.people else clause
        if any(p.fullmatch(subject) for p in entry.patterns):
            return True
    return False


__all__ = ["FAMILIES", "RULES", "Rule", "matches", "parse_clause", "rule"]
