"""`Generator.generate(request)`: candidates from a PriorSet, in as few pipeline calls as memory
allows, each with a recipe that draws it again.

Every candidate has its own seed (base seed + its index) and its own `torch.Generator`, so a
batch of N equals N single calls and any candidate can be redrawn alone from its recipe. On
out-of-memory a call is retried with half the batch (the rest runs after), then with model CPU
offload; the request finishes or raises a `GenerationError` that carries it. What fitted is
remembered per pipeline and size, so the next request does not run out of memory the same way.
"""

from __future__ import annotations

import gc
import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image, ImageFilter

from image_interpreter.generate.components import (
    Components,
    Variant,
    control_role,
    shared_components,
    takes_control_modes,
    union_mode,
)
from image_interpreter.generate.config import GenerationConfig, config_for
from image_interpreter.generate.errors import GenerationCancelled, GenerationError
from image_interpreter.generate.guidance import Guidance, GuidanceUse, prepare_guidance
from image_interpreter.generate.preview import latent_preview
from image_interpreter.generate.prompt import (
    PromptEmbeddings,
    build_negative,
    build_prompt,
    join_prompt,
)
from image_interpreter.generate.request import (
    MAX_SEED,
    Candidate,
    ControlUse,
    GenerationRequest,
    InpaintUse,
    Recipe,
    priors_sha256,
)
from image_interpreter.images import load_image
from image_interpreter.images.fit import NETWORK_ASPECT, fit_size
from image_interpreter.models import model_id
from image_interpreter.priors.edits.generation import MAX_SIDE, MIN_SIDE
from image_interpreter.priors.render import (
    ReadArtifact,
    RenderCache,
    control_kinds,
    prior_digest,
    render_controls,
    render_inpaint_mask,
)
from image_interpreter.priors.schema import PriorSet
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline


class ProgressCallback(Protocol):
    """Called after every denoising step: steps done and in all (all calls of the request), and
    a small preview of the first image of the current call. Raise GenerationCancelled to stop."""

    def __call__(self, step: int, total: int, preview: Image.Image | None) -> None: ...


@dataclass
class _Job:
    """One set of candidates: one pipeline variant, one prompt, one set of controls."""

    label: str
    variant: Variant
    prompt: str
    negative: str
    controls: list[ControlUse] = field(default_factory=list)
    control_images: list[Image.Image] = field(default_factory=list)
    init_image: Image.Image | None = None
    mask: Image.Image | None = None
    strength: float | None = None
    inpaint: InpaintUse | None = None
    guidance: Guidance | None = None  # prior guidance during sampling, if the priors ask
    guided_steps: list[int] | None = None  # a recipe's guided steps, to draw it again
    guided: GuidanceUse | None = None  # what the last call's guidance did


@dataclass(frozen=True)
class _Plan:
    """The request with every default filled in."""

    mode: str
    candidates: int
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    strength: float | None
    scheduler: str | None
    scheduler_config: dict[str, Any] | None


@dataclass(frozen=True)
class _Call:
    """The pipeline call that drew a candidate."""

    batch: int
    first: int
    offload: bool
    guidance: GuidanceUse | None = None


@dataclass
class _State:
    """What a request learned about memory while it ran."""

    max_batch: int
    offload: bool


class _Tracker:
    """Steps done and still to do over all pipeline calls of a request (the plan can grow when
    a call is split after running out of memory), and the per-step callback."""

    def __init__(self, progress: ProgressCallback | None):
        self.progress = progress
        self.done = 0
        self.planned = 0  # steps still to run, this call's included
        self._call_left = 0
        self._first = False

    def start(self, expected: int, later: int) -> None:
        """A call of `expected` steps starts; `later` steps follow it."""
        self.planned = expected + later
        self._call_left = expected
        self._first = True

    def step(self, pipe: Any, latents: torch.Tensor) -> None:
        if self._first:  # the scheduler decides the true count (e.g. second-order ones)
            actual = int(getattr(pipe, "num_timesteps", None) or self._call_left)
            self.planned += actual - self._call_left
            self._call_left = actual
            self._first = False
        self.done += 1
        self.planned = max(self.planned - 1, 0)
        self._call_left = max(self._call_left - 1, 0)
        if self.progress is not None:
            self.progress(self.done, self.done + self.planned, latent_preview(latents))

    def callback(self) -> Callable[..., dict[str, Any]] | None:
        if self.progress is None:
            return None

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
            self.step(pipe, tensors["latents"])
            return {}

        return on_step_end


