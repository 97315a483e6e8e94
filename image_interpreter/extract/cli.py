"""`image-interpreter extract PHOTO --kinds ... --out DIR`: priors from a photo, as files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from image_interpreter.cli.common import console, settings_from
from image_interpreter.durable import write_atomic
from image_interpreter.errors import ExtractionError

if TYPE_CHECKING:  # the rest is imported when the command runs, so --help stays fast
    from image_interpreter.artifacts import ArtifactStore
    from image_interpreter.priors.schema import PriorSet


def register(app: typer.Typer) -> None:
    app.command()(extract)


def extract(
    ctx: typer.Context,
    photo: Annotated[Path | None, typer.Argument(help="The photo to read.")] = None,
    kinds: Annotated[
        str, typer.Option(help="Comma-separated kinds or extractor names (see --list).")
    ] = "pose,depth,caption",
    out: Annotated[Path, typer.Option(help="Folder for priors.json, openpose.json, pictures.")] = (
        Path("priors")
    ),
    param: Annotated[
        list[str] | None,
        typer.Option(help="Extractor parameter, KIND.NAME=VALUE (JSON value), repeatable."),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List what can be extracted.")] = False,
) -> None:
    """Extract priors from a photo and write them as JSON plus one picture per prior.

    Examples:

      image-interpreter extract photo.jpg --kinds pose,depth,caption --out priors/

      image-interpreter extract photo.jpg --kinds edges --param edges.low=50
    """
    from image_interpreter.artifacts import open_artifact_store
    from image_interpreter.extract.registry import find_extractor
    from image_interpreter.extract.service import ExtractionService
    from image_interpreter.images import encode_png, load_image_file
    from image_interpreter.priors.schema import ImageRef, PriorSet

    settings = settings_from(ctx)
    if list_:
        _print_list()
        return
    if photo is None:
        raise ExtractionError("Name the photo to extract from: image-interpreter extract PHOTO.")
    names = [name.strip() for name in kinds.split(",") if name.strip()]
    if not names:
        raise ExtractionError("Name at least one kind to extract, e.g. --kinds pose,depth.")
    chosen = {name: find_extractor(name) for name in names}  # unknown names fail before any work
    params = _params(param or [], chosen)
    image = load_image_file(photo, settings.limits)
    artifacts = open_artifact_store(settings)
    service = ExtractionService(settings, artifacts)
    source = ImageRef(
        sha256=artifacts.put(encode_png(image)), width=image.width, height=image.height,
        name=photo.name,
    )  # fmt: skip
    priors = PriorSet(source=source)
    service.require_models(source, list(chosen), params)  # every missing model, in one message
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        for name, cls in chosen.items():
            task = progress.add_task(cls.name, total=1.0)

            def report(what: str, done: float, task=task) -> None:
                progress.update(task, description=what, completed=done)

            priors = service.extract_into(
                priors, image, [name], {name: params.get(name, {})}, progress=report
            )
            progress.update(task, completed=1.0)
    _write(out, priors, image, artifacts)
    console.print(f"Wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")


def _print_list() -> None:
    """One line per extractor, grouped by the kind of prior it fills; the default first."""
    from image_interpreter.extract.registry import load_extractors

    table = load_extractors()
    name_width = max(len(name) for name in table)
    alias_width = max(len(", ".join(cls.aliases)) for cls in table.values())
    console.print(
        "Extractors by the prior they fill (* the default for its kind). --kinds takes a kind,"
        " a name or an alias.",
        soft_wrap=True, highlight=False,
    )  # fmt: skip
    for kind in sorted({cls.kind for cls in table.values()}):
        members = sorted(
            (cls for cls in table.values() if cls.kind == kind),
            key=lambda cls: (not cls.default, cls.name),
        )
        console.print(f"{kind}", highlight=False)
        for cls in members:
            mark = "*" if cls.default else " "
            aliases = ", ".join(cls.aliases)
            line = f"  {mark} {cls.name:<{name_width}}  {aliases:<{alias_width}}  {cls.description}"
            console.print(line.rstrip(), soft_wrap=True, highlight=False, markup=False)


def _params(pairs: list[str], chosen: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name, dot, field = key.rpartition(".")
        if not sep or not dot or name not in chosen:
            raise ExtractionError(
                f"--param {pair!r} must look like KIND.NAME=VALUE for one of the kinds asked"
                f" for ({', '.join(chosen)}), e.g. edges.low=50."
            )
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # plain words are strings
        params.setdefault(name, {})[field] = parsed
    return params


def _write(out: Path, priors: PriorSet, image, artifacts: ArtifactStore) -> None:
    from image_interpreter.images import encode_png
    from image_interpreter.priors.openpose import export_openpose
    from image_interpreter.priors.render.preview import preview_images

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {"priors.json": priors.to_json().encode()}
    if priors.people is not None:
        pose = export_openpose(priors.people.people, image.width, image.height)
        files["openpose.json"] = json.dumps(pose, indent=1).encode()
    for kind, picture in preview_images(priors, image, artifacts.get).items():
        files[f"{kind}.png"] = encode_png(picture.convert("RGB"))
    for name, data in files.items():
        write_atomic(out / name, data)
