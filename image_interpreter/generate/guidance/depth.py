"""Depth guidance: the depth network's prediction on the decoded image against the target map,
scale-and-shift invariant (MiDaS's loss): relative depth has no units, so only its shape counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from image_interpreter.generate.guidance.networks import DEPTH_ROLE, DepthNet
from image_interpreter.generate.guidance.terms import Targets, Term
from image_interpreter.priors.render.maps import adjust_depth, grey_array, read_map, resize
from image_interpreter.priors.schema import DepthAdjust, DepthPrior

if TYPE_CHECKING:
    import torch


def depth_target(prior: DepthPrior, targets: Targets) -> np.ndarray:
    """The map the depth ControlNet is shown (adjustments applied), in [0, 1], bright = near,
    at the drawn size."""
    array = grey_array(read_map(prior.map, targets.read_artifact, "depth map", "depth"))
    if prior.adjust != DepthAdjust():
        array = adjust_depth(array, prior.adjust)
    top = 65535.0 if array.dtype == np.uint16 else 255.0
    return resize(array.astype(np.float32) / top, targets.size)


def ssi_error(
    predicted: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Per image, the weighted mean squared error after the least-squares scale and shift that
    best fit `predicted` (B, H, W) to `target` (H, W); `weight` (H, W) defaults to uniform."""
    import torch

    pred = predicted.flatten(1)
    goal = target.flatten().unsqueeze(0)
    w = torch.ones_like(goal) if weight is None else weight.flatten().unsqueeze(0)
    w = w / w.sum().clamp_min(1e-8)
    mean_p = (w * pred).sum(1, keepdim=True)
    mean_t = (w * goal).sum(1, keepdim=True)
    var_p = (w * (pred - mean_p) ** 2).sum(1, keepdim=True)
    cov = (w * (pred - mean_p) * (goal - mean_t)).sum(1, keepdim=True)
    scale = cov / var_p.clamp_min(1e-8)
    fitted = scale * (pred - mean_p) + mean_t
    return (w * (fitted - goal) ** 2).sum(1)


class DepthLoss:
    def __init__(self, net: DepthNet, target: torch.Tensor):
        self.net, self.target = net, target

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The network's depth, larger = nearer, at the target's size (B, H, W)."""
        import torch.nn.functional as F

        depth = self.net(images).unsqueeze(1)
        size = tuple(self.target.shape[-2:])
        return F.interpolate(depth, size=size, mode="bilinear", align_corners=False)[:, 0]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return ssi_error(self.predict(images), self.target)


def build_depth(targets: Targets) -> Term | None:
    prior = targets.priors.depth
    if prior is None or not prior.enabled or not prior.guide.active:
        return None
    target = targets.tensor(depth_target(prior, targets))
    loss = DepthLoss(targets.networks.depth(), target)
    return Term("depth", prior.guide, loss, [DEPTH_ROLE])
