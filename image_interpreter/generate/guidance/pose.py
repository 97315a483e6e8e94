"""Pose guidance: the OpenPose body network's joint heatmaps and part affinity fields on the
decoded image against the maps drawn from the target keypoints, with OpenPose's own training
loss (mean squared error over every channel).

The targets are drawn as OpenPose's training targets are: per joint, a Gaussian at each
person's point, the maximum over people; per limb, the unit vector along it, averaged where
people overlap. The maps hold every person at once, so the loss needs no assignment of
candidate people to target people: a person in the right place lowers it, whatever its order
(the ranker's Hungarian matching scores separated people; here the maps already are). Hands:
the hand network runs on crops found from the body's peaks, a non-differentiable search, so
only bodies guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from image_interpreter.generate.guidance.networks import POSE_ROLE, PoseNet
from image_interpreter.generate.guidance.terms import Targets, Term
from image_interpreter.priors.joints import OPENPOSE_BODY_18
from image_interpreter.priors.schema import Person

if TYPE_CHECKING:
    import torch

# OpenPose's limbs (1-based joints of OPENPOSE_BODY_18) and their (x, y) PAF channels + 19, as
# controlnet-aux's body.py reads them.
LIMBS = [
    [2, 3],
    [2, 6],
    [3, 4],
    [4, 5],
    [6, 7],
    [7, 8],
    [2, 9],
    [9, 10],
    [10, 11],
    [2, 12],
    [12, 13],
    [13, 14],
    [2, 1],
    [1, 15],
    [15, 17],
    [1, 16],
    [16, 18],
    [3, 17],
    [6, 18],
]
PAF_CHANNELS = [
    [31, 32],
    [39, 40],
    [33, 34],
    [35, 36],
    [41, 42],
    [43, 44],
    [19, 20],
    [21, 22],
    [23, 24],
    [25, 26],
    [27, 28],
    [29, 30],
    [47, 48],
    [49, 50],
    [53, 54],
    [51, 52],
    [55, 56],
    [37, 38],
    [45, 46],
]


def _points(person: Person) -> dict[int, tuple[float, float]]:
    """Joint index (0-based, OpenPose order) -> normalised (x, y), for the joints it has."""
    found = {}
    for index, name in enumerate(OPENPOSE_BODY_18):
        point = person.body.get(name)
        if point is not None and point.confidence > 0:
            found[index] = (point.x, point.y)
    return found


def pose_maps(people: list[Person], rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(PAFs (38, rows, cols), heatmaps (19, rows, cols)) for `people` on a rows x cols grid."""
    sigma = max(1.0, 0.025 * max(rows, cols))
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    heat = np.zeros((19, rows, cols), np.float32)
    pafs = np.zeros((38, rows, cols), np.float32)
    counts = np.zeros((19, rows, cols), np.float32)
    for person in people:
        points = {j: (x * cols - 0.5, y * rows - 0.5) for j, (x, y) in _points(person).items()}
        for j, (px, py) in points.items():
            gauss = np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2))
            np.maximum(heat[j], gauss, out=heat[j])
        for k, (a, b) in enumerate(LIMBS):
            if a - 1 not in points or b - 1 not in points:
                continue
            (ax, ay), (bx, by) = points[a - 1], points[b - 1]
            length = float(np.hypot(bx - ax, by - ay))
            if length < 1e-6:
                continue
            ux, uy = (bx - ax) / length, (by - ay) / length
            along = (xs - ax) * ux + (ys - ay) * uy
            across = np.abs((xs - ax) * uy - (ys - ay) * ux)
            on = (along >= 0) & (along <= length) & (across <= sigma)
            cx, cy = (c - 19 for c in PAF_CHANNELS[k])
            pafs[cx][on] += ux
            pafs[cy][on] += uy
            counts[k][on] += 1
    for k in range(len(LIMBS)):
        cx, cy = (c - 19 for c in PAF_CHANNELS[k])
        many = counts[k] > 1
        pafs[cx][many] /= counts[k][many]
        pafs[cy][many] /= counts[k][many]
    heat[18] = 1.0 - heat[:18].max(axis=0)
    return pafs, heat


class PoseLoss:
    def __init__(self, net: PoseNet, people: list[Person], targets: Targets):
        self.net, self.people, self.targets = net, people, targets
        self._maps: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def maps(self, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
        if (rows, cols) not in self._maps:
            pafs, heat = pose_maps(self.people, rows, cols)
            self._maps[rows, cols] = (self.targets.tensor(pafs), self.targets.tensor(heat))
        return self._maps[rows, cols]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pafs, heat = self.net(images)
        want_pafs, want_heat = self.maps(*heat.shape[-2:])
        paf_error = ((pafs - want_pafs) ** 2).flatten(1).mean(1)
        heat_error = ((heat - want_heat) ** 2).flatten(1).mean(1)
        return paf_error + heat_error


def build_pose(targets: Targets) -> Term | None:
    prior = targets.priors.people
    if prior is None or not prior.enabled or not prior.guide.active:
        return None
    return Term(
        "people", prior.guide, PoseLoss(targets.networks.pose(), prior.people, targets), [POSE_ROLE]
    )
