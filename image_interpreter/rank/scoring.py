"""Combining parts into one score: a weighted mean over the parts that could be measured.

A part is missing when its prior is disabled or absent, no extractor can measure it, or there is
no prompt for CLIP; the remaining weights are renormalised to sum to 1, so a total always lies in
[0, 1] and totals of one ranking compare. Every score keeps its parts and the weights used, so a
user sees why a candidate won and the total can be recomputed from a stored record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PART_NAMES = ("clip", "pose", "depth", "objects", "segmentation", "edges")


class RankWeights(BaseModel):
    """How much each part counts. Only the ratios matter; 0 leaves a part out (and unmeasured)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clip: float = Field(0.5, ge=0.0, description="Match with the prompt (CLIP score).")
    pose: float = Field(0.2, ge=0.0, description="People's poses (OKS).")
    depth: float = Field(0.1, ge=0.0, description="Depth map (scale-and-shift invariant).")
    objects: float = Field(0.1, ge=0.0, description="Objects' masks (IoU).")
    segmentation: float = Field(0.05, ge=0.0, description="Segmentation (mean IoU).")
    edges: float = Field(0.05, ge=0.0, description="Edges (F1 with a tolerance).")


class CandidateScore(BaseModel):
    """A candidate's total with the parts it is made of and the (renormalised) weights used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    total: FiniteFloat = Field(ge=0.0, le=1.0)
    parts: dict[str, FiniteFloat] = Field(default_factory=dict, description="Each in [0, 1].")
    weights: dict[str, FiniteFloat] = Field(default_factory=dict, description="Summing to 1.")
    details: dict[str, FiniteFloat] = Field(
        default_factory=dict, description="Unweighted extras: clip.cosine, pose.pck, ..."
    )

    def flat(self) -> dict[str, float]:
        """One flat dict (for `CandidateRecord.scores`): total, parts, `weight.<part>`, details."""
        weights = {f"weight.{name}": value for name, value in self.weights.items()}
        return {"total": self.total, **self.parts, **weights, **self.details}

    @classmethod
    def from_flat(cls, scores: Mapping[str, float]) -> CandidateScore:
        """The inverse of `flat`, for scores read back from a session."""
        parts = {k: v for k, v in scores.items() if k in PART_NAMES}
        weights = {k[7:]: v for k, v in scores.items() if k.startswith("weight.")}
        details = {
            k: v
            for k, v in scores.items()
            if k != "total" and k not in PART_NAMES and not k.startswith("weight.")
        }
        return cls(total=scores.get("total", 0.0), parts=parts, weights=weights, details=details)


def combine(
    parts: Mapping[str, float | None],
    weights: RankWeights | None = None,
    details: Mapping[str, float] | None = None,
) -> CandidateScore:
    """The weighted mean of the parts present (not None) with a weight above 0."""
    weights = weights or RankWeights()
    unknown = sorted(set(parts) - set(PART_NAMES))
    if unknown:
        raise ValueError(f"unknown score parts {unknown}; parts are {', '.join(PART_NAMES)}")
    present = {
        name: min(1.0, max(0.0, float(value)))
        for name, value in parts.items()
        if value is not None and getattr(weights, name) > 0
    }
    mass = sum(getattr(weights, name) for name in present)
    used = {name: getattr(weights, name) / mass for name in present} if mass else {}
    total = sum(used[name] * present[name] for name in used)
    return CandidateScore(
        total=min(1.0, total), parts=present, weights=used, details=dict(details or {})
    )


def order(scores: Sequence[CandidateScore]) -> list[int]:
    """Indices of `scores`, best total first; ties keep the candidates' order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i].total)
