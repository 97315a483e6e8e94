"""One exception family, so every adapter (CLI, chat, Slack) can show a user the message as is.

Each error's message says what went wrong and what the user can do about it; callers never need
to inspect a traceback to act.
"""


class ImageInterpreterError(Exception):
    """Base of every error meant to be shown to a user."""


class ImageRejected(ImageInterpreterError):
    """An image could not be loaded safely (corrupt, unsupported, too large, a bomb)."""


class ArtifactError(ImageInterpreterError):
    """An artifact is missing, corrupt on disk, or not visible to the caller."""


class SessionError(ImageInterpreterError):
    """A session, version or handle does not exist (or belongs to someone else), or cannot move."""


class PriorsError(ImageInterpreterError):
    """Priors data does not validate, or cannot be converted (e.g. malformed OpenPose JSON)."""


class ModelUnavailable(ImageInterpreterError):
    """A model's weights are not in the cache and could not be downloaded."""


class SettingsError(ImageInterpreterError):
    """The configuration (environment or TOML file) is invalid."""


class EditError(ImageInterpreterError):
    """An edit cannot apply to these priors (no such person, joint, prior; out of range)."""


class ExtractionError(ImageInterpreterError):
    """An extractor is unknown, got bad parameters, or failed on this image."""


class RankingError(ImageInterpreterError):
    """Candidates could not be scored (the ranker service failed); the pictures are kept."""


class ComputeUnavailable(ImageInterpreterError):
    """The compute cluster (compute.backend = "ray") cannot be reached."""
