"""Portable sessions: a folder with session.json (a `SessionState`) and artifacts/<sha256> files.

An import trusts nothing in the folder: the JSON must validate and be self-consistent, every
artifact must hash to its name and every image must pass the safe loader, all before anything is
written. Only then are the artifacts stored and the session inserted, in one transaction.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Connection, insert

from image_interpreter.artifacts.store import ArtifactStore
from image_interpreter.durable import create_temp_dir, fsync_dir, fsync_tree
from image_interpreter.errors import ImageRejected, SessionError
from image_interpreter.images import load_image
from image_interpreter.session import parts
from image_interpreter.session import tables as t
from image_interpreter.session.common import describe
from image_interpreter.session.state import SessionState
from image_interpreter.settings import Limits

STATE_FILE = "session.json"
ARTIFACTS_DIR = "artifacts"
MAX_STATE_BYTES = 256 * 1024 * 1024


def write_folder(state: SessionState, artifacts: ArtifactStore, folder: Path) -> Path:
    """Write the export into a temporary sibling and rename it into place: all or nothing."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SessionError(
            f"Cannot export to {folder}: it already exists and is not an empty folder."
            " Name a new folder."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = create_temp_dir(folder.parent, f".{folder.name}.", ".part")  # the umask's mode
    try:
        (work / ARTIFACTS_DIR).mkdir()
        for sha in state.artifacts:
            (work / ARTIFACTS_DIR / sha).write_bytes(artifacts.get(sha))
        (work / STATE_FILE).write_text(state.model_dump_json(indent=2), encoding="utf-8")
        fsync_tree(work)
        if folder.exists():
            folder.rmdir()
        work.rename(folder)
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return folder


def read_folder(folder: Path, limits: Limits) -> tuple[SessionState, dict[str, Path]]:
    """The validated state and the verified artifact files it needs; SessionError otherwise."""
    folder = Path(folder)
    state_path = folder / STATE_FILE
    hint = "Export the session again with `image-interpreter session export`."
    if not folder.is_dir() or not state_path.is_file():
        raise SessionError(f"{folder} is not an exported session (no {STATE_FILE} in it). {hint}")
    if state_path.stat().st_size > MAX_STATE_BYTES:
        raise SessionError(f"{state_path} is larger than any exported session could be. {hint}")
    try:
        state = SessionState.model_validate_json(state_path.read_bytes())
    except ValidationError as exc:
        raise SessionError(
            f"{state_path} is not a valid exported session ({describe(exc)}). It may have been"
            f" edited or cut short. {hint}"
        ) from None
    problem = inconsistency(state)
    if problem:
        raise SessionError(f"{state_path} is not a consistent session: {problem}. {hint}")

    files: dict[str, Path] = {}
    for sha in sorted(required_artifacts(state)):
        path = folder / ARTIFACTS_DIR / sha
        if path.is_symlink() or not path.is_file():
            raise SessionError(f"{path} is missing from the exported session. {hint}")
        if _hash_file(path) != sha:
            raise SessionError(
                f"{path} has been modified: its content no longer matches its name. {hint}"
            )
        files[sha] = path
    for image in state.images:
        data = files[image.ref.sha256].read_bytes()
        # The pixel limit still applies; the byte limit is for uploads, and a normalised PNG
        # may be larger than the upload it came from.
        roomy = limits.model_copy(update={"max_bytes": max(limits.max_bytes, len(data))})
        try:
            picture = load_image(data, roomy)
        except ImageRejected as exc:
            raise SessionError(f"Image {image.handle} of the exported session: {exc}") from None
        if picture.size != (image.ref.width, image.ref.height):
            raise SessionError(
                f"Image {image.handle} of the exported session is {picture.width}x"
                f"{picture.height}, not {image.ref.width}x{image.ref.height} as recorded. {hint}"
            )
    return state, files


