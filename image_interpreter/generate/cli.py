"""`image-interpreter generate PRIORS.json -n 4 --out DIR`: candidates as PNGs with recipes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from image_interpreter.artifacts import ArtifactStore, S3ArtifactStore, open_artifact_store
from image_interpreter.cli.common import console, settings_from
from image_interpreter.durable import write_atomic
from image_interpreter.errors import PriorsError
from image_interpreter.generate.errors import GenerationError

if TYPE_CHECKING:  # imported when the command runs, so --help stays fast
    from image_interpreter.generate.request import GenerationRequest
    from image_interpreter.priors.schema import PriorSet

_PRIORS_MAX_BYTES = 16 * 1024 * 1024
BLANK_CANVAS = " (blank canvas)"  # the source name of priors made from an OpenPose file


def register(app: typer.Typer) -> None:
    app.command(name="generate")(generate)


def generate(
    ctx: typer.Context,
    priors: Annotated[
        Path,
        typer.Argument(
            help="A priors.json (from `extract`) or an OpenPose JSON (a pose on a blank canvas).",
            metavar="PRIORS",
        ),
    ],
    candidates: Annotated[
        int | None, typer.Option("-n", "--candidates", help="Images per set.", min=1, max=64)
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and recipes.")] = Path(
        "candidates"
    ),
    mode: Annotated[
        str, typer.Option(help="combined, per_prior, img2img or inpaint.")
    ] = "combined",
    seed: Annotated[int | None, typer.Option(help="Candidate i gets seed + i.", min=0)] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.", min=1, max=200)] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, e.g. 512x768.")] = None,
    guidance: Annotated[float | None, typer.Option(help="Classifier-free guidance.")] = None,
    strength: Annotated[
        float | None, typer.Option(help="img2img/inpaint: how far from the source (0-1).")
    ] = None,
    kinds: Annotated[
        str | None, typer.Option(help="Only these control priors, comma-separated ('' = none).")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="The text prompt (default: written from the caption).")
    ] = None,
) -> None:
    """Draw candidates from priors and write candidate-NN.png with candidate-NN.json (its
    recipe) for each. The priors' maps and source image are read from the data folder.

    Examples:

      image-interpreter generate priors/priors.json -n 4 --out candidates/

      image-interpreter --profile tiny generate priors.json --mode per_prior --size 128x128

      image-interpreter generate pose.json --prompt "a dancer on a beach" -n 2
    """
    from image_interpreter.generate.generator import Generator
    from image_interpreter.generate.request import MODES
    from image_interpreter.images import encode_png
    from image_interpreter.models.hub import require_models
    from image_interpreter.priors.render import RenderCache

    settings = settings_from(ctx)
    if mode not in MODES:
        raise GenerationError(f"Unknown mode '{mode}'; use one of: {', '.join(MODES)}.")
    width, height = _size(size)
    store = open_artifact_store(settings)
    request = _request(
        _read_priors(priors, store, settings.limits.max_pixels), mode=mode, prompt=prompt,
        candidates=candidates, seed=seed, steps=steps, width=width, height=height,
        guidance=guidance, strength=strength,
        kinds=None if kinds is None else [k.strip() for k in kinds.split(",") if k.strip()],
    )  # fmt: skip
    require_models(_roles(request), settings)  # every missing model, in one message
    _quiet()
    generator = Generator(settings)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task("Loading models", total=None)

        def report(step: int, total: int, preview: object) -> None:
            bar.update(task, description="Denoising", completed=step, total=total)

        drawn = generator.generate(
            request, read_artifact=store.get, progress=report, render_cache=RenderCache()
        )
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for candidate in drawn:
        name = f"candidate-{candidate.index + 1:02d}"  # numbered from 1, as in every reply
        if mode == "per_prior":
            name += f"-{candidate.label}"
        write_atomic(out / f"{name}.png", encode_png(candidate.image.convert("RGB")))
        write_atomic(
            out / f"{name}.json", (candidate.recipe.model_dump_json(indent=2) + "\n").encode()
        )
        files.append(out / f"{name}.png")
    if request.priors.source.name and request.priors.source.name.endswith(BLANK_CANVAS):
        # drawn from a pose file: the priors it became, so `interpolate` finds them beside
        write_atomic(out / "priors.json", (request.priors.to_json() + "\n").encode())
    seeds = ", ".join(str(c.seed) for c in drawn[: request.candidates or len(drawn)])
    console.print(f"Wrote {len(drawn)} candidates to {out} (seeds {seeds}).", soft_wrap=True)
    _print_ranking(drawn, files, request.priors, settings, store)


def _print_ranking(drawn: list, files: list[Path], priors: PriorSet, settings, store) -> None:  # type: ignore[no-untyped-def]
    """The candidates best first, with their scores in words (what each part measured, and why
    a part could not be: "pose: no pose to compare")."""
    from rich.table import Table

    from image_interpreter.errors import ImageInterpreterError
    from image_interpreter.extract.service import ExtractionService
    from image_interpreter.rank import rank
    from image_interpreter.rank.ranking import Candidate as Ranked
    from image_interpreter.tools.candidates import score_words

    try:
        ranked = rank(
            [Ranked(c.image, seed=c.seed) for c in drawn],
            priors,
            drawn[0].recipe.prompt if drawn else None,
            service=ExtractionService(settings, store),
            read_artifact=store.get,
            put_artifact=store.put,
        )
    except ImageInterpreterError as error:
        console.print(f"Not ranked: {error}", highlight=False, soft_wrap=True)
        return
    table = Table("candidate", "score", "file", title="Best first")
    for item in ranked:
        table.add_row(
            str(drawn[item.index].index + 1),
            score_words(item.score.flat(), priors),
            files[item.index].name,
        )
    console.print(table)


def _roles(request: GenerationRequest) -> list[str]:
    """The model roles drawing `request` loads: the base and one ControlNet per control prior."""
    from image_interpreter.generate.routing import control_role
    from image_interpreter.priors.render import control_kinds

    enabled = request.priors.enabled()
    kinds = [k for k in control_kinds() if k in enabled]
    if request.kinds is not None:
        kinds = [k for k in kinds if k in request.kinds]
    return ["sd.base", *(control_role(kind, enabled[kind]) for kind in kinds)]


def _quiet() -> None:
    """Our bar only: no loading bars or notices from diffusers and transformers."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for library in (diffusers_logging, transformers_logging):
        library.disable_progress_bar()
        library.set_verbosity_error()


