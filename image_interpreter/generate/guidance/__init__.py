"""Consistency guidance: the priors steer sampling through differentiable losses on the
predicted clean image, computed by the extractors' own networks (see hook.py for the step).

    guidance = prepare_guidance(priors, size, read_artifact, prompt, settings, ...)
    if guidance is not None:
        guidance.sampling().attach(pipe.scheduler)   # before each pipeline call

A prior guides when its `guide.weight` > 0 (schema `Guide`), on the steps its `guide.start`,
`end` and `every` name; `generation.joint_guide` adds the cross-related loss (joint.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from image_interpreter.generate.guidance.caption import build_caption
from image_interpreter.generate.guidance.decode import DECODER_ROLE, LatentDecoder, latent_decoder
from image_interpreter.generate.guidance.depth import build_depth
from image_interpreter.generate.guidance.edges import build_edges
from image_interpreter.generate.guidance.hook import STEP_SIZE, GuidedSampling, clean_latent
from image_interpreter.generate.guidance.joint import build_joint
from image_interpreter.generate.guidance.networks import GuidanceNetworks
from image_interpreter.generate.guidance.pose import build_pose
from image_interpreter.generate.guidance.record import GuidanceTermUse, GuidanceUse
from image_interpreter.generate.guidance.segmentation import build_objects, build_segmentation
from image_interpreter.generate.guidance.terms import Skipped, Targets, Term
from image_interpreter.priors.render.registry import ReadArtifact
from image_interpreter.priors.schema import PriorSet

BUILDERS: dict[str, Callable[[Targets], Term | None]] = {
    "caption": build_caption,
    "people": build_pose,
    "depth": build_depth,
    "objects": build_objects,
    "segmentation": build_segmentation,
    "edges": build_edges,
    "joint": build_joint,
}


def wants_guidance(priors: PriorSet) -> bool:
    """Whether any enabled prior (or the joint loss) has a guidance weight above 0."""
    if priors.generation.joint_guide.active:
        return True
    return any(prior.guide.active for prior in priors.enabled().values())


def build_terms(targets: Targets, notes: Callable[[str], None] | None = None) -> list[Term]:
    """Every term the priors ask for; a prior that cannot guide is left out, with a note."""
    terms = []
    for kind, build in BUILDERS.items():
        try:
            term = build(targets)
        except Skipped as why:
            if notes is not None:
                notes(f"{kind} guidance skipped: {why}")
            continue
        if term is not None:
            terms.append(term)
    return terms


@dataclass
class Guidance:
    """The terms and decoder of one job, ready to be attached to each of its calls."""

    terms: list[Term]
    decoder: LatentDecoder
    decoder_choice: str
    model_ids: dict[str, str]
    step_size: float = STEP_SIZE
    notes: Callable[[str], None] | None = None
    is_oom: Callable[[BaseException], bool] | None = None
    free: Callable[[], None] | None = None

    def sampling(self, only: list[int] | None = None) -> GuidedSampling:
        return GuidedSampling(
            self.terms,
            self.decoder,
            step_size=self.step_size,
            only=only,
            notes=self.notes,
            is_oom=self.is_oom,
            free=self.free,
        )

    def record(self, sampling: GuidedSampling) -> GuidanceUse:
        return GuidanceUse(
            terms=[
                GuidanceTermUse(
                    kind=t.kind,
                    weight=t.guide.weight,
                    start=t.guide.start,
                    end=t.guide.end,
                    every=t.guide.every,
                )
                for t in self.terms
            ],
            decoder=self.decoder_choice,
            step_size=self.step_size,
            guided_steps=list(sampling.guided),
            fallback=sampling.fallback,
        )


def prepare_guidance(
    priors: PriorSet,
    size: tuple[int, int],
    read_artifact: ReadArtifact,
    prompt: str,
    *,
    settings: Any,
    base_vae: Any,
    device: Any,
    dtype: Any,
    decoder: str = "vae",
    notes: Callable[[str], None] | None = None,
    is_oom: Callable[[BaseException], bool] | None = None,
    free: Callable[[], None] | None = None,
) -> Guidance | None:
    """The guidance `priors` ask for at `size` (width, height), or None when nothing guides."""
    if not wants_guidance(priors):
        return None
    networks = GuidanceNetworks(settings, device, dtype, on_load=notes)
    targets = Targets(priors, size, read_artifact, device, prompt, networks)
    terms = build_terms(targets, notes)
    if not terms:
        return None
    checkpoint = getattr(device, "type", "cpu") == "cuda"
    latent, loaded = latent_decoder(
        decoder, base_vae, settings, device, dtype, checkpoint=checkpoint
    )
    if loaded and notes is not None:
        notes(f"loaded {latent.name} to decode guided steps")
    roles = sorted({role for term in terms for role in term.roles})
    if decoder == "tiny":
        roles.append(DECODER_ROLE)
    ids = networks.role_ids(roles)
    return Guidance(terms, latent, decoder, ids, notes=notes, is_oom=is_oom, free=free)


__all__ = [
    "BUILDERS",
    "Guidance",
    "GuidanceNetworks",
    "GuidanceUse",
    "GuidedSampling",
    "Skipped",
    "Targets",
    "Term",
    "build_terms",
    "clean_latent",
    "prepare_guidance",
    "wants_guidance",
]
