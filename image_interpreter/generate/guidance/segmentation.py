"""Segmentation and object guidance, through the segmentation network's ADE20K logits:

- segmentation: cross-entropy against the target class map (unlabelled pixels ignored);
- objects: soft IoU between each kept object's class probability and its mask (a replaced
  object counts as its replacement), and, for a removed one, its class's mean probability
  inside the mask (it should be gone). Labels that are not ADE20K classes cannot guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from image_interpreter.errors import PriorsError
from image_interpreter.generate.guidance.networks import SEGMENTATION_ROLE, SegmentationNet
from image_interpreter.generate.guidance.terms import Skipped, Targets, Term
from image_interpreter.priors.render.ade20k import ADE20K_CLASSES, ade20k_index
from image_interpreter.priors.render.maps import grey_array, read_map, resize
from image_interpreter.priors.render.masks import render_inpaint_mask

if TYPE_CHECKING:
    import torch

IGNORE = 255


def class_logits(net: SegmentationNet, images: torch.Tensor, size: tuple[int, int]):
    """Logits (B, 150, H, W) at `size` (height, width)."""
    import torch.nn.functional as F

    return F.interpolate(net(images), size=size, mode="bilinear", align_corners=False)


class SegmentationLoss:
    def __init__(self, net: SegmentationNet, target: torch.Tensor):
        self.net, self.target = net, target

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        logits = class_logits(self.net, images, tuple(self.target.shape))
        labels = self.target.unsqueeze(0).expand(logits.shape[0], -1, -1)
        errors = F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="none")
        counted = (labels != IGNORE).flatten(1).sum(1).clamp_min(1)
        return errors.flatten(1).sum(1) / counted


class ObjectsLoss:
    """`wanted`: (class, mask (H, W)) to be there; `gone`: (class, mask) to be absent."""

    def __init__(self, net: SegmentationNet, wanted: list, gone: list):
        self.net, self.wanted, self.gone = net, wanted, gone
        self.size = tuple((wanted or gone)[0][1].shape)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return class_logits(self.net, images, self.size).softmax(1)

    def from_probabilities(self, probs: torch.Tensor) -> torch.Tensor:
        parts = []
        for index, mask in self.wanted:
            p = probs[:, index]
            inter = (p * mask).flatten(1).sum(1)
            union = (p + mask - p * mask).flatten(1).sum(1).clamp_min(1e-6)
            parts.append(1.0 - inter / union)
        for index, mask in self.gone:
            inside = (probs[:, index] * mask).flatten(1).sum(1)
            parts.append(inside / mask.sum().clamp_min(1.0))
        return sum(parts) / len(parts)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.from_probabilities(self.probabilities(images))


def build_segmentation(targets: Targets) -> Term | None:
    prior = targets.priors.segmentation
    if prior is None or not prior.enabled or not prior.guide.active:
        return None
    if prior.palette != "ade20k":
        raise Skipped(f"its classes are {prior.palette}'s, not the ADE20K classes UperNet knows")
    picture = read_map(prior.map, targets.read_artifact, "segmentation map", "segmentation")
    array = grey_array(picture)
    labels = resize(array.astype(np.uint8), targets.size, nearest=True).astype(np.int64)
    labels[labels >= len(ADE20K_CLASSES)] = IGNORE
    if (labels == IGNORE).all():
        raise Skipped("every pixel of its map is unlabelled")
    loss = SegmentationLoss(targets.networks.segmentation(), targets.tensor(labels))
    return Term("segmentation", prior.guide, loss, [SEGMENTATION_ROLE])


def object_masks(targets: Targets) -> tuple[list, list, list[str]]:
    """(wanted, gone, labels left out) for the objects prior, masks as tensors at the size."""
    objects = targets.priors.objects
    wanted, gone, unknown = [], [], []
    for i, item in enumerate(objects.objects if objects is not None else []):
        label = item.replacement if item.action == "replace" and item.replacement else item.label
        try:
            index = ade20k_index(label)
        except PriorsError:
            unknown.append(label)
            continue
        mask = render_inpaint_mask(objects, targets.size, targets.read_artifact, select=[i])
        tensor = targets.tensor(np.asarray(mask, dtype=np.float32) / 255.0)
        (gone if item.action == "remove" else wanted).append((index, tensor))
    return wanted, gone, unknown


def build_objects(targets: Targets) -> Term | None:
    prior = targets.priors.objects
    if prior is None or not prior.enabled or not prior.guide.active:
        return None
    wanted, gone, unknown = object_masks(targets)
    if not wanted and not gone:
        raise Skipped(
            f"none of its labels ({', '.join(unknown) or 'no objects'}) is an ADE20K class"
        )
    loss = ObjectsLoss(targets.networks.segmentation(), wanted, gone)
    return Term("objects", prior.guide, loss, [SEGMENTATION_ROLE])
