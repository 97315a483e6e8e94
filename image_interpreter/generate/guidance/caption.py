"""Caption guidance (CLIP guidance): one minus the cosine similarity of the decoded image's
open_clip embedding and the prompt's, the prompt that the captions built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from image_interpreter.generate.guidance.networks import CLIP_ROLE, ClipNet
from image_interpreter.generate.guidance.terms import Skipped, Targets, Term

if TYPE_CHECKING:
    import torch


class CaptionLoss:
    def __init__(self, net: ClipNet, text: str):
        self.net = net
        self.text = net.text(text)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return 1.0 - (self.net.images(images) * self.text).sum(-1)


def build_caption(targets: Targets) -> Term | None:
    prior = targets.priors.caption
    if prior is None or not prior.enabled or not prior.guide.active:
        return None
    if not targets.prompt.strip():
        raise Skipped("the prompt is empty")
    return Term(
        "caption", prior.guide, CaptionLoss(targets.networks.clip(), targets.prompt), [CLIP_ROLE]
    )
