"""Sessions: images, a tree of PriorSet versions (undo, redo, branches), the conversation and
the generations, persisted so that a session reloads exactly after a restart."""

from image_interpreter.session.session import Session
from image_interpreter.session.state import (
    CandidateRecord,
    GenerationRecord,
    Role,
    SessionImage,
    SessionState,
    SessionSummary,
    Turn,
    VersionInfo,
    VersionRecord,
)
from image_interpreter.session.store import SessionStore, new_session_id

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
