"""What the rules know while reading one message: the priors (if any), who was talked about
last, and, for the clause being read, its person reference and how sure the reading is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from image_interpreter.agent.interpreter.people import PersonRef, Scene
from image_interpreter.priors.schema import Person, PriorSet


class Context:
    """Shared by the clauses of a message, so 'raise her arm and make her smile' is about one
    person, and two 'no ...' clauses add up to one negative prompt."""

    def __init__(self, priors: PriorSet | None, last_person: int | None = None):
        self.priors = priors
        self.scene = Scene.of(priors)
        self.last_person = last_person
        self.last_side: str | None = None  # the arm talked about last ('lower it')
        caption = priors.caption if priors is not None else None
        self.negative: str | None = caption.negative if caption is not None else None
        self.begin(None)

    # --- per clause -----------------------------------------------------------------------

    def begin(self, ref: PersonRef | None, clause: str = "") -> None:
        self.ref = ref
        self.clause = clause  # as said, for rules about two people ('A and B hold hands')
        self.confidence = 1.0
        self.assumptions: list[str] = []
        self.problems: list[str] = []

    def assume(self, text: str, confidence: float = 0.9) -> None:
        """A default was taken (which hand, which way): still a reading, a little less sure."""
        self.assumptions.append(text)
        self.confidence = min(self.confidence, confidence)

    def problem(self, text: str, confidence: float = 0.3) -> None:
        """The reading is clear but cannot apply as said (no person 3, no depth prior)."""
        self.problems.append(text)
        self.confidence = min(self.confidence, confidence)

    def people(self) -> list[int]:
        """The person numbers this clause is about; remembers them for later pronouns."""
        found = self.scene.resolve(self.ref, self.last_person)
        self.confidence = min(self.confidence, found.confidence)
        if found.assumption:
            self.assumptions.append(found.assumption)
        if found.problem:
            self.problems.append(found.problem)
        if len(found.numbers) == 1:
            self.last_person = found.numbers[0]
        return found.numbers

    def person_model(self, number: int) -> Person | None:
        if self.priors is None or self.priors.people is None:
            return None
        people = self.priors.people.people
        return people[number - 1] if 1 <= number <= len(people) else None

    def prior(self, kind: str) -> Any:
        return getattr(self.priors, kind, None) if self.priors is not None else None

    def check_prior(self, kind: str, doing: str) -> None:
        """With priors, say so when the picture has no prior of `kind`."""
        if self.priors is None or self.prior(kind) is not None:
            return
        present = ", ".join(self.priors.priors()) or "none"
        self.problem(f"This picture has no {kind} prior to {doing} (it has: {present}).")

    def build(self, make: Callable[[], Any]) -> Any:
        """`make()`, or None with the validation problem noted (a seed of -1, a weight of 7)."""
        try:
            return make()
        except ValidationError as error:
            first = error.errors()[0]
            where = " ".join([error.title, *(str(p) for p in first["loc"])])
            message = first["msg"].removeprefix("Value error, ")
            self.problem(f"{where}: {message}", 0.2)
            return None
