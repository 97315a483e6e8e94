"""Session-scoped handles, checked: image ids ("img1"), version numbers, generation ids and
candidate indices. A handle that is not this session's is refused with the handles there are;
nothing here accepts a path or a URL."""

from __future__ import annotations

from typing import Annotated, Any

from PIL import Image
from pydantic import Field

from image_interpreter.images import load_image
from image_interpreter.priors.schema import PriorSet
from image_interpreter.session import GenerationRecord, SessionImage
from image_interpreter.tools.base import ToolError
from image_interpreter.tools.context import Toolbox

ImageHandle = Annotated[
    str,
    Field(
        pattern=r"^img[1-9][0-9]{0,9}$",
        description="An image of this session by its handle, e.g. 'img1' (never a path or URL).",
    ),
]
VersionNumber = Annotated[int, Field(ge=1, description="A version number from `history`.")]
GenerationId = Annotated[
    int, Field(ge=1, description="A generation id, as `generate` reported it.")
]
CandidateNumber = Annotated[
    int,
    Field(
        ge=1,
        le=64,
        description="A candidate's number in its generation, from 1 (as generate lists them).",
    ),
]
CandidateIndex = CandidateNumber  # the old name; candidates are numbered from 1 everywhere


def current_priors(box: Toolbox) -> PriorSet:
    priors = box.session.current
    if priors is None:
        raise ToolError("This session has no priors yet. Add a photo, then extract_priors from it.")
    return priors


def session_image(box: Toolbox, handle: str | None) -> SessionImage:
    """The image `handle` names, or (None) the one the current version describes."""
    images = box.session.images()
    if handle is not None:
        for image in images:
            if image.handle == handle:
                return image
        known = ", ".join(image.handle for image in images) or "none yet"
        raise ToolError(f"There is no image '{handle}' in this session (images: {known}).")
    if not images:
        raise ToolError("This session has no images yet: a photo must be added first.")
    current = box.session.current
    if current is not None:
        for image in images:
            if image.ref.sha256 == current.source.sha256:
                return image
    return images[0]


def picture(box: Toolbox, image: SessionImage) -> Image.Image:
    return load_image(box.session.read_artifact(image.ref.sha256), box.store.limits)


def generation(box: Toolbox, generation_id: int) -> GenerationRecord:
    records = box.session.generations()
    for record in records:
        if record.id == generation_id:
            return record
    have = ", ".join(str(r.id) for r in records) or "none yet"
    raise ToolError(
        f"There is no generation {generation_id} in this session (generations: {have})."
        " `generate` makes one; `history` lists them."
    )


def candidate(box: Toolbox, generation_id: int, number: int) -> tuple[GenerationRecord, int]:
    """The generation and the stored index (from 0) of candidate `number` (from 1)."""
    record = generation(box, generation_id)
    count = len(record.candidates)
    if not 1 <= number <= count:
        have = "candidate 1" if count == 1 else f"candidates 1 to {count}"
        raise ToolError(f"Generation {generation_id} has {have}; there is no candidate {number}.")
    return record, number - 1


def image_for_artifact(box: Toolbox, sha256: str, name: str) -> SessionImage:
    """The session image holding artifact `sha256`, added (with a new handle) if none does."""
    for image in box.session.images():
        if image.ref.sha256 == sha256:
            return image
    return box.session.add_image(box.session.read_artifact(sha256), name=name)


def commit(
    box: Toolbox, priors: PriorSet, actions: list[dict[str, Any]], summary: str, tool: str
) -> PriorSet:
    """Store `priors` as the next version; `edit` holds the actions as the executor writes them,
    so the interpreter's history (who 'her' is) reads tool versions too."""
    return box.session.commit(priors, edit={"actions": actions, "tool": tool}, summary=summary)
