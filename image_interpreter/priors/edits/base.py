"""What every edit shares: the base model, the registry of ops, and lookups that fail helpfully.

An edit is a small pydantic model whose `op` field names it; `EDIT_TYPES` maps that name to the
class, filled by `@register_edit` next to each class. Edits are pure: `_run` builds a new PriorSet
(sharing the parts it does not touch) and never changes its input.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field

from image_interpreter.errors import EditError
from image_interpreter.priors.schema import (
    PRIOR_KINDS,
    Model,
    PeoplePrior,
    Person,
    Prior,
    PriorKind,
    PriorSet,
)

PersonNumber = Annotated[
    int, Field(ge=1, description="Which person, counted from 1 as a user says it.")
]


class EditBase(Model):
    """Base of every edit. Subclasses set `op: Literal["name"] = "name"` and implement `_run`."""

    model_config = ConfigDict(frozen=True)

    op: str

    @abstractmethod
    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        """The new PriorSet; `notes` collects what the user should know (a limit reached)."""

    @abstractmethod
    def summary(self) -> str:
        """One short sentence in the past tense, without looking at any priors."""


E = TypeVar("E", bound=type[EditBase])

EDIT_TYPES: dict[str, type[EditBase]] = {}


def register_edit(cls: E) -> E:
    """Class decorator: list an edit under its `op` name (the JSON discriminator)."""
    op = cls.model_fields["op"].default
    if not isinstance(op, str) or not op:
        raise TypeError(f"{cls.__name__} needs `op: Literal['name'] = 'name'`.")
    existing = EDIT_TYPES.get(op)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"Edit op '{op}' is already taken by {existing.__qualname__}.")
    EDIT_TYPES[op] = cls
    return cls


# --- lookups ---------------------------------------------------------------------------------


def aspect(priors: PriorSet) -> float:
    """Width over height of the picture: geometry is done in these proportions so that a
    rotation looks like a rotation, not a shear."""
    return priors.source.width / priors.source.height


def people_of(priors: PriorSet) -> PeoplePrior:
    if priors.people is None:
        raise EditError(
            "No people were found in this picture, so there is nobody to edit. Extract poses"
            " first, or edit the caption instead."
        )
    return priors.people


def person_at(priors: PriorSet, number: int) -> Person:
    """Person `number` (1-based), or an error that says how many people there are."""
    people = people_of(priors).people
    if not 1 <= number <= len(people):
        if not people:
            raise EditError(f"There is no person {number}: no people are left in this picture.")
        which = "person 1" if len(people) == 1 else f"people 1 to {len(people)}"
        raise EditError(
            f"There is no person {number}: this picture has {len(people)}"
            f" {'person' if len(people) == 1 else 'people'} ({which})."
        )
    return people[number - 1]


def with_people(priors: PriorSet, people: list[Person]) -> PriorSet:
    prior = people_of(priors)
    return priors.model_copy(update={"people": prior.model_copy(update={"people": people})})


def replace_person(priors: PriorSet, number: int, person: Person) -> PriorSet:
    people = list(people_of(priors).people)
    people[number - 1] = person
    return with_people(priors, people)


def prior_of(priors: PriorSet, kind: PriorKind, doing: str) -> Any:
    """The prior of `kind`, or an error naming the priors this picture does have."""
    prior = getattr(priors, kind) if kind in PRIOR_KINDS else None
    if prior is None:
        present = ", ".join(priors.priors()) or "none"
        raise EditError(
            f"Cannot {doing}: this picture has no {kind} prior. The priors it has: {present}."
        )
    return prior


def with_prior(priors: PriorSet, prior: Prior) -> PriorSet:
    return priors.model_copy(update={prior.kind: prior})


def degrees_text(value: float) -> str:
    return f"{value:g}°" if value == round(value, 1) else f"{value:.1f}°"
