"""Facial expressions: move face landmarks and set the person's expression scores.

Each expression is a displacement of landmarks in the face's own frame (see `templates`); the
change applied is (new score - current score) times that displacement, so setting the same
expression twice changes nothing and amount 0 takes it away again. Smile and frown exclude each
other. `neutral` replaces the landmarks with the neutral template fitted to the face's box."""

from __future__ import annotations

from typing import Literal

from image_interpreter.priors.edits import faces
from image_interpreter.priors.edits.base import (
    EditBase,
    PersonNumber,
    aspect,
    person_at,
    register_edit,
    replace_person,
)
from image_interpreter.priors.edits.templates import ExpressionName
from image_interpreter.priors.schema import PriorSet, Score


@register_edit
class SetExpression(EditBase):
    """Give a person an expression (smile, open_mouth, closed_eyes, raised_brows, frown, neutral)
    with strength `amount` from 0 (none) to 1 (full)."""

    op: Literal["set_expression"] = "set_expression"
    person: PersonNumber = 1
    expression: ExpressionName
    amount: Score = 1.0

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        changed = faces.set_expression(
            person, self.expression, self.amount, aspect(priors), self.person
        )
        return replace_person(priors, self.person, changed)

    def summary(self) -> str:
        who, n = f"person {self.person}'s", self.person
        if self.amount == 0:
            phrase = {"smile": f"took away {who} smile", "open_mouth": f"closed {who} mouth",
                      "closed_eyes": f"opened {who} eyes", "raised_brows": f"lowered {who} brows",
                      "frown": f"took away {who} frown",
                      "neutral": f"left {who} expression as it was"}  # fmt: skip
            return phrase[self.expression]
        phrase = {"smile": f"made person {n} smile", "open_mouth": f"opened {who} mouth",
                  "closed_eyes": f"closed {who} eyes", "raised_brows": f"raised {who} eyebrows",
                  "frown": f"made person {n} frown",
                  "neutral": f"gave person {n} a neutral expression"}  # fmt: skip
        strength = "" if self.amount == 1.0 else f" (at {self.amount:.0%})"
        return phrase[self.expression] + strength
