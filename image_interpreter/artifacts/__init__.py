"""The artifact store: arrays and images by content hash, outside the small JSON of priors."""

from image_interpreter.artifacts.store import ArtifactStore, sha256_of

__all__ = ["ArtifactStore", "sha256_of"]
