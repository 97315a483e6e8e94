"""Reaching edits: a hand on a body part ("left hand on the head", "touch the left knee with the
right hand"), pointing at an object ("point at the dog"), and two people's hands meeting ("they
hold hands", "shake hands"). All solve the arm with two-bone IK (`ik`), so bone lengths and
joint limits hold; where a target is out of reach the arm stretches towards it and the edit's
description says how far it stayed."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import hands, ik
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.base import (
    EditBase,
    PersonNumber,
    aspect,
    person_at,
    prior_of,
    register_edit,
    replace_person,
)
from image_interpreter.priors.edits.objects import ObjectRef, find_object
from image_interpreter.priors.schema import Person, PriorSet


def _miss_note(reached: ik.Reached, aspect_: float, who: str, what: str) -> list[str]:
    if reached.reached(aspect_):
        return []
    share = reached.miss / math.hypot(aspect_, 1.0)
    return [f"{who} cannot reach {what}: it stopped {share:.0%} of the picture short"]


def _part_words(part: str) -> str:
    return {"back": "behind the back", "face": "in front of the face"}.get(
        part, "on the " + part.replace("_", " ")
    )


@register_edit
class Reach(EditBase):
    """Put a hand (the subject's own `side`) on a body part: head, face (in front of it), mouth,
    neck, chest, belly, back (behind it), a shoulder, elbow, hip, knee or ankle; of the same
    person, or of person `of`. The arm bends at the elbow to get there (two-bone IK); with
    `limb` "leg" the foot goes there instead, bending the knee ('right foot on the left knee')."""

    op: Literal["reach"] = "reach"
    person: PersonNumber = 1
    side: Literal["left", "right"] = Field("right", description="The reaching hand or foot.")
    to: ik.BodyPart
    of: PersonNumber | None = Field(None, description="Whose body part; None: their own.")
    limb: Literal["arm", "leg"] = Field("arm", description="arm: the hand reaches; leg: the foot.")

    @model_validator(mode="after")
    def _not_itself(self) -> Reach:
        own = self.of is None or self.of == self.person
        parts = ("elbow", "shoulder") if self.limb == "arm" else ("knee", "hip", "ankle")
        if own and self.to in tuple(f"{self.side}_{p}" for p in parts):
            raise ValueError(
                f"the {self.side} {self.limb} cannot reach its own {self.to.split('_')[1]}"
            )
        return self

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        a = aspect(priors)
        person = person_at(priors, self.person)
        owner = person if self.of in (None, self.person) else person_at(priors, self.of)
        target = ik.body_target(owner, self.to, self.side, a, self.of or self.person)
        reached = ik.solve(person, self.limb, self.side, target, a, notes, self.person)
        notes.extend(_miss_note(reached, a, f"person {self.person}'s {self.side} {self._end()}",
                                self._where()))  # fmt: skip
        moved = reached.person
        if self.to == "back" and self.limb == "arm":
            moved = _hidden(moved, self.side)
        return replace_person(priors, self.person, moved)

    def _where(self) -> str:
        whose = "" if self.of in (None, self.person) else f" of person {self.of}"
        return _part_words(self.to) + whose

    def _end(self) -> str:
        return "hand" if self.limb == "arm" else "foot"

    def summary(self) -> str:
        return f"put person {self.person}'s {self.side} {self._end()} {self._where()}"


def _hidden(person: Person, side: str) -> Person:
    """The hand behind the back is not seen: its points are kept, with confidence 0."""
    body = dict(person.body)
    for name in kin.hand_points(side):
        kp = body.get(name)  # type: ignore[call-overload]
        if kp is not None:
            body[name] = kp.model_copy(update={"confidence": 0.0})  # type: ignore[index]
    update: dict[str, object] = {"body": body}
    hand = person.hands.get(side)  # type: ignore[call-overload]
    if hand is not None:
        keypoints = {
            n: kp.model_copy(update={"confidence": 0.0}) for n, kp in hand.keypoints.items()
        }
        update["hands"] = {**person.hands, side: hand.model_copy(update={"keypoints": keypoints})}
    return person.model_copy(update=update)


@register_edit
class PointAt(EditBase):
    """Point a straight arm (the subject's own `side`) at an object's box, the hand in the
    pointing gesture."""

    op: Literal["point_at"] = "point_at"
    person: PersonNumber = 1
    side: Literal["left", "right"] = "right"
    target: ObjectRef

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        a = aspect(priors)
        objects = prior_of(priors, "objects", f"point at {self.target.text()}").objects
        box = objects[find_object(objects, self.target)].box
        goal = ((box.x0 + box.x1) / 2 * a, (box.y0 + box.y1) / 2)
        person = person_at(priors, self.person)
        shoulder = kin.point(person, f"{self.side}_shoulder", a)
        if shoulder is None:
            raise EditError(
                f"Person {self.person}'s {self.side} shoulder was not seen, so they cannot point."
                " Place it first (move_joint with `to`)."
            )
        if g.length(g.sub(goal, shoulder)) == 0:
            raise EditError(f"{self.target.text()} is at person {self.person}'s shoulder.")
        direction = g.unit(g.sub(goal, shoulder))
        posed = kin.point_limb(person, f"{self.side}_upper_arm", direction, a, notes, self.person)
        posed = kin.point_limb(posed, f"{self.side}_forearm", direction, a, notes, self.person)
        posed = hands.set_gesture(posed, self.side, "point", a, self.person)
        return replace_person(priors, self.person, posed)

    def summary(self) -> str:
        return (
            f"made person {self.person} point at {self.target.text()} with their {self.side} hand"
        )


@register_edit
class JoinHands(EditBase):
    """Two people's hands meet between them: `hold` (the hands nearest each other, low, as
    when walking hand in hand) or `shake` (both right hands, at waist height)."""

    op: Literal["join_hands"] = "join_hands"
    person: PersonNumber = 1
    other: PersonNumber = 2
    how: Literal["hold", "shake"] = "hold"

    @model_validator(mode="after")
    def _two(self) -> JoinHands:
        if self.person == self.other:
            raise ValueError("join_hands needs two different people")
        return self

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        a = aspect(priors)
        one, two = person_at(priors, self.person), person_at(priors, self.other)
        sides = ("right", "right") if self.how == "shake" else (
            _near_side(one, two, a, self.person), _near_side(two, one, a, self.other))  # fmt: skip
        shoulders = [_shoulder(p, s, a, n) for p, s, n in
                     ((one, sides[0], self.person), (two, sides[1], self.other))]  # fmt: skip
        arms = [_arm_length(p, s, a) for p, s in ((one, sides[0]), (two, sides[1]))]
        drop = (0.8 if self.how == "hold" else 0.55) * min(arms)
        meet = g.add(g.mid(*shoulders), (0.0, drop))
        result = priors
        for number, person, side in ((self.person, one, sides[0]), (self.other, two, sides[1])):
            reached = ik.solve(person, "arm", side, meet, a, notes, number)
            notes.extend(_miss_note(reached, a, f"person {number}'s {side} hand",
                                    "the other's hand"))  # fmt: skip
            result = replace_person(result, number, reached.person)
        return result

    def summary(self) -> str:
        verb = "hold hands" if self.how == "hold" else "shake hands"
        return f"made people {self.person} and {self.other} {verb}"


def _shoulder(person: Person, side: str, aspect_: float, number: int) -> g.Vec:
    found = kin.point(person, f"{side}_shoulder", aspect_)
    if found is None:
        raise EditError(
            f"Person {number}'s {side} shoulder was not seen, so that hand cannot reach."
        )
    return found


def _arm_length(person: Person, side: str, aspect_: float) -> float:
    s, e, w = (kin.point(person, f"{side}_{j}", aspect_) for j in ("shoulder", "elbow", "wrist"))
    if s is None or e is None or w is None:
        return 0.0
    return g.length(g.sub(e, s)) + g.length(g.sub(w, e))


def _near_side(person: Person, other: Person, aspect_: float, number: int) -> str:
    """The side of `person` whose shoulder is nearer `other`."""
    centre = g.extent(other)
    if centre is None:
        raise EditError(f"The person beside person {number} has no keypoints to reach for.")
    x = (centre[0] + centre[2]) / 2 * aspect_
    distances = {
        side: abs(p[0] - x)
        for side in ("left", "right")
        if (p := kin.point(person, f"{side}_shoulder", aspect_)) is not None
    }
    if not distances:
        raise EditError(f"Person {number}'s shoulders were not seen, so no hand can reach.")
    return min(distances, key=distances.__getitem__)
