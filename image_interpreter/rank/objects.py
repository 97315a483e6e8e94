"""Object agreement: each target object paired with the candidate's object of the same label that
overlaps it best (one to one, Hungarian on IoU), scored by mask IoU.

The score averages over the target's objects: an object the candidate lacks scores 0, while
extra candidate objects cost nothing (detectors and SAM find many small things; the prior is about
the target's objects). An object the edits removed should be gone: it scores 1 - its best IoU
with a candidate object of its label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from image_interpreter.rank.maps import mask_iou
from image_interpreter.rank.matching import best_pairs

Labelled = tuple[str, np.ndarray]  # (label, boolean mask)


@dataclass(frozen=True)
class ObjectMatch:
    target: int
    candidate: int | None
    iou: float


def match_objects(
    targets: Sequence[Labelled], candidates: Sequence[Labelled], by_label: bool = True
) -> tuple[float, list[ObjectMatch]]:
    """(mean IoU over the target objects, the pairs); labels compare case-insensitively and are
    ignored when `by_label` is False."""
    if not targets:
        return 1.0, []
    table = np.zeros((len(targets), len(candidates)))
    for i, (label, mask) in enumerate(targets):
        for j, (other_label, other) in enumerate(candidates):
            if not by_label or _same(label, other_label):
                table[i, j] = mask_iou(other, mask)
    paired = {i: j for i, j in best_pairs(table).items() if table[i, j] > 0}
    matches = [
        ObjectMatch(i, paired.get(i), float(table[i, paired[i]]) if i in paired else 0.0)
        for i in range(len(targets))
    ]
    return sum(m.iou for m in matches) / len(matches), matches


def absence(target: Labelled, candidates: Sequence[Labelled]) -> float:
    """How gone a removed object is: 1 - its best IoU with a candidate object of its label."""
    label, mask = target
    overlaps = [mask_iou(other, mask) for name, other in candidates if _same(label, name)]
    return 1.0 - max(overlaps, default=0.0)


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()
