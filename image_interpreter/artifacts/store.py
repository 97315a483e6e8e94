"""Content-addressed artifact store: images, maps and masks as files named by their sha256.

Identical content is stored once. Writes are atomic (temp file in the same folder, fsync, rename,
fsync of the folder), so a crash leaves either the whole file or nothing; reads verify the hash,
so a file damaged on disk is reported rather than silently used.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from image_interpreter.durable import create_temp, fsync_dir
from image_interpreter.errors import ArtifactError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def valid_sha256(sha256: str) -> str:
    """`sha256` itself, or ArtifactError: ids become file names and object keys."""
    if not _SHA256.match(sha256):
        raise ArtifactError(f"'{sha256}' is not an artifact id (expected 64 hex digits).")
    return sha256


class ArtifactStore:
    """Files under `root/ab/abcdef...`; the two-character fan-out keeps folders small."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        valid_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def location(self, sha256: str) -> str:
        """Where the artifact lives, for records that point at it (the file's path here)."""
        return str(self.path_for(sha256))

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its sha256."""
        sha = sha256_of(data)
        target = self.path_for(sha)
        if target.exists() and self._intact(target, sha):
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temp(target.parent, ".tmp-", ".part")  # the umask's mode, not 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        return sha

    def get(self, sha256: str) -> bytes:
        """The content of an artifact, verified against its hash."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(
                f"Artifact {sha256[:12]} is missing from {self.root}. It may have been deleted;"
                " extract or generate it again."
            ) from None
        if sha256_of(data) != sha256:
            raise ArtifactError(
                f"Artifact {sha256[:12]} in {self.root} is corrupt (its content no longer matches"
                " its hash). Delete the file and extract or generate it again."
            )
        return data

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @staticmethod
    def _intact(path: Path, sha256: str) -> bool:
        return sha256_of(path.read_bytes()) == sha256
