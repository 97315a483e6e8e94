"""Priors files for the command line: read a PriorSet or an OpenPose JSON file (the format is
detected), write back in the same format atomically, and render control images.

An OpenPose file has poses but no picture: it is read as a PriorSet whose `source` is a
placeholder ImageRef of the canvas size (its sha256 is the file's), holding only `people`.
These are the local user's own files; sessions still take arrays only through put_artifact.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import ValidationError

from image_interpreter.durable import write_atomic
from image_interpreter.errors import ImageInterpreterError, PriorsError
from image_interpreter.images.load import NotARegularFile, open_regular_file
from image_interpreter.priors.openpose import (
    MAX_JSON_BYTES,
    export_openpose,
    import_openpose,
    parse_json,
)
from image_interpreter.priors.render import (
    ReadArtifact,
    RenderCache,
    control_kinds,
    render_controls,
    render_prior,
)
from image_interpreter.priors.schema import ImageRef, PeoplePrior, PriorSet, Provenance

Format = Literal["priors", "openpose"]


@dataclass(frozen=True)
class PriorsFile:
    priors: PriorSet
    format: Format
    path: Path


def _is_openpose(data: Any) -> bool:
    frame = data[0] if isinstance(data, list) and data else data
    return (
        isinstance(frame, dict) and isinstance(frame.get("people"), list) and "source" not in frame
    )


def read_json_file(path: Path) -> bytes:
    """The bytes of a JSON file named by a user, bounded (MAX_JSON_BYTES; `parse_json` refuses
    more); a FIFO, device or folder is refused at once instead of blocking the command."""
    try:
        with open_regular_file(path) as handle:
            return handle.read(MAX_JSON_BYTES + 1)
    except NotARegularFile as exc:
        raise PriorsError(f"{path} is {exc}, not a JSON file.") from None
    except OSError as exc:
        raise PriorsError(f"Cannot read {path}: {exc.strerror}.") from None


def read_priors(path: Path) -> PriorsFile:
    """A PriorSet JSON or an OpenPose JSON file, whichever `path` holds (PriorsError if neither)."""
    raw = read_json_file(path)
    try:
        data = parse_json(raw)
    except PriorsError as exc:
        raise PriorsError(f"{path.name}: {exc}") from None
    if _is_openpose(data):
        found = import_openpose(data)
        source = ImageRef(
            sha256=hashlib.sha256(raw).hexdigest(), width=found.width, height=found.height,
            name=f"{path.name} (OpenPose canvas, no image)",
        )  # fmt: skip
        people = PeoplePrior(
            people=found.people,
            provenance=Provenance(extractor="import", parameters={"format": "openpose"}),
        )
        return PriorsFile(PriorSet(source=source, people=people), "openpose", path)
    if isinstance(data, dict) and "source" in data:
        try:
            return PriorsFile(PriorSet.model_validate(data), "priors", path)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PriorsError(
                f"{path.name} is not a valid PriorSet: {where}: {first['msg']}."
            ) from None
    raise PriorsError(
        f"{path.name} is neither a PriorSet (an object with 'source') nor OpenPose JSON (an object"
        " with a 'people' list of 'pose_keypoints_2d'). `image-interpreter schema --example`"
        " shows a PriorSet."
    )


def dump_priors(priors: PriorSet, fmt: Format) -> bytes:
    """`priors` as the bytes of a file in `fmt` (OpenPose keeps the people and canvas only)."""
    if fmt == "openpose":
        people = priors.people.people if priors.people is not None else []
        data = export_openpose(people, priors.source.width, priors.source.height)
        return (json.dumps(data, indent=1) + "\n").encode()
    return (priors.to_json() + "\n").encode()


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'768x1024' -> (768, 1024)."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise PriorsError(
            f"--size takes WIDTHxHEIGHT in pixels, such as 768x1024, not {text!r}."
        ) from None
    return width, height


def render_files(
    priors: PriorSet,
    path: Path,
    size: tuple[int, int] | None = None,
    read_artifact: ReadArtifact | None = None,
    cache: RenderCache | None = None,
) -> tuple[list[Path], list[str]]:
    """The skeleton into `path` (drawn whether the pose is on or off, so it can be looked at),
    and each other enabled control image beside it as `<stem>.<kind>.png`. Returns the files
    written and what could not be drawn (an artifact not available here)."""
    size = size or (priors.source.width, priors.source.height)
    written: list[Path] = []
    skipped: list[str] = []
    if priors.people is not None:
        image = render_prior("people", priors.people, size, cache=cache)
        _save(image, path)
        written.append(path)
    else:
        skipped.append("people (no poses in these priors)")
    others = [k for k in priors.enabled() if k != "people" and k in control_kinds()]
    for kind in others:
        try:
            images = render_controls(priors, size, read_artifact, kinds=[kind], cache=cache)
        except ImageInterpreterError as exc:  # its map is not available here
            skipped.append(f"{kind} ({exc})")
            continue
        for name, image in images.items():
            target = path.with_name(f"{path.stem}.{name}{path.suffix or '.png'}")
            _save(image, target)
            written.append(target)
    return written, skipped


def _save(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue())
