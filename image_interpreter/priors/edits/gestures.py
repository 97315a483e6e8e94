"""Hand gestures: replace a hand's 21 keypoints with a canonical template (see `templates`).

The template is fitted to the hand as it is: same wrist, same size (wrist to middle knuckle),
same direction (wrist towards middle knuckle) and same side facing the camera. A person with no
keypoints for that hand gets one built along the forearm, sized from the forearm's length."""

from __future__ import annotations

from typing import Literal

from image_interpreter.priors.edits import hands
from image_interpreter.priors.edits.base import (
    EditBase,
    PersonNumber,
    aspect,
    person_at,
    register_edit,
    replace_person,
)
from image_interpreter.priors.edits.templates import GestureName
from image_interpreter.priors.schema import PriorSet, Side


@register_edit
class SetGesture(EditBase):
    """Shape a hand (the subject's own left or right) into a gesture: fist, open_palm, point,
    victory, thumbs_up or ok."""

    op: Literal["set_gesture"] = "set_gesture"
    person: PersonNumber = 1
    side: Side
    gesture: GestureName

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        shaped = hands.set_gesture(person, self.side, self.gesture, aspect(priors), self.person)
        return replace_person(priors, self.person, shaped)

    def summary(self) -> str:
        gesture = self.gesture.replace("_", " ")
        return f"made person {self.person}'s {self.side} hand a {gesture}"
