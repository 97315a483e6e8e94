"""Writes that survive a crash: temp file, fsync, rename, then fsync of the folder naming it.

A rename is atomic, but only an fsync of the folder makes the new name durable; the artifact
store, the tiny-model builder and session export all publish files this way."""

from __future__ import annotations

import os
import tempfile
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
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=path.suffix or ".part")
    os.close(fd)
    tmp = Path(name)
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
