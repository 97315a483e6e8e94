"""Pose agreement: COCO's object keypoint similarity (OKS) and PCK, person by person.

Poses are `{joint name: (x, y)}` in one frame where distances are isotropic (pixels of the target
image; normalised coordinates are multiplied by its width and height first). A joint counts when
the target has it (confidence > 0); a joint the candidate lacks is as far off as it can be.

- OKS = mean over the target's joints of exp(-d² / (2 s² k²)), with d the joint's distance,
  s² the person's area and k = 2σ the joint's COCO sigma: 1 for a perfect match, falling off
  faster for precise joints (eyes) than for vague ones (hips). The area is that of the target
  person's box (its `box`, else the box around its joints).
- PCK@α = the fraction of the target's joints within α * max(box width, box height); α = 0.1.
- People are matched one to one (Hungarian, on 1 - OKS); the pose agreement is the matched OKS
  summed over max(target people, candidate people), so a missing or an extra person costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from image_interpreter.priors.schema import Person
from image_interpreter.rank.matching import best_pairs

XY = tuple[float, float]
Pose = Mapping[str, XY]

# COCO keypoint sigmas (cocoeval), the neck as the shoulders (OpenPose's extra joint), the feet
# from COCO-WholeBody. Joints without a sigma (hand and face points on the body) are not scored.
COCO_SIGMAS: dict[str, float] = {
    "nose": 0.026,
    "left_eye": 0.025,
    "right_eye": 0.025,
    "left_ear": 0.035,
    "right_ear": 0.035,
    "neck": 0.079,
    "left_shoulder": 0.079,
    "right_shoulder": 0.079,
    "left_elbow": 0.072,
    "right_elbow": 0.072,
    "left_wrist": 0.062,
    "right_wrist": 0.062,
    "left_hip": 0.107,
    "right_hip": 0.107,
    "left_knee": 0.087,
    "right_knee": 0.087,
    "left_ankle": 0.089,
    "right_ankle": 0.089,
    "left_big_toe": 0.068,
    "left_small_toe": 0.066,
    "left_heel": 0.066,
    "right_big_toe": 0.068,
    "right_small_toe": 0.066,
    "right_heel": 0.066,
}
PCK_ALPHA = 0.1


def oks(
    target: Pose, candidate: Pose, area: float, sigmas: Mapping[str, float] = COCO_SIGMAS
) -> float:
    """Object keypoint similarity of `candidate` to `target` (a person of `area`), in [0, 1]."""
    joints = [name for name in target if name in sigmas]
    if not joints:
        return 0.0
    area = max(float(area), np.finfo(float).eps)
    total = 0.0
    for name in joints:
        if name not in candidate:
            continue
        k = 2.0 * sigmas[name]
        total += math.exp(-_distance2(target[name], candidate[name]) / (2.0 * area * k * k))
    return total / len(joints)


def pck(target: Pose, candidate: Pose, size: float, alpha: float = PCK_ALPHA) -> float:
    """Fraction of the target's joints that the candidate has within `alpha * size`."""
    if not target:
        return 0.0
    limit = (alpha * size) ** 2
    near = sum(
        1
        for name, xy in target.items()
        if name in candidate and _distance2(xy, candidate[name]) <= limit
    )
    return near / len(target)


def box_of(pose: Pose) -> tuple[float, float]:
    """(width, height) of the box around a pose's joints."""
    if not pose:
        return 0.0, 0.0
    xs, ys = zip(*pose.values(), strict=True)
    return max(xs) - min(xs), max(ys) - min(ys)


@dataclass(frozen=True)
class PersonMatch:
    """One target person paired with one candidate person (None: nobody matched)."""

    target: int
    candidate: int | None
    oks: float
    pck: float


@dataclass(frozen=True)
class PoseAgreement:
    score: float  # matched OKS over max(people in target, people in candidate)
    pck: float  # the same average for PCK
    matches: list[PersonMatch]


def match_people(
    targets: Sequence[Pose],
    candidates: Sequence[Pose],
    sizes: Sequence[tuple[float, float]] | None = None,
    alpha: float = PCK_ALPHA,
) -> PoseAgreement:
    """Pair people one to one by OKS (Hungarian) and average over everyone on either side.

    `sizes` are the target people's box (width, height); default: the box around each pose."""
    sizes = list(sizes) if sizes is not None else [box_of(pose) for pose in targets]
    count = max(len(targets), len(candidates))
    if count == 0:
        return PoseAgreement(1.0, 1.0, [])
    table = np.zeros((len(targets), len(candidates)))
    for i, pose in enumerate(targets):
        area = sizes[i][0] * sizes[i][1]
        for j, other in enumerate(candidates):
            table[i, j] = oks(pose, other, area)
    paired = best_pairs(table)
    matches = []
    for i, pose in enumerate(targets):
        j = paired.get(i)
        if j is None:
            matches.append(PersonMatch(i, None, 0.0, 0.0))
            continue
        j = int(j)
        close = pck(pose, candidates[j], max(sizes[i]), alpha)
        matches.append(PersonMatch(i, j, float(table[i, j]), close))
    return PoseAgreement(
        score=sum(m.oks for m in matches) / count,
        pck=sum(m.pck for m in matches) / count,
        matches=matches,
    )


def person_pose(person: Person, width: float, height: float) -> tuple[Pose, tuple[float, float]]:
    """A person's seen body joints in pixels of a `width` x `height` frame, and its box size."""
    pose = {
        name: (point.x * width, point.y * height)
        for name, point in person.body.items()
        if point.confidence > 0
    }
    if person.box is not None:
        box = person.box
        size = ((box.x1 - box.x0) * width, (box.y1 - box.y0) * height)
    else:
        size = box_of(pose)
    return pose, size


def _distance2(a: XY, b: XY) -> float:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2
