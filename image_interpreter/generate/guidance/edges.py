"""Edge guidance: a soft Sobel edge map of the decoded image against the target edge map,
both slightly blurred so a line one pixel off still pulls, compared by Dice overlap. Sobel
stands for every edge method (Canny, line art, HED): all put their lines where the intensity
changes, and Sobel is cheap and differentiable everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from image_interpreter.generate.guidance.terms import Targets, Term
from image_interpreter.priors.render.maps import grey_array, read_map, resize

if TYPE_CHECKING:
    import torch


def _blur(maps: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    radius = max(1, round(2 * sigma))
    x = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = F.conv2d(F.pad(maps, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))


def soft_edges(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> edge strength (B, 1, H, W) in [0, 1): Sobel magnitude of the
    luminance, squashed relative to the image's own mean gradient."""
    import torch
    import torch.nn.functional as F

    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)
    grey = (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
    sobel = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
        device=images.device,
        dtype=images.dtype,
    )
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel.t().contiguous().view(1, 1, 3, 3))
    magnitude = torch.sqrt(gx**2 + gy**2 + 1e-6)
    typical = magnitude.mean(dim=(1, 2, 3), keepdim=True).detach()
    return torch.tanh(magnitude / (2.0 * typical + 1e-6))


class EdgesLoss:
    def __init__(self, target: torch.Tensor):
        self.target = _blur(target.view(1, 1, *target.shape[-2:]))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        edges = _blur(soft_edges(images))
        overlap = (edges * self.target).flatten(1).sum(1)
        total = (edges**2).flatten(1).sum(1) + (self.target**2).flatten(1).sum(1)
        return 1.0 - 2.0 * overlap / total.clamp_min(1e-6)


def build_edges(targets: Targets) -> Term | None:
    prior = targets.priors.edges
    if prior is None or not prior.enabled or not prior.guide.active:
        return None
    array = grey_array(read_map(prior.map, targets.read_artifact, "edge map", "edges"))
    top = 65535.0 if array.dtype == np.uint16 else 255.0
    target = targets.tensor(resize(array.astype(np.float32) / top, targets.size))
    return Term("edges", prior.guide, EdgesLoss(target), [])
