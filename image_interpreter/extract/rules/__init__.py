"""Expressions and gestures read from keypoints by documented geometric rules.

Pose networks locate landmarks; what a face or hand *does* (a smile, a fist) follows from their
geometry. The rules are pure functions on our `Face` and `Hand` models, measured in the face's or
hand's own frame (ratios of distances, angles), so they do not change with the picture's size,
the person's distance from the camera, a tilted head or a turned hand, nor with left versus right.
The labels are the ones edits use (`priors.edits.templates`), so what an edit makes, extraction
reads back. Scores are in [0, 1]; thresholds are set for adult faces and hands seen roughly
frontally, and degrade gracefully (towards 0) for profiles and occluded points.
"""

from __future__ import annotations

from image_interpreter.extract.rules.expression import (
    EXPRESSION_LABELS,
    expression_scores,
    eye_aspect_ratio,
    mouth_aspect_ratio,
)
from image_interpreter.extract.rules.gestures import (
    GESTURE_LABELS,
    finger_extension,
    gesture_scores,
)
from image_interpreter.priors.schema import Person

__all__ = [
    "EXPRESSION_LABELS",
    "GESTURE_LABELS",
    "annotate",
    "expression_scores",
    "eye_aspect_ratio",
    "finger_extension",
    "gesture_scores",
    "mouth_aspect_ratio",
]


def annotate(person: Person, aspect: float = 1.0, min_confidence: float = 0.1) -> Person:
    """`person` with `expression` read from the face and `gestures` from each hand; scores that
    are already there (from a model) win over the rules'."""
    expression = dict(person.expression)
    if person.face is not None:
        expression = {**expression_scores(person.face, aspect, min_confidence), **expression}
    hands = {
        side: hand.model_copy(
            update={"gestures": {**gesture_scores(hand, aspect, min_confidence), **hand.gestures}}
        )
        for side, hand in person.hands.items()
    }
    return person.model_copy(update={"expression": expression, "hands": hands})
