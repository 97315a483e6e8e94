"""The cross-related loss: priors that must agree with each other in the drawn image.

- people x depth: the depth network's map, fitted (scale and shift) inside the regions where the
  people prior puts people and the objects prior puts objects, must match the depth prior there:
  each person and object at the depth the depth prior gives it, relative to the others;
- objects x segmentation network: each object's class where its mask is (see segmentation.py).

Its weight and steps are `generation.joint_guide`; it needs an enabled depth prior and people or
objects, and works whether or not those priors guide on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from image_interpreter.generate.guidance.depth import DepthLoss, depth_target, ssi_error
from image_interpreter.generate.guidance.networks import DEPTH_ROLE, SEGMENTATION_ROLE
from image_interpreter.generate.guidance.segmentation import ObjectsLoss, object_masks
from image_interpreter.generate.guidance.terms import Skipped, Targets, Term

if TYPE_CHECKING:
    import torch


def people_region(targets: Targets) -> np.ndarray:
    """(H, W) 1 inside each enabled person's box (its own, else around its joints, grown by a
    tenth), 0 elsewhere."""
    width, height = targets.size
    region = np.zeros((height, width), np.float32)
    prior = targets.priors.people
    for person in prior.people if prior is not None and prior.enabled else []:
        if person.box is not None:
            x0, y0, x1, y1 = person.box.x0, person.box.y0, person.box.x1, person.box.y1
        else:
            points = [(p.x, p.y) for p in person.body.values() if p.confidence > 0]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            grow = 0.1 * max(max(xs) - min(xs), max(ys) - min(ys), 0.05)
            x0, y0, x1, y1 = min(xs) - grow, min(ys) - grow, max(xs) + grow, max(ys) + grow
        c0, c1 = int(np.clip(x0 * width, 0, width)), int(np.ceil(np.clip(x1 * width, 0, width)))
        r0, r1 = int(np.clip(y0 * height, 0, height)), int(np.ceil(np.clip(y1 * height, 0, height)))
        region[r0:r1, c0:c1] = 1.0
    return region


class JointLoss:
    def __init__(self, depth: DepthLoss, region: torch.Tensor, objects: ObjectsLoss | None):
        self.depth, self.region, self.objects = depth, region, objects

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        loss = ssi_error(self.depth.predict(images), self.depth.target, self.region)
        if self.objects is not None:
            loss = loss + self.objects(images)
        return loss


def build_joint(targets: Targets) -> Term | None:
    guide = targets.priors.generation.joint_guide
    if not guide.active:
        return None
    depth = targets.priors.depth
    if depth is None or not depth.enabled:
        raise Skipped("it needs an enabled depth prior")
    region = people_region(targets)
    objects = targets.priors.objects
    wanted: list = []
    gone: list = []
    if objects is not None and objects.enabled:
        wanted, gone, _ = object_masks(targets)
        for _, mask in wanted:
            region = np.maximum(region, mask.cpu().numpy())
    if not region.any():
        raise Skipped("there are no enabled people or objects to place in depth")
    depth_loss = DepthLoss(targets.networks.depth(), targets.tensor(depth_target(depth, targets)))
    roles = [DEPTH_ROLE]
    object_loss = None
    if wanted or gone:
        object_loss = ObjectsLoss(targets.networks.segmentation(), wanted, gone)
        roles.append(SEGMENTATION_ROLE)
    return Term("joint", guide, JointLoss(depth_loss, targets.tensor(region), object_loss), roles)
