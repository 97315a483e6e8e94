"""Pose networks' outputs -> our `Person` objects: named joints, normalised coordinates,
confidences in [0, 1], hands as the subject's own left and right, 70 named face landmarks.

Readers here take the detectors' own result types as they come (controlnet-aux's `PoseResult`
with `BodyResult`/`Keypoint`, its DWPose whole-body arrays) and import nothing heavy, so they can
be tested on results built by hand with known coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from image_interpreter.extract.rules import annotate
from image_interpreter.priors.joints import FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.schema import Box, Face, Hand, Keypoint, Person

# DWPose (COCO-WholeBody, reordered by controlnet-aux): 18 OpenPose body points, 6 foot points,
# 68 face points (no pupils), the subject's left hand, then the right hand.
WHOLEBODY_FEET = ("left_big_toe", "left_small_toe", "left_heel",
                  "right_big_toe", "right_small_toe", "right_heel")  # fmt: skip
_FACE_AT, _LEFT_HAND_AT, _RIGHT_HAND_AT, WHOLEBODY_POINTS = 24, 92, 113, 134


def keypoint(x: float, y: float, score: float) -> Keypoint | None:
    """A keypoint in the picture's frame, or None for a point off the picture or not found
    (controlnet-aux marks those with negative coordinates)."""
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        return None
    return Keypoint(x=float(x), y=float(y), confidence=min(1.0, max(0.0, float(score))))


def _named(names: Sequence[str], points: Iterable[Keypoint | None]) -> dict[str, Keypoint]:
    return {name: point for name, point in zip(names, points, strict=False) if point is not None}


def person_from_pose_result(result: Any, min_confidence: float = 0.0) -> Person | None:
    """One controlnet-aux OpenPose `PoseResult` (coordinates already normalised) -> a Person.

    Its `left_hand` is the subject's own left (found from joints 5-7, left shoulder, elbow and
    wrist). OpenPose's hand network reports no per-point score, so hand points carry their
    wrist's confidence. A face list that is not 70 (or 70 + background) points long cannot be
    named point by point and is left out."""

    def read(kp: Any, cap: float = 1.0) -> Keypoint | None:
        if kp is None:
            return None
        point = keypoint(kp.x, kp.y, min(float(getattr(kp, "score", 1.0)), cap))
        return point if point is not None and point.confidence >= min_confidence else None

    body = _named(OPENPOSE_BODY_18, (read(kp) for kp in result.body.keypoints))
    if not body:
        return None
    hands = {}
    for side, points in (("left", result.left_hand), ("right", result.right_hand)):
        wrist = body.get(f"{side}_wrist")
        if points and wrist is not None:
            hand = _named(HAND_21, (read(kp, wrist.confidence) for kp in points))
            if hand:
                hands[side] = Hand(keypoints=hand)
    face = None
    if result.face is not None and len(result.face) in (70, 71):
        landmarks = _named(FACE_70, (read(kp) for kp in result.face[:70]))
        face = Face(landmarks=landmarks) if landmarks else None
    return boxed(Person(body=body, hands=hands, face=face))


def people_from_wholebody(
    keypoints: Any,
    scores: Any,
    width: int,
    height: int,
    threshold: float = 0.3,
    *,
    hands: bool = True,
    face: bool = True,
) -> list[Person]:
    """controlnet-aux's DWPose `Wholebody` output -> people.

    `keypoints` is (people, 134, 2) in pixels of a width x height picture, `scores` (people, 134);
    points scoring below `threshold` (controlnet-aux's 0.3) are left out, and so is a "person"
    with no body point above it (DWPose looks at the whole picture when it finds nobody)."""
    people = []
    for xy, score in zip(keypoints, scores, strict=True):
        points = [
            keypoint(x / width, y / height, s) if s >= threshold else None
            for (x, y), s in zip(xy.tolist(), score.tolist(), strict=True)
        ]
        body = _named(OPENPOSE_BODY_18, points[:18])
        if not body:
            continue
        body.update(_named(WHOLEBODY_FEET, points[18:_FACE_AT]))
        found = {}
        for side, start in (("left", _LEFT_HAND_AT), ("right", _RIGHT_HAND_AT)):
            hand = _named(HAND_21, points[start : start + 21]) if hands else {}
            if hand:
                found[side] = Hand(keypoints=hand)
        landmarks = _named(FACE_70[:68], points[_FACE_AT:_LEFT_HAND_AT]) if face else {}
        person = Person(
            body=body, hands=found, face=Face(landmarks=landmarks) if landmarks else None
        )
        people.append(boxed(person))
    return people


def finish(people: list[Person], aspect: float, rules: bool = True) -> list[Person]:
    """People in reading order (left to right), with expressions and gestures read by the
    rules when `rules` is on."""
    ordered = sorted(people, key=lambda p: (p.box.x0, p.box.y0) if p.box else (1.0, 1.0))
    return [annotate(p, aspect) for p in ordered] if rules else ordered


def boxed(person: Person) -> Person:
    """The person with a box around every point it has."""
    points = [*person.body.values()]
    for hand in person.hands.values():
        points.extend(hand.keypoints.values())
    if person.face is not None:
        points.extend(person.face.landmarks.values())
    xs, ys = [p.x for p in points], [p.y for p in points]
    box = Box(x0=min(xs), y0=min(ys), x1=max(xs), y1=max(ys))
    return person.model_copy(update={"box": box})
