"""Several requests (from different sessions) drawn in as few pipeline calls as possible.

Requests merge when one pipeline call could draw them all, each keeping its rows: one set of
candidates each on the text-to-image pipeline (`combined`, or text only), the same ControlNets
with the same weights and step ranges, size, steps, guidance scale, scheduler and prompt length
in 77-token windows, no prior guidance, an SD 1.5-style base. Each row keeps its own prompt
embedding, control images and `torch.Generator` seeded as when the request is drawn alone.
Anything else (per_prior, img2img, inpaint, guided, SDXL) runs one request per call.

What "identical" means: rows never mix in a call, but CPU and GPU kernels are not bit-for-bit
invariant to the batch size, so a candidate drawn beside other sessions' equals the one drawn
alone up to rounding (as `Generator.regenerate` without `exact`). Its recipe records the whole
call (`batch` = images in it, `batch_first` = 0), so `regenerate(..., exact=True)` draws it in
the same call shape, which gives the identical pixels on the same device.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from image_interpreter.generate.errors import GenerationCancelled
from image_interpreter.generate.preview import latent_preview
from image_interpreter.generate.request import Candidate, GenerationRequest, Recipe

if TYPE_CHECKING:
    from image_interpreter.generate.generator import Generator, ProgressCallback, _Job, _Plan
    from image_interpreter.generate.prompt import PromptEmbeddings
    from image_interpreter.priors.render import ReadArtifact

Outcome = list[Candidate] | Exception
OnCall = Callable[[list[int], int], None]  # (indices of the requests in one call, images)


@dataclass
class _Prepared:
    index: int
    request: GenerationRequest
    plan: _Plan
    job: _Job
    embeds: PromptEmbeddings
    key: tuple[Any, ...]


def compatibility_key(
    generator: Generator, request: GenerationRequest, read_artifact: ReadArtifact
) -> tuple[Any, ...] | None:
    """Equal keys: the requests can share one pipeline call. None: `request` runs alone."""
    prepared = _prepare(generator, 0, request, read_artifact)
    return prepared.key if prepared else None


def generate_many(
    generator: Generator,
    requests: Sequence[GenerationRequest],
    *,
    read_artifact: ReadArtifact,
    progress: Sequence[ProgressCallback | None] | None = None,
    notes: Sequence[Callable[[str], None] | None] | None = None,
    on_call: OnCall | None = None,
) -> list[Outcome]:
    """Each request's candidates (as `generate` returns them) or the error that request raised,
    in order. Compatible requests share a call of at most `generation.max_batch` images;
    `progress[i]` hears request i's steps (raising GenerationCancelled cancels that request
    only); `on_call` hears each pipeline call's requests and images."""
    count = len(requests)
    progress = list(progress) if progress is not None else [None] * count
    notes = list(notes) if notes is not None else [None] * count
    outcomes: list[Outcome | None] = [None] * count
    alone: list[int] = []
    groups: dict[tuple[Any, ...], list[list[_Prepared]]] = {}
    for index, request in enumerate(requests):
        try:
            prepared = _prepare(generator, index, request, read_artifact)
        except Exception as exc:
            outcomes[index] = exc
            continue
        if prepared is None:
            alone.append(index)
            continue
        _add(groups.setdefault(prepared.key, []), prepared, _room(generator, prepared))
    calls = [group for chains in groups.values() for group in chains]
    for group in calls:
        if len(group) == 1:
            alone.append(group[0].index)
            continue
        indices = [p.index for p in group]
        try:
            drawn = _draw_together(generator, group, [progress[i] for i in indices], on_call)
        except Exception as exc:
            from image_interpreter.generate.generator import free_memory, is_out_of_memory

            if not is_out_of_memory(exc):
                for i in indices:
                    outcomes[i] = exc
                continue
            free_memory()  # too big together: each alone, with the generator's own fallback
            alone += indices
            continue
        for i, result in zip(indices, drawn, strict=True):
            outcomes[i] = result
    for index in sorted(alone):
        try:
            outcomes[index] = generator.generate(
                requests[index],
                read_artifact=read_artifact,
                progress=progress[index],
                notes=notes[index],
            )
        except Exception as exc:
            outcomes[index] = exc
        if on_call is not None:
            on_call([index], len(outcomes[index]) if isinstance(outcomes[index], list) else 0)
    return [outcome for outcome in outcomes if outcome is not None]  # every one is set


def _prepare(
    generator: Generator, index: int, request: GenerationRequest, read_artifact: ReadArtifact
) -> _Prepared | None:
    """The request's plan, job and embeddings, if it can share a call; else None."""
    components = generator.components
    if request.mode not in ("combined", "per_prior") or components.is_xl:
        return None
    plan = generator._plan(request)
    jobs = generator._jobs(request, plan, read_artifact, None)
    if len(jobs) != 1 or jobs[0].variant != "text":
        return None
    job = jobs[0]
    if generator._guidance(request, job, plan, read_artifact, None) is not None:
        return None
    embeds = components.prompts.encode(job.prompt, job.negative)
    key = (
        generator._pipeline_key(job),
        plan.width,
        plan.height,
        plan.steps,
        plan.guidance,
        plan.scheduler,
        json.dumps(plan.scheduler_config, sort_keys=True),
        tuple((c.weight, c.start, c.end) for c in job.controls),
        embeds.chunks,
    )
    return _Prepared(index, request, plan, job, embeds, key)


