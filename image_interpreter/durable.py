"""Writes that survive a crash: temp file, fsync, rename, then fsync of the folder naming it.

A rename is atomic, but only an fsync of the folder makes the new name durable; the artifact
store, the tiny-model builder and session export all publish files this way."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make the entries of `folder` (new names, renames) durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Make every file and folder below `folder` durable, deepest first."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)


def create_temp(folder: Path, prefix: str, suffix: str, mode: int = 0o666) -> tuple[int, Path]:
    """A new file in `folder`, open for writing: (descriptor, path).

    Unlike `tempfile.mkstemp` (always 0600) the file gets `mode` less the umask, as any file a
    program creates: a picture or priors file a user asked for is readable as their other files
    are (0644 under the usual umask). Pass 0o600 for secrets."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue


def create_temp_dir(folder: Path, prefix: str, suffix: str) -> Path:
    """A new folder in `folder` with the umask's mode (`tempfile.mkdtemp` makes it 0700), for
    a folder that is renamed into place as a user's output (a session export)."""
    while True:
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` (same suffix, so libraries pick the right format) that
    replaces `path` when the block succeeds and is removed when it fails: never half a file.

        with replacing(out / "frames.gif") as tmp:
            imageio.mimsave(tmp, frames)
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp(folder, f".{path.stem}.", path.suffix or ".part")
    os.close(fd)
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
