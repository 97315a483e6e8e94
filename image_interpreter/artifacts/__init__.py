"""The artifact store: arrays and images by content hash, outside the small JSON of priors.

Two implementations with the same keys and checks: a local folder (the default) and S3-compatible
storage (`artifacts_url = "s3://bucket/prefix"`), for app processes on several machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from image_interpreter.artifacts.s3 import S3ArtifactStore
from image_interpreter.artifacts.store import ArtifactStore, sha256_of

if TYPE_CHECKING:
    from image_interpreter.settings import Settings

__all__ = ["ArtifactStore", "S3ArtifactStore", "open_artifact_store", "sha256_of"]


def open_artifact_store(settings: Settings) -> ArtifactStore | S3ArtifactStore:
    """The store the settings name: `artifacts_url` if set, else the data folder's."""
    url = settings.artifacts_url
    if url and url.startswith("s3://"):
        return S3ArtifactStore(url)
    if url:
        return ArtifactStore(url.removeprefix("file://"))
    return ArtifactStore(settings.artifacts_dir)