def _room(generator: Generator, prepared: _Prepared) -> int:
    """Most images in one call: `max_batch`, or less where this shape ran out of memory."""
    job, plan = prepared.job, prepared.plan
    fitted = generator.components.memory_fit(
        (generator._pipeline_key(job), plan.width, plan.height)
    )
    return min(generator.config.max_batch, fitted[0]) if fitted else generator.config.max_batch


def _add(chains: list[list[_Prepared]], prepared: _Prepared, room: int) -> None:
    """Into the first call with room for its candidates, else a new call."""
    for group in chains:
        if sum(p.plan.candidates for p in group) + prepared.plan.candidates <= room:
            group.append(prepared)
            return
    chains.append([prepared])


class _Rows:
    """Per-step progress for every request of a merged call, each with a preview of its own
    first row; a request whose callback cancels stops hearing, the call stops when all have."""

    def __init__(self, group: list[_Prepared], progress: list[ProgressCallback | None]):
        self.progress = progress
        self.cancelled: list[GenerationCancelled | None] = [None] * len(group)
        self.offsets = []
        offset = 0
        for prepared in group:
            self.offsets.append(offset)
            offset += prepared.plan.candidates
        self.done = 0

    def callback(self) -> Callable[..., dict[str, Any]]:
        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
            self.done += 1
            total = int(getattr(pipe, "num_timesteps", 0) or self.done)
            for number, progress in enumerate(self.progress):
                if progress is None or self.cancelled[number] is not None:
                    continue
                preview = latent_preview(tensors["latents"], self.offsets[number])
                try:
                    progress(self.done, max(total, self.done), preview)
                except GenerationCancelled as exc:
                    self.cancelled[number] = exc
            if all(c is not None for c in self.cancelled):
                raise GenerationCancelled("Every request of the call was cancelled.")
            return {}

        return on_step_end


def _draw_together(
    generator: Generator,
    group: list[_Prepared],
    progress: list[ProgressCallback | None],
    on_call: OnCall | None,
) -> list[Outcome]:
    """One pipeline call for every request of `group`: their rows stacked in order."""
    import torch

    from image_interpreter.generate.prompt import PromptEmbeddings

    components = generator.components
    first = group[0]
    rows = [p for p in group for _ in range(p.plan.candidates)]
    seeds = [p.plan.seed + i for p in group for i in range(p.plan.candidates)]
    if len(first.job.controls) == 1:  # one ControlNet: one image per row
        pictures: list[Any] = [[p.job.control_images[0] for p in rows]]
    else:  # several: a list per row, one image per ControlNet (diffusers transposes it)
        pictures = [list(p.job.control_images) for p in rows]
    job = replace(first.job, control_images=pictures)
    embeds = PromptEmbeddings(
        torch.cat([p.embeds.prompt_embeds for p in rows]),
        torch.cat([p.embeds.negative_prompt_embeds for p in rows]),
        first.embeds.chunks,
    )
    pipe = generator._pipeline(job)
    offload = generator.config.cpu_offload and components.can_offload
    tracker = _Rows(group, progress)
    if on_call is not None:
        on_call([p.index for p in group], len(rows))
    try:
        if offload:
            components.offload(pipe)
        components.configure_vae(len(rows), first.plan.width, first.plan.height)
        images = generator._call(pipe, job, first.plan, seeds, embeds, None, tracker, 0)  # type: ignore[arg-type]
    finally:
        if not generator.config.cpu_offload:
            components.restore()
    scheduler = components.scheduler(first.plan.scheduler, first.plan.scheduler_config)
    outcomes: list[Outcome] = []
    for number, (prepared, offset) in enumerate(zip(group, tracker.offsets, strict=True)):
        if tracker.cancelled[number] is not None:
            outcomes.append(tracker.cancelled[number])  # type: ignore[arg-type]
            continue
        plan = prepared.plan
        shared = generator._recipe_fields(
            prepared.request, prepared.job, plan, prepared.embeds, scheduler, []
        )
        candidates = []
        for index in range(plan.candidates):
            recipe = Recipe(
                **shared, seed=plan.seed + index, index=index, batch=len(rows), batch_first=0,
                cpu_offload=offload,
            )  # fmt: skip
            candidates.append(
                Candidate(
                    image=images[offset + index],
                    index=index,
                    label=prepared.job.label,
                    seed=recipe.seed,
                    recipe=recipe,
                )
            )
        outcomes.append(candidates)
    return outcomes
