"""`rank(candidates, target_priors, prompt)`: score every candidate, best first.

Ranking only reads pictures and measures them (CLIP in one batched pass, then the priors extracted
again per candidate); it never generates. Parts whose weight is 0 are not measured at all, so
`RankWeights(clip=0)` loads no CLIP model and `RankWeights(clip=1, pose=0, ...)` extracts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from image_interpreter.artifacts.store import sha256_of
from image_interpreter.compute import is_remote
from image_interpreter.extract.service import ExtractionService
from image_interpreter.images import encode_png
from image_interpreter.priors.schema import ImageRef, PriorSet, Sha256
from image_interpreter.rank.clip import clip_cosines, clipscore, load_clip
from image_interpreter.rank.consistency import PARTS, ReadArtifact, checkable, prior_consistency
from image_interpreter.rank.scoring import CandidateScore, RankWeights, combine, order
from image_interpreter.settings import Settings, load_settings

if TYPE_CHECKING:
    from image_interpreter.extract.extractors.clip_labels import Clip


@dataclass(frozen=True)
class Candidate:
    """A picture to rank; `sha256` (its PNG in the store) and `seed` come from the generator."""

    image: Image.Image
    sha256: str | None = None
    seed: int | None = None

    def ref(self) -> ImageRef:
        sha = self.sha256 or sha256_of(encode_png(self.image))
        return ImageRef(sha256=sha, width=self.image.width, height=self.image.height)


class RankedCandidate(BaseModel):
    """One candidate's place: `index` into the list given to `rank`, `place` 1 for the best."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    place: int = Field(ge=1)
    index: int = Field(ge=0)
    sha256: Sha256
    seed: int | None = None
    score: CandidateScore


def rank(
    candidates: Sequence[Candidate | Image.Image],
    target_priors: PriorSet,
    prompt: str | None = None,
    *,
    weights: RankWeights | None = None,
    settings: Settings | None = None,
    service: ExtractionService | None = None,
    clip: Clip | None = None,
    read_artifact: ReadArtifact | None = None,
    put_artifact: Callable[[bytes], str] | None = None,
    batch_size: int = 16,
) -> list[RankedCandidate]:
    """Score each candidate against the prompt (default: the priors' caption) and the enabled
    priors, and return them best first. Pass a session's `read_artifact`/`put_artifact` to keep
    reads and the candidates' extracted maps inside it."""
    weights = weights or RankWeights()
    items = [c if isinstance(c, Candidate) else Candidate(c) for c in candidates]
    refs = [item.ref() for item in items]
    settings = settings or (service.settings if service else load_settings())
    if prompt is None and target_priors.caption is not None and target_priors.caption.enabled:
        prompt = target_priors.caption.text
    cosines: list[float | None] = [None] * len(items)
    if weights.clip > 0 and prompt and prompt.strip() and items:
        images = [i.image for i in items]
        if clip is None and is_remote(settings):  # CLIP on the ranker deployment
            from image_interpreter.compute.remote import RemoteRanker

            cosines = list(RemoteRanker(settings).cosines(images, prompt, batch_size))
        else:
            cosines = list(clip_cosines(clip or load_clip(settings), images, prompt, batch_size))
    kinds = [k for k in checkable(target_priors) if getattr(weights, PARTS[k]) > 0]
    if kinds and service is None:
        service = ExtractionService(settings)
    scores = []
    for item, ref, cosine in zip(items, refs, cosines, strict=True):
        parts: dict[str, float | None] = {}
        details: dict[str, float] = {}
        if cosine is not None:
            parts["clip"] = clipscore(cosine)
            details["clip.cosine"] = float(cosine)
        if kinds:
            found = prior_consistency(
                item.image,
                ref,
                target_priors,
                service,
                kinds=kinds,
                read_artifact=read_artifact,
                put_artifact=put_artifact,
            )
            for kind, agreement in found.items():
                parts[PARTS[kind]] = agreement.score
                details.update(agreement.details)
        scores.append(combine(parts, weights, details))
    return [
        RankedCandidate(
            place=place, index=i, sha256=refs[i].sha256, seed=items[i].seed, score=scores[i]
        )
        for place, i in enumerate(order(scores), start=1)
    ]
