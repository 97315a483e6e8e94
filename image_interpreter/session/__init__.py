"""Sessions: images, a tree of PriorSet versions (undo, redo, branches), the conversation and
the generations, persisted so that a session reloads exactly after a restart."""

from image_interpreter.lazy import lazy_exports

_EXPORTS = {
    "Session": "session",
    "CandidateRecord": "state",
    "GenerationRecord": "state",
    "Role": "state",
    "SessionImage": "state",
    "SessionState": "state",
    "SessionSummary": "state",
    "Turn": "state",
    "VersionInfo": "state",
    "VersionRecord": "state",
    "SessionStore": "store",
    "new_session_id": "store",
}

__all__ = [
    "CandidateRecord",
    "GenerationRecord",
    "Role",
    "Session",
    "SessionImage",
    "SessionState",
    "SessionStore",
    "SessionSummary",
    "Turn",
    "VersionInfo",
    "VersionRecord",
    "new_session_id",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