def required_artifacts(state: SessionState) -> set[str]:
    found = set(state.artifacts)
    found.update(image.ref.sha256 for image in state.images)
    for version in state.versions:
        found |= version.priors.artifacts()
    for generation in state.generations:
        found.update(c.sha256 for c in generation.candidates)
    return found


def inconsistency(state: SessionState) -> str | None:
    """What makes `state` impossible for a session to have reached, or None."""
    handles = [image.handle for image in state.images]
    if len(set(handles)) != len(handles):
        return "two images share a handle"
    sources = {(i.ref.sha256, i.ref.width, i.ref.height) for i in state.images}
    parents: dict[int, int | None] = {}
    for v in state.versions:
        if v.number in parents:
            return f"version {v.number} appears twice"
        if v.parent is not None and v.parent not in parents:
            return f"version {v.number} comes after its parent {v.parent}, which is not before it"
        if (v.priors.version, v.priors.parent) != (v.number, v.parent):
            return f"version {v.number}'s priors say version {v.priors.version}"
        source = v.priors.source
        if (source.sha256, source.width, source.height) not in sources:
            return f"version {v.number} describes an image that is not in the session"
        parents[v.number] = v.parent
    if (state.current is None) != (not parents):
        return "the current version does not match the versions"
    if state.current is not None and state.current not in parents:
        return f"the current version {state.current} does not exist"
    expected = state.current
    for number in reversed(state.redo):
        if number not in parents or parents[number] != expected:
            return "the redo stack does not lead back from the current version"
        expected = number
    turn_numbers = [turn.number for turn in state.turns]
    if len(set(turn_numbers)) != len(turn_numbers):
        return "two turns share a number"
    ids: set[int] = set()
    for g in state.generations:
        if g.id in ids:
            return f"generation {g.id} appears twice"
        ids.add(g.id)
        if g.version not in parents:
            return f"generation {g.id} comes from version {g.version}, which does not exist"
        if g.chosen is not None and g.chosen >= len(g.candidates):
            return f"generation {g.id}'s chosen candidate does not exist"
        if (g.chosen is None) != (g.chosen_at is None):
            return f"generation {g.id}'s choice has no time (or a time and no choice)"
    return None


def store_artifacts(files: dict[str, Path], artifacts: ArtifactStore) -> None:
    for sha, path in files.items():
        if artifacts.put(path.read_bytes()) != sha:
            raise SessionError(
                f"{path} changed while it was being imported. Import the folder again."
            )


def insert_state(conn: Connection, session_id: str, state: SessionState, at: datetime) -> None:
    """Insert a validated state under a new id, parents before children."""
    conn.execute(
        insert(t.sessions).values(
            id=session_id,
            title=state.title,
            created_at=state.created_at,
            updated_at=at,
            current_version=state.current,
            redo=list(state.redo),
        )
    )
    rows = {
        t.images: [
            {
                "number": int(image.handle.removeprefix("img")),
                "sha256": image.ref.sha256,
                "width": image.ref.width,
                "height": image.ref.height,
                "media_type": image.ref.media_type,
                "name": image.ref.name,
                "created_at": image.created_at,
            }
            for image in state.images
        ],
        t.versions: [
            {
                "number": v.number,
                "parent": v.parent,
                "priors": parts.store(conn, session_id, v.priors.model_dump(mode="json")),
                "edit": v.edit,
                "summary": v.summary,
                "created_at": v.created_at,
            }
            for v in sorted(state.versions, key=lambda v: v.number)
        ],
        t.turns: [turn.model_dump(mode="python") for turn in state.turns],
        t.generations: [
            {**g.model_dump(mode="python", exclude={"id"}), "number": g.id}
            for g in state.generations
        ],
        t.artifact_links: [{"sha256": sha} for sha in sorted(required_artifacts(state))],
    }
    for table, values in rows.items():
        if values:
            conn.execute(insert(table), [{"session_id": session_id, **v} for v in values])


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
