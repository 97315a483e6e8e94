"""`image-interpreter interpolate A B --frames 16 --out DIR`: frames between two candidates or two
PriorSets, written as PNGs, a looping GIF and an MP4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from image_interpreter.cli.common import console, err_console, settings_from
from image_interpreter.generate.cli_upscale import quiet_libraries
from image_interpreter.generate.errors import GenerationError

if TYPE_CHECKING:  # imported when the command runs, so --help stays fast
    from image_interpreter.generate.interpolate import Endpoint
    from image_interpreter.generate.request import Recipe
    from image_interpreter.priors.schema import PriorSet

_MAX_JSON = 50 * 1024 * 1024


def register(app: typer.Typer) -> None:
    app.command()(interpolate)


def interpolate(
    ctx: typer.Context,
    a: Annotated[Path, typer.Argument(help="First end: a PriorSet JSON or a candidate recipe.")],
    b: Annotated[Path, typer.Argument(help="Last end: a PriorSet JSON or a candidate recipe.")],
    out: Annotated[Path, typer.Option(help="Folder for the frames, GIF and MP4.")] = Path(
        "interpolation"
    ),
    frames: Annotated[int, typer.Option(min=2, max=1000, help="Frames, both ends included.")] = 16,
    hold: Annotated[
        str,
        typer.Option(help="Prior kinds kept as in A for every frame, e.g. depth,segmentation."),
    ] = "",
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Frames per second.")] = 8.0,
    bounce: Annotated[
        bool, typer.Option(help="Play forward then back, so the GIF loops smoothly.")
    ] = False,
    steps: Annotated[int | None, typer.Option(min=1, max=200, help="Denoising steps.")] = None,
    guidance: Annotated[float | None, typer.Option(min=0.0, max=30.0)] = None,
    width: Annotated[int | None, typer.Option(min=64, max=4096)] = None,
    height: Annotated[int | None, typer.Option(min=64, max=4096)] = None,
    seed_a: Annotated[int | None, typer.Option(min=0, help="Seed of A (default: its own).")] = None,
    seed_b: Annotated[int | None, typer.Option(min=0, help="Seed of B (default: its own).")] = None,
    priors_a: Annotated[
        Path | None, typer.Option(help="PriorSet JSON for recipe A (default: found beside it).")
    ] = None,
    priors_b: Annotated[
        Path | None, typer.Option(help="PriorSet JSON for recipe B (default: found beside it).")
    ] = None,
) -> None:
    """Draw frames between two candidates (their noise, prompt and priors) or two PriorSets.

    The initial noise moves by slerp, the prompt embeddings and pose keypoints linearly; the
    kinds named by --hold stay fixed. A recipe's priors are read from --priors-a/--priors-b or
    found among the PriorSet JSON files beside it.

    Examples:

      image-interpreter interpolate arms-down.json arms-up.json --frames 16 --out anim/

      image-interpreter interpolate cand-0.json cand-3.json --hold depth,segmentation --bounce
    """
    from image_interpreter.artifacts import open_artifact_store
    from image_interpreter.generate import Generator
    from image_interpreter.generate.interpolate import interpolate as run
    from image_interpreter.generate.interpolate import parse_hold, with_seed

    settings = settings_from(ctx)
    quiet_libraries()
    held = parse_hold(hold)
    first = with_seed(load_endpoint(a, priors_a), seed_a)
    last = with_seed(load_endpoint(b, priors_b), seed_b)
    for kind in sorted(held):
        why = _nothing_to_hold(first.priors, kind)
        if why:
            err_console.print(
                f"[yellow]Warning:[/] --hold {kind}: {why} in {a.name}, so there is nothing to"
                " hold; every frame goes without it.",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
    artifacts = open_artifact_store(settings)
    generator = Generator(settings)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("loading models", total=None)

        def report(step: int, total: int, preview: object) -> None:
            progress.update(task, description="drawing frames (steps)", completed=step, total=total)

        result = run(
            generator,
            first,
            last,
            frames=frames,
            hold=held,
            read_artifact=artifacts.get,
            steps=steps,
            guidance=guidance,
            width=width,
            height=height,
            progress=report,
        )
        progress.update(task, description="writing GIF and MP4")
        paths = result.write(out, fps=fps, bounce=bounce)
    w, h = result.size
    console.print(
        f"Wrote {len(result.frames)} frames ({w}x{h}, seeds {result.seeds[0]} -> {result.seeds[1]},"
        f" {result.calls} generator call(s)) to {out}: {paths['gif'].name}, {paths['mp4'].name},"
        " frames/, frames.json"
    )


def _nothing_to_hold(priors: PriorSet, kind: str) -> str | None:
    """Why `kind` cannot be held from `priors` (None when it can)."""
    prior = getattr(priors, kind, None)
    if prior is None:
        return f"the priors have no {kind}"
    if not prior.enabled:
        return f"{kind} is off"
    return None


def load_endpoint(path: Path, priors_path: Path | None = None) -> Endpoint:
    """An interpolation end from a file: a PriorSet; a candidate Recipe (its priors from
    `priors_path`, else a PriorSet JSON beside it with the recipe's priors hash); or an object
    with "recipe" and optionally "priors"."""
    from image_interpreter.generate.interpolate import Endpoint
    from image_interpreter.generate.request import Recipe
    from image_interpreter.priors.schema import PriorSet

    data = _read_json(path)
    explicit = PriorSet.model_validate(_read_json(priors_path)) if priors_path else None
    if _is_priorset(data):
        return Endpoint.from_priors(_validate(PriorSet, data, path))
    if isinstance(data, dict) and isinstance(data.get("recipe"), dict):
        recipe = _validate(Recipe, data["recipe"], path)
        inline = data.get("priors")
        priors = explicit or (_validate(PriorSet, inline, path) if inline is not None else None)
    elif isinstance(data, dict) and "recipe_version" in data:
        recipe = _validate(Recipe, data, path)
        priors = explicit
    else:
        raise GenerationError(
            f"{path} is neither a PriorSet nor a candidate recipe (JSON with 'recipe_version',"
            " or with 'recipe' and 'priors')."
        )
    if priors is None:
        priors = _priors_beside(path, recipe)
    return Endpoint.from_recipe(recipe, priors)


def _priors_beside(path: Path, recipe: Recipe) -> PriorSet:
    from image_interpreter.generate.request import priors_sha256
    from image_interpreter.priors.schema import PriorSet

    folders = [path.parent, path.parent.parent]
    for folder in folders:
        for candidate in sorted(folder.glob("*.json")):
            if candidate == path or candidate.stat().st_size > _MAX_JSON:
                continue
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if not _is_priorset(data):
                continue
            try:
                priors = PriorSet.model_validate(data)
            except ValidationError:
                continue
            if priors_sha256(priors) == recipe.priors_sha256:
                return priors
    raise GenerationError(
        f"The PriorSet that {path.name} was drawn from (version {recipe.priors_version},"
        f" {recipe.priors_sha256[:12]}) is not beside it; name it with --priors-a/--priors-b"
        " (e.g. the priors.json written by extract or session export)."
    )


def _is_priorset(data: Any) -> bool:
    return isinstance(data, dict) and "source" in data and "schema_version" in data


def _validate(model: Any, data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise GenerationError(
            f"{path} is not a valid {model.__name__} ({where}: {first['msg']})."
        ) from None


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > _MAX_JSON:
            raise GenerationError(f"{path} is larger than any priors or recipe file should be.")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenerationError(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenerationError(f"{path} is not readable JSON ({exc}).") from None
