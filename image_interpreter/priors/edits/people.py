"""Whole-person edits: move, scale, mirror, remove, duplicate, and copy a pose from elsewhere.

Boxes are kept inside the picture; an edit that would leave a person entirely outside it is
refused (remove the person instead)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from image_interpreter.priors.edits import bodies
from image_interpreter.priors.edits.base import (
    EditBase,
    PersonNumber,
    aspect,
    people_of,
    person_at,
    register_edit,
    replace_person,
    with_people,
)
from image_interpreter.priors.schema import Person, PriorSet

Offset = Annotated[
    float, Field(ge=-1.0, le=1.0, description="Fraction of the picture's width or height.")
]


@register_edit
class MovePerson(EditBase):
    """Shift a person by (`dx`, `dy`), fractions of the picture (x right, y down)."""

    op: Literal["move_person"] = "move_person"
    person: PersonNumber = 1
    dx: Offset = 0.0
    dy: Offset = 0.0

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        moved = bodies.translate(person, self.dx, self.dy, self.person)
        return replace_person(priors, self.person, moved)

    def summary(self) -> str:
        return f"moved person {self.person} by ({self.dx:+.2f}, {self.dy:+.2f})"


@register_edit
class ScalePerson(EditBase):
    """Make a person bigger or smaller by `factor`, about their centre or their feet (which
    stay on the ground)."""

    op: Literal["scale_person"] = "scale_person"
    person: PersonNumber = 1
    factor: float = Field(ge=0.1, le=10.0)
    anchor: Literal["center", "feet"] = "center"

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        scaled = bodies.scale(person, self.factor, self.anchor, self.person)
        return replace_person(priors, self.person, scaled)

    def summary(self) -> str:
        about = "their feet" if self.anchor == "feet" else "their centre"
        return f"scaled person {self.person} by {self.factor:g} about {about}"


@register_edit
class MirrorPerson(EditBase):
    """Flip a person left to right about their own centre. Their left and right swap names
    too (joints, hands, face landmarks), so the result is a valid person facing the other way."""

    op: Literal["mirror_person"] = "mirror_person"
    person: PersonNumber = 1

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return replace_person(priors, self.person, bodies.mirror(person_at(priors, self.person)))

    def summary(self) -> str:
        return f"mirrored person {self.person}"


@register_edit
class RemovePerson(EditBase):
    """Take a person out; later people move up one number."""

    op: Literal["remove_person"] = "remove_person"
    person: PersonNumber = 1

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person_at(priors, self.person)
        people = list(people_of(priors).people)
        del people[self.person - 1]
        return with_people(priors, people)

    def summary(self) -> str:
        return f"removed person {self.person}"


@register_edit
class DuplicatePerson(EditBase):
    """Add a copy of a person, shifted by (`dx`, `dy`); without `dx` the copy stands beside
    the original, on whichever side has room. The copy becomes the last person."""

    op: Literal["duplicate_person"] = "duplicate_person"
    person: PersonNumber = 1
    dx: float | None = Field(None, ge=-1.0, le=1.0)
    dy: Offset = 0.0

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        people = people_of(priors).people
        dx = self.dx if self.dx is not None else bodies.beside(person)
        copy = bodies.translate(person, dx, self.dy, self.person)
        if copy.label:
            copy = copy.model_copy(update={"label": f"{copy.label} (copy)"})
        notes.append(f"the copy is person {len(people) + 1}")
        return with_people(priors, [*people, copy])

    def summary(self) -> str:
        if self.dx is None:
            return f"duplicated person {self.person} beside them"
        return f"duplicated person {self.person}, shifted by ({self.dx:+.2f}, {self.dy:+.2f})"


@register_edit
class CopyPose(EditBase):
    """Give a person the pose of another person (from another picture, inline so the edit is
    self-contained). With `fit`, the pose is scaled to this person's torso (or box) and placed
    where they stand; without, its coordinates are used as they are. `pose_aspect` is the
    width/height of the pose's own picture (default: the same as this one)."""

    op: Literal["copy_pose"] = "copy_pose"
    person: PersonNumber = 1
    pose: Person
    fit: bool = True
    pose_aspect: float | None = Field(None, gt=0.05, le=20.0)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        posed = bodies.copy_pose(
            person, self.pose, self.fit, aspect(priors), self.pose_aspect, self.person
        )
        return replace_person(priors, self.person, posed)

    def summary(self) -> str:
        source = f" of {self.pose.label}" if self.pose.label else ""
        return f"gave person {self.person} the pose{source}"
