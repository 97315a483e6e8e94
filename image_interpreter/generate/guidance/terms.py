"""A guidance term: one prior's differentiable loss, its weight and the steps it acts on.

A loss maps decoded images (B, 3, H, W) in [0, 1] to one number per image (B,); lower means the
image agrees better with the prior. Builders (one module per kind) make a term from a PriorSet
and return None, with a reason, when the prior gives nothing to pull towards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from image_interpreter.priors.render.registry import ReadArtifact
from image_interpreter.priors.schema import Guide, PriorSet

if TYPE_CHECKING:
    import torch

    from image_interpreter.generate.guidance.networks import GuidanceNetworks

Loss = Callable[["torch.Tensor"], "torch.Tensor"]


@dataclass
class Term:
    """One loss and when it runs. `roles` are the model roles its networks come from."""

    kind: str
    guide: Guide
    loss: Loss
    roles: list[str] = field(default_factory=list)

    def runs_at(self, step: int, total: int) -> bool:
        """Whether step `step` (0-based) of `total` is guided: inside [start, end) as diffusers
        reads a ControlNet's range, then every `every`-th step from the first one inside."""
        if total <= 0 or step / total < self.guide.start or (step + 1) / total > self.guide.end:
            return False
        first = math.ceil(self.guide.start * total - 1e-9)
        return (step - first) % self.guide.every == 0


@dataclass
class Targets:
    """What the builders read the priors with: the size drawn at (width, height), the artifact
    reader, the device of the losses, the prompt (for the caption loss)."""

    priors: PriorSet
    size: tuple[int, int]
    read_artifact: ReadArtifact
    device: Any
    prompt: str
    networks: GuidanceNetworks

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        import torch

        return torch.as_tensor(np.ascontiguousarray(array), device=self.device)


class Skipped(Exception):
    """A prior's guidance cannot run (nothing to pull towards); the message says why."""