class Generator:
    """Draws candidates from PriorSets with one shared base model (see `Components`)."""

    def __init__(
        self,
        settings: Settings,
        config: GenerationConfig | None = None,
        *,
        components: Components | None = None,
    ):
        self.settings = settings
        self.config = config or config_for(settings)
        self.components = components or shared_components(settings, self.config)

    # --- public ----------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        *,
        read_artifact: ReadArtifact,
        progress: ProgressCallback | None = None,
        render_cache: RenderCache | None = None,
        latents: torch.Tensor | None = None,
        embeddings: PromptEmbeddings | None = None,
        notes: Callable[[str], None] | None = None,
    ) -> list[Candidate]:
        """Candidates for `request`, in order: per set (per_prior mode), then by index.

        `read_artifact` reads the maps, masks and source image (a Session's, or an
        ArtifactStore's `get`); `render_cache` keeps control images between requests (one per
        session). `latents` (one initial noise per candidate) and `embeddings` replace the
        seed's noise and the encoded prompt (for interpolation); recipes then say so.
        `notes` hears what prior guidance does: model loads, each guided step, fallbacks.
        """
        plan = self._plan(request)
        jobs = self._jobs(request, plan, read_artifact, render_cache)
        for job in jobs:
            job.guidance = self._guidance(request, job, plan, read_artifact, notes)
            job.guided_steps = request.guided_steps
        given = {"latents": latents, "embeddings": embeddings}
        custom = [name for name, value in given.items() if value is not None]
        if latents is not None:
            self._check_latents(latents, plan)
        state = _State(
            max_batch=self.config.max_batch,
            offload=self.config.cpu_offload and self.components.can_offload,
        )
        tracker = _Tracker(progress)
        scheduler = self.components.scheduler(plan.scheduler, plan.scheduler_config)
        candidates: list[Candidate] = []
        try:
            for number, job in enumerate(jobs):
                embeds = embeddings or self.components.prompts.encode(job.prompt, job.negative)
                drawn = self._run_job(
                    request, job, plan, state, tracker, jobs[number + 1 :], embeds, latents
                )
                shared = self._recipe_fields(request, job, plan, embeds, scheduler, custom)
                for index, (image, call) in enumerate(drawn):
                    recipe = Recipe(
                        **shared, seed=plan.seed + index, index=index, batch=call.batch,
                        batch_first=call.first, cpu_offload=call.offload,
                        prior_guidance=call.guidance,
                    )  # fmt: skip
                    candidates.append(
                        Candidate(
                            image=image,
                            index=len(candidates),
                            label=job.label,
                            seed=recipe.seed,
                            recipe=recipe,
                        )
                    )
        finally:
            if not self.config.cpu_offload:
                self.components.restore()
        return candidates

    def generate_many(
        self,
        requests: list[GenerationRequest],
        *,
        read_artifact: ReadArtifact,
        progress: list[ProgressCallback | None] | None = None,
        notes: list[Callable[[str], None] | None] | None = None,
        on_call: Callable[[list[int], int], None] | None = None,
    ) -> list[list[Candidate] | Exception]:
        """Several requests (e.g. from different sessions), compatible ones in one pipeline
        call: each request's candidates, or the error it raised (see `batching.py`)."""
        from image_interpreter.generate.batching import generate_many

        return generate_many(
            self, requests, read_artifact=read_artifact, progress=progress, notes=notes,
            on_call=on_call,
        )  # fmt: skip

    def interpolate(self, a: Any, b: Any, **options: Any) -> Any:
        """Frames from endpoint `a` to `b` drawn by this generator (`interpolate.interpolate`;
        the same method on the Ray backend runs on a generator replica)."""
        from image_interpreter.generate.interpolate import interpolate

        return interpolate(self, a, b, **options)

    def regenerate(
        self,
        recipe: Recipe,
        priors: PriorSet,
        *,
        read_artifact: ReadArtifact,
        progress: ProgressCallback | None = None,
        render_cache: RenderCache | None = None,
        exact: bool = False,
    ) -> Candidate:
        """The candidate `recipe` describes, drawn again.

        Alone by default: the same seed, noise and inputs. CPU and GPU kernels are not
        bit-for-bit invariant to the batch size, so the pixels may differ from the batched
        original by rounding (a level or so in a few values). With `exact`, its whole batch is
        drawn again, in the same call shape, and the pixels are identical on the same device.
        """
        if recipe.custom_inputs:
            raise GenerationError(
                f"This candidate was drawn from {' and '.join(recipe.custom_inputs)} given"
                " directly (an interpolation); its recipe alone cannot draw it again."
            )
        if priors_sha256(priors) != recipe.priors_sha256:
            raise GenerationError(
                f"These priors are not the ones the candidate was drawn from (version"
                f" {recipe.priors_version}, {recipe.priors_sha256[:12]}); load that version."
            )
        for role, wanted in recipe.model_ids.items():
            current = model_id(role, self.settings)
            if current != wanted:
                raise GenerationError(
                    f"The candidate was drawn with '{wanted}' as {role}; the settings now use"
                    f" '{current}'. Switch profile or model to draw it again."
                )
        used = recipe.prior_guidance
        if used is not None and used.decoder != self.config.guidance_decoder:
            raise GenerationError(
                f"The candidate was guided with the '{used.decoder}' decoder; the settings now"
                f" use '{self.config.guidance_decoder}' (generation.guidance_decoder)."
            )
        drawn = self.generate(
            recipe.request(priors, exact=exact),
            read_artifact=read_artifact,
            progress=progress,
            render_cache=render_cache,
        )
        again = drawn[recipe.index - recipe.batch_first if exact else 0]
        same = recipe.model_copy(
            update={
                "batch": again.recipe.batch,
                "batch_first": recipe.batch_first if exact else recipe.index,
                "cpu_offload": again.recipe.cpu_offload,
            }
        )
        return again.model_copy(update={"label": recipe.label, "index": 0, "recipe": same})

    def initial_noise(self, seed: int, width: int, height: int) -> torch.Tensor:
        """The unscaled initial latents a seed gives at a size: (1, C, H/f, W/f), as the
        pipelines draw them (for interpolating between two candidates' noise)."""
        import torch
        from diffusers.utils.torch_utils import randn_tensor

        base = self.components.base
        factor = base.vae_scale_factor
        shape = (1, base.unet.config.in_channels, height // factor, width // factor)
        return randn_tensor(
            shape,
            generator=torch.Generator("cpu").manual_seed(seed),
            device=self.components.device,
            dtype=self.components.dtype,
        )

    def encode_prompt(self, prompt: str, negative: str = "") -> PromptEmbeddings:
        """Chunked, cached embeddings of a prompt and a negative prompt."""
        return self.components.prompts.encode(prompt, negative)

    # --- planning --------------------------------------------------------------------------

    def _plan(self, request: GenerationRequest) -> _Plan:
        settings = request.priors.generation
        count = request.candidates or settings.candidates
        seed = request.seed if request.seed is not None else settings.seed
        if seed is None:
            seed = secrets.randbelow(2**31)
        if seed + count - 1 > MAX_SEED:
            raise GenerationError(f"Seed {seed} is too large: use one below {MAX_SEED - 64}.")
        steps = request.steps or settings.steps
        strength: float | None = None
        if request.mode == "img2img":
            strength = request.strength if request.strength is not None else settings.strength
        elif request.mode == "inpaint":
            strength = request.strength if request.strength is not None else 1.0
        if strength is not None and int(steps * strength) < 1:
            raise GenerationError(
                f"With strength {strength} and {steps} steps no denoising step would run;"
                " raise the strength or the number of steps."
            )
        width, height = self._size(request)
        return _Plan(
            mode=request.mode,
            candidates=count,
            seed=seed,
            steps=steps,
            guidance=request.guidance if request.guidance is not None else settings.guidance,
            width=width,
            height=height,
            strength=strength,
            scheduler=request.scheduler,
            scheduler_config=request.scheduler_config,
        )

    def size_for(self, request: GenerationRequest) -> tuple[int, int]:
        """The (width, height) `request` is drawn at."""
        return self._size(request)

    def _size(self, request: GenerationRequest) -> tuple[int, int]:
        """(width, height): asked for, else the priors' settings, else the model's native size
        with the source's aspect (the short side grows to 64 if need be); multiples of 8, at
        least 64 and at most MAX_SIDE a side, whatever the source's shape."""
        settings = request.priors.generation
        source = (request.priors.source.width, request.priors.source.height)
        width = request.width or settings.width
        height = request.height or settings.height
        bounds = {"min_side": MIN_SIDE, "max_side": MAX_SIDE, "multiple": 8, "round_down": True}
        if width is not None and height is not None:
            return fit_size((width, height), **bounds)
        if width is not None:
            return fit_size(source, scale=width / source[0], **bounds)
        if height is not None:
            return fit_size(source, scale=height / source[1], **bounds)
        base = self.components.base
        native = int(base.unet.config.sample_size) * int(base.vae_scale_factor)
        longest = max(MIN_SIDE, min(MAX_SIDE, round(native * NETWORK_ASPECT)))
        return fit_size(source, long_side=native, **{**bounds, "max_side": longest})

    def _jobs(
        self,
        request: GenerationRequest,
        plan: _Plan,
        read_artifact: ReadArtifact,
        render_cache: RenderCache | None,
    ) -> list[_Job]:
        priors = request.priors
        enabled = priors.enabled()
        available = [kind for kind in control_kinds() if kind in enabled]
        if request.kinds is None:
            kinds = available
        else:
            missing = [kind for kind in request.kinds if kind not in available]
            if missing:
                raise GenerationError(
                    f"No enabled {' or '.join(missing)} prior to generate from; enabled control"
                    f" priors: {', '.join(available) or 'none'}."
                )
            kinds = [kind for kind in available if kind in request.kinds]
        size = (plan.width, plan.height)
        images = render_controls(priors, size, read_artifact, kinds=kinds, cache=render_cache)
        controls = [self._control(kind, enabled[kind]) for kind in kinds]
        pictures = [images[kind] for kind in kinds]
        prompt = request.prompt if request.prompt is not None else build_prompt(priors)
        negative = request.negative_prompt
        if negative is None:
            negative = build_negative(priors)
        if request.mode == "combined":
            return [_Job("combined", "text", prompt, negative, controls, pictures)]
        if request.mode == "per_prior":
            jobs = [_Job("text", "text", prompt, negative)]
            for control, picture in zip(controls, pictures, strict=True):
                jobs.append(_Job(control.kind, "text", prompt, negative, [control], [picture]))
            return jobs
        source = self._source(priors, read_artifact, size)
        if request.mode == "img2img":
            return [
                _Job("img2img", "img2img", prompt, negative, controls, pictures,
                     init_image=source, strength=plan.strength)
            ]  # fmt: skip
        return [self._inpaint_job(request, plan, read_artifact, source, controls, pictures)]

    def _guidance(
        self,
        request: GenerationRequest,
        job: _Job,
        plan: _Plan,
        read_artifact: ReadArtifact,
        notes: Callable[[str], None] | None,
    ) -> Guidance | None:
        """The prior guidance `job` runs with, or None (no prior has a guidance weight)."""
        components = self.components
        return prepare_guidance(
            request.priors, (plan.width, plan.height), read_artifact, job.prompt,
            settings=self.settings, base_vae=components.base.vae, device=components.device,
            dtype=components.dtype, decoder=self.config.guidance_decoder, notes=notes,
            is_oom=is_out_of_memory, free=free_memory,
        )  # fmt: skip

    def _control(self, kind: str, prior: Any) -> ControlUse:
        role = control_role(kind, prior)
        mode = union_mode(kind, prior) if self.components.is_union(role) else None
        return ControlUse(
            kind=kind, role=role, model_id=model_id(role, self.settings), weight=prior.weight,
            start=prior.start, end=prior.end, prior_digest=prior_digest(prior), control_mode=mode,
        )  # fmt: skip

    def _pipeline(self, job: _Job) -> DiffusionPipeline:
        """The (shared) pipeline that draws `job`."""
        return self.components.pipeline(*self._pipeline_key(job))

    @staticmethod
    def _pipeline_key(job: _Job) -> tuple[Variant, tuple[str, ...], tuple[int | None, ...]]:
        roles = tuple(c.role for c in job.controls)
        return job.variant, roles, tuple(c.control_mode for c in job.controls)

    def _source(
        self, priors: PriorSet, read_artifact: ReadArtifact, size: tuple[int, int]
    ) -> Image.Image:
        image = load_image(read_artifact(priors.source.sha256), self.settings.limits)
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)

    def _inpaint_job(
        self,
        request: GenerationRequest,
        plan: _Plan,
        read_artifact: ReadArtifact,
        source: Image.Image,
        controls: list[ControlUse],
        pictures: list[Image.Image],
    ) -> _Job:
        priors = request.priors
        objects = priors.objects
        if objects is None or not objects.enabled:
            raise GenerationError(
                "Inpainting repaints the objects marked to replace or remove, and there are no"
                " enabled objects here. Extract objects (or enable them) and mark one first."
            )
        items = objects.objects
        replaced = [i for i, item in enumerate(items) if item.action == "replace"]
        removed = [i for i, item in enumerate(items) if item.action == "remove"]
        if not replaced and not removed:
            raise GenerationError(
                "No object is marked to replace or remove; mark one (e.g. 'replace the dog with"
                " a cat') before inpainting."
            )
        for i in replaced:
            if not (items[i].replacement or "").strip():
                raise GenerationError(
                    f"Object {i} ('{items[i].label}') is marked for replacement but says nothing"
                    " about what replaces it; give a replacement."
                )
        grow = round(self.config.inpaint_grow * max(plan.width, plan.height))
        mask = render_inpaint_mask(
            objects, (plan.width, plan.height), read_artifact, select=replaced + removed,
            dilate=grow,
        )  # fmt: skip
        caption = build_prompt(priors)
        if request.prompt is not None:
            prompt = request.prompt
        else:
            parts = [items[i].replacement or "" for i in replaced]
            if removed and not replaced and not caption:
                parts.append("background")
            prompt = join_prompt([*parts, caption])
        if request.negative_prompt is not None:
            negative = request.negative_prompt
        else:
            gone = [items[i].label for i in removed]
            gone += [
                items[i].label
                for i in replaced
                if items[i].label.lower() not in (items[i].replacement or "").lower()
            ]
            negative = build_negative(priors, gone)
        return _Job(
            "inpaint", "inpaint", prompt, negative, controls, pictures, init_image=source,
            mask=mask, strength=plan.strength,
            inpaint=InpaintUse(replaced=replaced, removed=removed, grow=grow),
        )  # fmt: skip

    def _check_latents(self, latents: torch.Tensor, plan: _Plan) -> None:
        base = self.components.base
        factor = base.vae_scale_factor
        shape = (base.unet.config.in_channels, plan.height // factor, plan.width // factor)
        if latents.ndim != 4 or tuple(latents.shape[1:]) != shape:
            raise GenerationError(
                f"latents must be (candidates, {', '.join(map(str, shape))}) for"
                f" {plan.width}x{plan.height}, not {tuple(latents.shape)}."
            )
        if plan.mode == "per_prior" or latents.shape[0] != plan.candidates:
            raise GenerationError(
                "latents need one row per candidate, and one set of candidates (not per_prior)."
            )

    # --- running ---------------------------------------------------------------------------

    @staticmethod
    def _steps(job: _Job, plan: _Plan) -> int:
        if job.strength is None:
            return plan.steps
        return min(int(plan.steps * job.strength), plan.steps)

    def _run_job(
        self,
        request: GenerationRequest,
        job: _Job,
        plan: _Plan,
        state: _State,
        tracker: _Tracker,
        later: list[_Job],
        embeds: PromptEmbeddings,
        latents: torch.Tensor | None,
    ) -> list[tuple[Image.Image, _Call]]:
        """Every candidate of one job: batches of at most max_batch images, halved on OOM."""
        components = self.components
        pipe = self._pipeline(job)
        fit_key = (self._pipeline_key(job), plan.width, plan.height)
        fitted = components.memory_fit(fit_key)
        if fitted is not None:  # an earlier call ran out of memory: start at what fitted then
            state.max_batch = min(state.max_batch, fitted[0])
            state.offload = state.offload or (fitted[1] and components.can_offload)
        drawn: list[tuple[Image.Image, _Call]] = []
        expected = self._steps(job, plan)
        while len(drawn) < plan.candidates:
            first = len(drawn)
            batch = min(state.max_batch, plan.candidates - first)
            seeds = [plan.seed + i for i in range(first, first + batch)]
            calls_left = math.ceil((plan.candidates - first) / state.max_batch) - 1
            later_steps = sum(
                self._steps(j, plan) * math.ceil(plan.candidates / state.max_batch) for j in later
            )
            tracker.start(expected, calls_left * expected + later_steps)
            rows = latents[first : first + batch] if latents is not None else None
            try:
                if state.offload:
                    components.offload(pipe)
                components.configure_vae(batch, plan.width, plan.height)
                images = self._call(pipe, job, plan, seeds, embeds, rows, tracker, first)
            except GenerationCancelled:
                raise
            except Exception as exc:
                if not (self.config.oom_fallback and is_out_of_memory(exc)):
                    raise
                free_memory()
                if batch > 1:
                    state.max_batch = max(1, batch // 2)
                elif not state.offload and components.offload(pipe):
                    state.offload = True
                else:
                    raise GenerationError(
                        f"Out of memory drawing even one {plan.width}x{plan.height} image with"
                        " the model offloaded to the CPU. Draw smaller images (and upscale), or"
                        " disable some control priors.",
                        request,
                    ) from exc
                components.remember_fit(fit_key, state.max_batch, state.offload)
                continue
            call = _Call(batch, first, state.offload, job.guided)
            drawn += [(image, call) for image in images]
        return drawn

    def _call(
        self,
        pipe: DiffusionPipeline,
        job: _Job,
        plan: _Plan,
        seeds: list[int],
        embeds: PromptEmbeddings,
        latents: torch.Tensor | None,
        tracker: _Tracker,
        first: int,
    ) -> list[Image.Image]:
        import torch

        count = len(seeds)
        positive, negative = embeds.prompt_embeds, embeds.negative_prompt_embeds
        pooled, negative_pooled = embeds.pooled_prompt_embeds, embeds.negative_pooled_prompt_embeds
        if self.components.is_xl and (pooled is None or negative_pooled is None):
            raise GenerationError(
                "An SDXL base needs pooled text embeddings with the prompt embeddings; these"
                " embeddings have none."
            )
        if positive.shape[0] == 1:
            per_prompt = count
        else:  # one embedding per candidate (interpolation)
            positive = positive[first : first + count]
            negative = negative[first : first + count]
            if pooled is not None and negative_pooled is not None and pooled.shape[0] > 1:
                pooled = pooled[first : first + count]
                negative_pooled = negative_pooled[first : first + count]
            per_prompt = 1
        kwargs: dict[str, Any] = {
            "prompt_embeds": positive,
            "negative_prompt_embeds": negative,
            "num_images_per_prompt": per_prompt,
            "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance,
            "generator": [torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            "height": plan.height,
            "width": plan.width,
            "output_type": "pil",
            "callback_on_step_end": tracker.callback(),
        }
        if pooled is not None:  # SDXL
            kwargs["pooled_prompt_embeds"] = pooled
            kwargs["negative_pooled_prompt_embeds"] = negative_pooled
        if latents is not None:
            kwargs["latents"] = latents
        if job.controls:
            single = len(job.controls) == 1
            weights = [c.weight for c in job.controls]
            starts = [c.start for c in job.controls]
            ends = [c.end for c in job.controls]
            pictures: Any = job.control_images
            kwargs["controlnet_conditioning_scale"] = weights[0] if single else weights
            kwargs["control_guidance_start"] = starts[0] if single else starts
            kwargs["control_guidance_end"] = ends[0] if single else ends
            if single:
                pictures = pictures[0]
            # SDXL's union pipelines take a control mode per image, and control_image throughout.
            union = takes_control_modes(pipe)
            if union:
                modes = [c.control_mode for c in job.controls]
                kwargs["control_mode"] = modes[0] if single else modes
            kwargs["image" if job.variant == "text" and not union else "control_image"] = pictures
        if job.variant == "img2img":
            kwargs["image"] = job.init_image
            kwargs["strength"] = job.strength
            if not job.controls:  # the plain img2img pipeline takes its size from the image
                del kwargs["height"], kwargs["width"]
        elif job.variant == "inpaint":
            # One source and mask per image, so each image's generator encodes its own copy and
            # a candidate drawn alone consumes its random numbers exactly as in the batch.
            kwargs["image"] = [job.init_image] * count
            kwargs["mask_image"] = [job.mask] * count
            kwargs["strength"] = job.strength
        pipe.scheduler = self.components.scheduler(plan.scheduler, plan.scheduler_config)
        sampling = None
        if job.guidance is not None:
            sampling = job.guidance.sampling(only=job.guided_steps)
            sampling.attach(pipe.scheduler)
        images = list(pipe(**kwargs).images)
        job.guided = job.guidance.record(sampling) if job.guidance and sampling else None
        if job.variant == "inpaint" and job.mask is not None and job.init_image is not None:
            images = [_overlay(image, job.init_image, job.mask) for image in images]
        return images

    # --- recipes ---------------------------------------------------------------------------

    def _recipe_fields(
        self,
        request: GenerationRequest,
        job: _Job,
        plan: _Plan,
        embeds: PromptEmbeddings,
        scheduler: Any,
        custom: list[str],
    ) -> dict[str, Any]:
        """What every candidate of `job` shares in its recipe."""
        import diffusers
        import torch

        components = self.components
        priors = request.priors
        roles = tuple(c.role for c in job.controls)
        return {
            "mode": plan.mode,
            "label": job.label,
            "pipeline": type(self._pipeline(job)).__name__,
            "base_pipeline": type(components.base).__name__,
            "source_sha256": priors.source.sha256,
            "priors_version": priors.version,
            "priors_sha256": priors_sha256(priors),
            "prompt": job.prompt,
            "negative_prompt": job.negative,
            "prompt_chunks": embeds.chunks,
            "model_ids": {
                **components.model_ids(roles),
                **(job.guidance.model_ids if job.guidance else {}),
            },
            "controls": job.controls,
            "inpaint": job.inpaint,
            "base_seed": plan.seed,
            "width": plan.width,
            "height": plan.height,
            "steps": plan.steps,
            "guidance": plan.guidance,
            "strength": job.strength,
            "scheduler": type(scheduler).__name__,
            "scheduler_config": _plain(dict(scheduler.config)),
            "profile": self.settings.profile,
            "device": str(components.device),
            "dtype": str(components.dtype).removeprefix("torch."),
            "diffusers_version": diffusers.__version__,
            "torch_version": torch.__version__,
            "custom_inputs": custom,
        }


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError, or a RuntimeError saying the same (MPS, older CUDA paths)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _overlay(image: Image.Image, source: Image.Image, mask: Image.Image) -> Image.Image:
    """The generated pixels inside the mask (softened at its edge), the source's outside."""
    radius = max(1.0, min(image.size) / 256)
    soft = mask.convert("L").filter(ImageFilter.GaussianBlur(radius))
    return Image.composite(image.convert("RGB"), source.convert("RGB"), soft)


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """A scheduler config as plain JSON values (tuples become lists, numbers stay numbers)."""

    def convert(item: Any) -> Any:
        return item.tolist() if hasattr(item, "tolist") else str(item)

    return json.loads(json.dumps(value, default=convert))