def _read_priors(path: Path, store: ArtifactStore | S3ArtifactStore, max_pixels: int) -> PriorSet:
    """A PriorSet file, or an OpenPose JSON file (from `edit` or another tool's pose editor):
    its people, drawn on a blank canvas of the pose's size, stored as the source image."""
    try:
        if path.stat().st_size > _PRIORS_MAX_BYTES:
            raise GenerationError(f"'{path}' is too large for a priors file.")
        raw = path.read_bytes()
    except OSError as exc:
        raise GenerationError(f"Cannot read priors file '{path}': {exc.strerror or exc}.") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GenerationError(f"'{path}' is not JSON ({exc}).") from None
    if _is_openpose(data):
        return _openpose_priors(path, data, store, max_pixels)
    from image_interpreter.priors.schema import PriorSet

    try:
        return PriorSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise GenerationError(
            f"'{path}' is not a valid priors file ({where}: {first['msg']}) or OpenPose JSON."
            " Write one with `image-interpreter extract` (or `edit`)."
        ) from None


def _is_openpose(data: Any) -> bool:
    frame = data[0] if isinstance(data, list) and data else data
    people = isinstance(frame, dict) and isinstance(frame.get("people"), list)
    return people and "source" not in frame


def _openpose_priors(
    path: Path, data: Any, store: ArtifactStore | S3ArtifactStore, max_pixels: int
) -> PriorSet:
    from image_interpreter.priors.openpose import import_openpose
    from image_interpreter.priors.schema import ImageRef, PeoplePrior, PriorSet, Provenance

    try:
        found = import_openpose(data)
    except PriorsError as exc:
        raise GenerationError(f"'{path}': {exc}") from None
    if found.width * found.height > max_pixels:
        raise GenerationError(
            f"'{path}' has a {found.width}x{found.height} canvas, more than the"
            f" {max_pixels:,} pixels allowed (IMAGE_INTERPRETER_LIMITS__MAX_PIXELS)."
        )
    from PIL import Image

    from image_interpreter.images import encode_png

    canvas = Image.new("RGB", (found.width, found.height), "white")
    source = ImageRef(
        sha256=store.put(encode_png(canvas)), width=found.width, height=found.height,
        name=f"{path.name}{BLANK_CANVAS}",
    )  # fmt: skip
    people = PeoplePrior(
        people=found.people,
        provenance=Provenance(extractor="import", parameters={"format": "openpose"}),
    )
    return PriorSet(source=source, people=people)


def _size(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    width, sep, height = text.lower().partition("x")
    if not sep or not width.strip().isdigit() or not height.strip().isdigit():
        raise GenerationError(f"--size is WIDTHxHEIGHT in pixels, e.g. 512x768, not '{text}'.")
    return int(width), int(height)


def _request(priors: PriorSet, **fields: object) -> GenerationRequest:
    from image_interpreter.generate.request import GenerationRequest

    try:
        return GenerationRequest(priors=priors, **fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise GenerationError(f"Invalid generation options ({problems}).") from None
