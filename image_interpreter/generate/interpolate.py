"""Latent interpolation: N frames between two candidates or two PriorSets, as GIF and MP4.

Frame i of N sits at t = i / (N - 1) and is drawn by the generator from
- the initial noise: a spherical interpolation (slerp) of the two endpoints' seed noise, which
  keeps every frame's noise as "Gaussian" as the ends (a straight line would shrink it towards
  zero and wash the middle frames out);
- the text: a straight-line interpolation of the two prompts' CLIP embeddings (and of the negative
  prompts'), given to the generator in place of a prompt;
- the priors: people's keypoints move joint by joint (people matched by index; only joints
  present in both ends), control weights, step ranges and depth adjustments move linearly, and
  what cannot move (maps, masks, captions, objects) comes from the nearer end.
Kinds named in `hold` stay exactly as in the first end for every frame — the "fixed point" that
makes an interpolation readable, e.g. depth held while the pose moves.

Frames whose priors are equal (two candidates of one PriorSet, or everything held) are drawn in
one batched generator call; the rest one call per frame, as their control images differ.

    result = interpolate(generator, Endpoint.from_recipe(recipe_a, priors),
                         Endpoint.from_recipe(recipe_b, priors), frames=16,
                         read_artifact=session.read_artifact)
    result.write(out_dir)          # frames/0000.png ..., interpolation.gif, interpolation.mp4
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from image_interpreter.durable import replacing
from image_interpreter.generate.errors import GenerationError
from image_interpreter.generate.prompt import PromptEmbeddings, build_negative, build_prompt
from image_interpreter.generate.request import Candidate, GenerationRequest, Recipe
from image_interpreter.priors.render import ReadArtifact, RenderCache, control_kinds
from image_interpreter.priors.schema import (
    PRIOR_KINDS,
    Box,
    DepthPrior,
    Face,
    Hand,
    Keypoint,
    PeoplePrior,
    Person,
    PriorKind,
    PriorSet,
)

if TYPE_CHECKING:
    import torch

    from image_interpreter.generate.generator import Generator, ProgressCallback

MAX_FRAMES = 1000
KIND_ALIASES: dict[str, PriorKind] = {
    "pose": "people", "poses": "people", "person": "people", "body": "people",
    "seg": "segmentation", "canny": "edges", "lineart": "edges", "edge": "edges",
    "text": "caption", "prompt": "caption", "colors": "palette", "colours": "palette",
}  # fmt: skip


# --- the math ----------------------------------------------------------------------------------


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, *, dot_threshold: float = 0.9995):
    """Spherical interpolation from `a` (t=0) to `b` (t=1) along the great circle through them,
    treating each tensor as one vector. Unit vectors stay unit; the ends are exact. Nearly
    parallel vectors (|cos| above `dot_threshold`) fall back to a straight line."""
    import torch

    if a.shape != b.shape:
        raise ValueError(
            f"slerp needs tensors of one shape, not {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    x, y = a.double().flatten(), b.double().flatten()
    denom = (x.norm() * y.norm()).clamp_min(1e-300)
    cos = float(torch.dot(x, y) / denom)
    if abs(cos) > dot_threshold:
        out = x + (y - x) * t
    else:
        theta = math.acos(max(-1.0, min(1.0, cos)))
        sin = math.sin(theta)
        out = x * (math.sin((1 - t) * theta) / sin) + y * (math.sin(t * theta) / sin)
    return out.reshape(a.shape).to(a.dtype)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float):
    """The straight line from `a` (t=0) to `b` (t=1); the ends are exact."""
    if a.shape != b.shape:
        raise ValueError(
            f"lerp needs tensors of one shape, not {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    return (a.double() + (b.double() - a.double()) * t).to(a.dtype)


def lerp_embeddings(a: PromptEmbeddings, b: PromptEmbeddings, t: float) -> PromptEmbeddings:
    """Prompt and negative embeddings (and SDXL's pooled ones) interpolated in a straight line
    (same window count)."""
    if a.prompt_embeds.shape != b.prompt_embeds.shape:
        raise ValueError(
            "Embeddings to interpolate need one shape (pad them to one window count first):"
            f" {tuple(a.prompt_embeds.shape)} and {tuple(b.prompt_embeds.shape)}."
        )
    return PromptEmbeddings(
        lerp(a.prompt_embeds, b.prompt_embeds, t),
        lerp(a.negative_prompt_embeds, b.negative_prompt_embeds, t),
        a.chunks,
        _lerp_optional(a.pooled_prompt_embeds, b.pooled_prompt_embeds, t),
        _lerp_optional(a.negative_pooled_prompt_embeds, b.negative_pooled_prompt_embeds, t),
    )


def _cat_optional(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    import torch

    return None if any(p is None for p in parts) else torch.cat(parts)  # type: ignore[arg-type]


def _lerp_optional(a: torch.Tensor | None, b: torch.Tensor | None, t: float) -> torch.Tensor | None:
    """SDXL's pooled embeddings move with the rest; SD 1.5 has none at either end."""
    if a is None or b is None:
        return None
    return lerp(a, b, t)


def frame_times(frames: int) -> list[float]:
    """t for each of `frames` frames: 0 ... 1 evenly, both ends included."""
    if not 2 <= frames <= MAX_FRAMES:
        raise GenerationError(f"An interpolation has 2 to {MAX_FRAMES} frames, not {frames}.")
    return [i / (frames - 1) for i in range(frames)]


def _mix(a: float, b: float, t: float) -> float:
    return a if t == 0 else b if t == 1 else a + (b - a) * t


def _nearer(a: Any, b: Any, t: float) -> Any:
    return a if t < 0.5 else b


def _keypoint(a: Keypoint, b: Keypoint, t: float) -> Keypoint:
    return Keypoint(
        x=_mix(a.x, b.x, t),
        y=_mix(a.y, b.y, t),
        confidence=min(1.0, max(0.0, _mix(a.confidence, b.confidence, t))),
    )


def _keypoints(a: dict[str, Keypoint], b: dict[str, Keypoint], t: float) -> dict[str, Keypoint]:
    """Joint by joint, only the joints both have (in the first one's order)."""
    return {name: _keypoint(point, b[name], t) for name, point in a.items() if name in b}


def _scores(a: dict[str, float], b: dict[str, float], t: float) -> dict[str, float]:
    """Label scores (expressions, gestures): a label one side lacks scores 0 there."""
    names = list(a) + [name for name in b if name not in a]
    mixed = {name: _mix(a.get(name, 0.0), b.get(name, 0.0), t) for name in names}
    return {name: min(1.0, max(0.0, score)) for name, score in mixed.items()}


def _box(a: Box | None, b: Box | None, t: float) -> Box | None:
    if a is None or b is None:
        return _nearer(a, b, t)
    return Box(
        x0=_mix(a.x0, b.x0, t), y0=_mix(a.y0, b.y0, t),
        x1=_mix(a.x1, b.x1, t), y1=_mix(a.y1, b.y1, t),
    )  # fmt: skip


def interpolate_person(a: Person, b: Person, t: float) -> Person:
    """One person moved from `a` to `b`: body, hand and face keypoints joint by joint (joints
    both have), box, expression and gesture scores; the label from the nearer end."""
    hands: dict[str, Hand] = {}
    for side in list(a.hands) + [s for s in b.hands if s not in a.hands]:
        ha, hb = a.hands.get(side), b.hands.get(side)
        if ha is not None and hb is not None:
            hands[side] = Hand(
                keypoints=_keypoints(ha.keypoints, hb.keypoints, t),
                gestures=_scores(ha.gestures, hb.gestures, t),
            )
        else:
            hand = _nearer(ha, hb, t)
            if hand is not None:
                hands[side] = hand
    if a.face is not None and b.face is not None:
        face: Face | None = Face(landmarks=_keypoints(a.face.landmarks, b.face.landmarks, t))
    else:
        face = _nearer(a.face, b.face, t)
    return Person(
        label=_nearer(a.label, b.label, t),
        box=_box(a.box, b.box, t),
        body=_keypoints(a.body, b.body, t),
        hands=hands,
        face=face,
        expression=_scores(a.expression, b.expression, t),
    )


def interpolate_people(a: PeoplePrior, b: PeoplePrior, t: float) -> PeoplePrior:
    """People matched by index and moved joint by joint; a person only one end has appears
    from that end's half of the interpolation. Weight and step range move linearly."""
    people = [interpolate_person(pa, pb, t) for pa, pb in zip(a.people, b.people, strict=False)]
    extra = a.people[len(b.people) :] if t < 0.5 else b.people[len(a.people) :]
    people += extra
    return PeoplePrior.model_validate(
        {**_prior_fields(a, b, t), "people": [p.model_dump() for p in people]}
    )


def _prior_fields(a: Any, b: Any, t: float) -> dict[str, Any]:
    """The fields every prior has: enabled and provenance from the nearer end; weight and step
    range interpolated."""
    near = _nearer(a, b, t)
    start, end = _mix(a.start, b.start, t), _mix(a.end, b.end, t)
    return {
        "enabled": near.enabled,
        "weight": min(2.0, max(0.0, _mix(a.weight, b.weight, t))),
        "start": min(start, end),
        "end": max(start, end),
        "provenance": near.provenance.model_dump() if near.provenance is not None else None,
    }


def _interpolate_prior(kind: PriorKind, a: Any, b: Any, t: float) -> Any:
    if a is None or b is None:
        return _nearer(a, b, t)
    if kind == "people":
        return interpolate_people(a, b, t)
    data = _nearer(a, b, t).model_dump()
    data.update(_prior_fields(a, b, t))
    if kind == "depth":
        assert isinstance(a, DepthPrior) and isinstance(b, DepthPrior)
        adjust = data["adjust"]
        for name in ("scale", "flatten", "blur", "push_background"):
            adjust[name] = _mix(getattr(a.adjust, name), getattr(b.adjust, name), t)
    return type(a).model_validate(data)


def interpolate_priors(a: PriorSet, b: PriorSet, t: float, hold: Iterable[str] = ()) -> PriorSet:
    """The PriorSet at `t` between `a` and `b` (a valid PriorSet; source, version and generation
    settings are `a`'s). Kinds in `hold` are `a`'s unchanged."""
    held = parse_hold(hold)
    data = a.model_dump()
    for kind in PRIOR_KINDS:
        pa, pb = getattr(a, kind), getattr(b, kind)
        prior = pa if kind in held else _interpolate_prior(kind, pa, pb, t)
        data[kind] = prior.model_dump() if prior is not None else None
    return PriorSet.model_validate(data)


def parse_hold(hold: Iterable[str] | str) -> set[PriorKind]:
    """Prior kinds from names and aliases ("pose" -> people, "canny" -> edges)."""
    if isinstance(hold, str):
        hold = hold.split(",")
    kinds: set[PriorKind] = set()
    for raw in hold:
        name = raw.strip().lower()
        if not name:
            continue
        kind = KIND_ALIASES.get(name, name)
        if kind not in PRIOR_KINDS:
            raise GenerationError(
                f"Cannot hold '{raw}': not a prior kind. Hold any of {', '.join(PRIOR_KINDS)}"
                " (or 'pose' for people)."
            )
        kinds.add(kind)  # type: ignore[arg-type]
    return kinds


# --- the ends ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One end of an interpolation: priors, and the seed and prompt that draw it.

    From a candidate (`from_recipe`): its seed, prompt, size, steps and guidance. From a PriorSet:
    the priors' seed (or the other end's, so only the priors move) and the prompt built from the
    captions."""

    priors: PriorSet
    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    kinds: tuple[str, ...] | None = None  # the control kinds it was drawn with (None: all)
    recipe: Recipe | None = None

    @classmethod
    def from_priors(cls, priors: PriorSet, seed: int | None = None) -> Endpoint:
        return cls(priors=priors, seed=seed if seed is not None else priors.generation.seed)

    @classmethod
    def from_recipe(cls, recipe: Recipe, priors: PriorSet) -> Endpoint:
        return cls(
            priors=priors,
            seed=recipe.seed,
            prompt=recipe.prompt,
            negative_prompt=recipe.negative_prompt,
            width=recipe.width,
            height=recipe.height,
            steps=recipe.steps,
            guidance=recipe.guidance,
            kinds=tuple(c.kind for c in recipe.controls),
            recipe=recipe,
        )

    def texts(self) -> tuple[str, str]:
        prompt = self.prompt if self.prompt is not None else build_prompt(self.priors)
        negative = (
            self.negative_prompt
            if self.negative_prompt is not None
            else build_negative(self.priors)
        )
        return prompt, negative


# --- drawing -----------------------------------------------------------------------------------


@dataclass
class Frame:
    index: int
    t: float
    image: Image.Image
    priors: PriorSet
    candidate: Candidate


@dataclass
class Interpolation:
    """The frames, in order, and what they were drawn from."""

    frames: list[Frame]
    seeds: tuple[int, int]
    prompts: tuple[str, str]
    hold: tuple[str, ...]
    size: tuple[int, int]
    calls: int = 0  # generator calls it took

    @property
    def images(self) -> list[Image.Image]:
        return [frame.image for frame in self.frames]

    def write(self, out: Path | str, *, fps: float = 8.0, bounce: bool = False) -> dict[str, Path]:
        """frames/NNNN.png, interpolation.gif, interpolation.mp4 and frames.json in `out`."""
        out = Path(out)
        paths = write_animation(self.images, out, fps=fps, bounce=bounce)
        frames_dir = out / "frames"
        frames_dir.mkdir(parents=True, exist_ok=True)
        for frame in self.frames:
            _atomic(frames_dir / f"{frame.index:04d}.png", lambda p, f=frame: f.image.save(p))
        summary = {
            "seeds": list(self.seeds),
            "prompts": list(self.prompts),
            "hold": list(self.hold),
            "width": self.size[0],
            "height": self.size[1],
            "fps": fps,
            "bounce": bounce,
            "frames": [
                {"index": f.index, "t": f.t, "recipe": f.candidate.recipe.model_dump(mode="json")}
                for f in self.frames
            ],
        }
        text = json.dumps(summary, indent=1)
        _atomic(out / "frames.json", lambda p: Path(p).write_text(text, encoding="utf-8"))
        paths["frames"] = frames_dir
        paths["json"] = out / "frames.json"
        return paths


def interpolate(
    generator: Generator,
    a: Endpoint,
    b: Endpoint,
    *,
    frames: int = 16,
    hold: Iterable[str] = (),
    read_artifact: ReadArtifact,
    steps: int | None = None,
    guidance: float | None = None,
    width: int | None = None,
    height: int | None = None,
    progress: ProgressCallback | None = None,
    render_cache: RenderCache | None = None,
) -> Interpolation:
    """`frames` images from `a` to `b`, drawn by `generator` text-to-image with every enabled
    control prior (or the kinds the ends' candidates used; img2img and inpainting candidates are
    redrawn text-to-image too). The first and last frames are the ends themselves when their
    priors survive interpolation unchanged (the same joints on both sides) and nothing is held
    that differs. Both ends are drawn at one size: A's (or `width` x `height`)."""
    import torch

    times = frame_times(frames)
    held = parse_hold(hold)
    seed_a = a.seed if a.seed is not None else (b.seed if b.seed is not None else 0)
    seed_b = b.seed if b.seed is not None else seed_a
    steps = steps or a.steps
    guidance = guidance if guidance is not None else a.guidance
    size_request = GenerationRequest(
        priors=a.priors, candidates=1, width=width or a.width, height=height or a.height
    )
    w, h = _frame_size(generator, size_request)

    noise_a = generator.initial_noise(seed_a, w, h)
    noise_b = generator.initial_noise(seed_b, w, h)
    (prompt_a, negative_a), (prompt_b, negative_b) = a.texts(), b.texts()
    embeds_a, embeds_b = _same_windows(
        generator, generator.encode_prompt(prompt_a, negative_a),
        generator.encode_prompt(prompt_b, negative_b),
    )  # fmt: skip
    kinds = _kinds(a, b)

    plans = [(i, t, interpolate_priors(a.priors, b.priors, t, held)) for i, t in enumerate(times)]
    groups = _groups(plans)
    done_frames = 0
    drawn: list[Frame] = []
    for group in groups:
        priors = group[0][2]
        latents = torch.cat([slerp(noise_a, noise_b, t) for _, t, _ in group])
        parts = [lerp_embeddings(embeds_a, embeds_b, t) for _, t, _ in group]
        embeddings = PromptEmbeddings(
            torch.cat([p.prompt_embeds for p in parts]),
            torch.cat([p.negative_prompt_embeds for p in parts]),
            embeds_a.chunks,
            _cat_optional([p.pooled_prompt_embeds for p in parts]),
            _cat_optional([p.negative_pooled_prompt_embeds for p in parts]),
        )
        middle = group[len(group) // 2][1]
        request = GenerationRequest(
            priors=priors,
            mode="combined",
            candidates=len(group),
            seed=seed_a if middle < 0.5 else seed_b,
            steps=steps,
            guidance=guidance,
            width=w,
            height=h,
            kinds=_available(kinds, priors),
            prompt=prompt_a if middle < 0.5 else prompt_b,
            negative_prompt=negative_a if middle < 0.5 else negative_b,
        )
        candidates = generator.generate(
            request,
            read_artifact=read_artifact,
            progress=_overall(progress, done_frames, len(group), frames),
            render_cache=render_cache,
            latents=latents,
            embeddings=embeddings,
        )
        for (index, t, frame_priors), candidate in zip(group, candidates, strict=True):
            drawn.append(Frame(index, t, candidate.image, frame_priors, candidate))
        done_frames += len(group)
    return Interpolation(
        frames=drawn,
        seeds=(seed_a, seed_b),
        prompts=(prompt_a, prompt_b),
        hold=tuple(sorted(held)),
        size=(w, h),
        calls=len(groups),
    )


def _frame_size(generator: Generator, request: GenerationRequest) -> tuple[int, int]:
    """The size the generator draws `request` at (asked for, the priors', or the native one)."""
    return generator._size(request)


def _same_windows(
    generator: Generator, a: PromptEmbeddings, b: PromptEmbeddings
) -> tuple[PromptEmbeddings, PromptEmbeddings]:
    """Pad the shorter prompt's embeddings with empty 77-token windows (as the encoder pads a
    negative prompt), so the two can be interpolated."""
    import torch

    if a.chunks == b.chunks:
        return a, b
    empty = generator.components.prompts.embed("")

    def pad(e: PromptEmbeddings, chunks: int) -> PromptEmbeddings:
        more = chunks - e.chunks
        if more <= 0:
            return e
        fill = empty.to(e.prompt_embeds.device, e.prompt_embeds.dtype)
        return PromptEmbeddings(
            torch.cat([e.prompt_embeds, *[fill] * more], dim=1),
            torch.cat([e.negative_prompt_embeds, *[fill] * more], dim=1),
            chunks,
            e.pooled_prompt_embeds,  # pooled from the first window: padding leaves it as it is
            e.negative_pooled_prompt_embeds,
        )

    chunks = max(a.chunks, b.chunks)
    return pad(a, chunks), pad(b, chunks)


def _kinds(a: Endpoint, b: Endpoint) -> tuple[str, ...] | None:
    """The control kinds the ends were drawn with (both candidates: their union; else all)."""
    if a.kinds is None or b.kinds is None:
        return None
    return tuple(dict.fromkeys([*a.kinds, *b.kinds]))


def _available(kinds: tuple[str, ...] | None, priors: PriorSet) -> list[str] | None:
    if kinds is None:
        return None
    enabled = priors.enabled()
    return [k for k in control_kinds() if k in kinds and k in enabled]


def _groups(plans: list[tuple[int, float, PriorSet]]) -> list[list[tuple[int, float, PriorSet]]]:
    """Runs of consecutive frames with equal priors: each run is one batched generator call."""
    groups: list[list[tuple[int, float, PriorSet]]] = []
    last: dict[str, Any] | None = None
    for plan in plans:
        dumped = plan[2].model_dump()
        if groups and dumped == last:
            groups[-1].append(plan)
        else:
            groups.append([plan])
        last = dumped
    return groups


def _overall(
    progress: ProgressCallback | None, done: int, count: int, frames: int
) -> ProgressCallback | None:
    """Per-call progress as progress over all frames."""
    if progress is None:
        return None

    def report(step: int, total: int, preview: Image.Image | None) -> None:
        per_frame = total / max(1, count)
        progress(round(done * per_frame + step), round(frames * per_frame), preview)

    return report


# --- files -------------------------------------------------------------------------------------


def write_animation(
    images: Sequence[Image.Image],
    out: Path | str,
    *,
    fps: float = 8.0,
    bounce: bool = False,
    name: str = "interpolation",
) -> dict[str, Path]:
    """`images` as `name`.gif (looping) and `name`.mp4 (H.264) in `out`; with `bounce` the
    frames play forward then back, for a seamless loop."""
    import imageio.v2 as imageio_v2
    import imageio.v3 as imageio_v3
    import numpy as np

    if not images:
        raise GenerationError("There are no frames to write.")
    if not 0 < fps <= 60:
        raise GenerationError(f"Frames per second must be between 0 and 60, not {fps}.")
    sequence = list(images)
    if bounce and len(sequence) > 2:
        sequence += sequence[-2:0:-1]
    arrays = [np.asarray(image.convert("RGB")) for image in sequence]
    if any(a.shape != arrays[0].shape for a in arrays):
        raise GenerationError("All frames of an animation must have one size.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gif, mp4 = out / f"{name}.gif", out / f"{name}.mp4"

    def write_gif(path: str) -> None:
        imageio_v3.imwrite(
            path, np.stack(arrays), extension=".gif", duration=round(1000 / fps), loop=0
        )

    def write_mp4(path: str) -> None:
        height, width = arrays[0].shape[:2]
        even = [a[: height // 2 * 2, : width // 2 * 2] for a in arrays]  # H.264 wants even sizes
        writer = imageio_v2.get_writer(
            path, format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p",
            macro_block_size=2, ffmpeg_log_level="error", quality=8,
        )  # fmt: skip
        try:
            for frame in even:
                writer.append_data(frame)
        finally:
            writer.close()

    _atomic(gif, write_gif)
    _atomic(mp4, write_mp4)
    return {"gif": gif, "mp4": mp4}


def _atomic(path: Path, write: Callable[[str], Any]) -> None:
    """Write through a temporary file beside `path` (same extension), then rename into place."""
    with replacing(path) as tmp:
        write(str(tmp))


def with_seed(endpoint: Endpoint, seed: int | None) -> Endpoint:
    """`endpoint` with another seed (None: unchanged)."""
    return endpoint if seed is None else replace(endpoint, seed=seed)
