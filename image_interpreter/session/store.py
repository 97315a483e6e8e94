"""The session store: many sessions in one database, their artifacts in one shared
content-addressed store (identical content is kept once, whichever session added it)."""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine, delete, func, insert, select, text

from image_interpreter.artifacts import open_artifact_store
from image_interpreter.artifacts.store import ArtifactStore
from image_interpreter.session import portable
from image_interpreter.session import tables as t
from image_interpreter.session.common import no_session, now
from image_interpreter.session.engine import make_engine, reading, writing
from image_interpreter.session.session import Session, load_state
from image_interpreter.session.state import SessionSummary
from image_interpreter.session.turn_lock import TurnLock, TurnLocks
from image_interpreter.settings import Limits, Settings

_SCHEMA_LOCK = 0x696D616765  # advisory-lock key held while creating the tables ("image")


def new_session_id() -> str:
    """192 random bits, URL-safe, 32 characters: a session id is also the only key to it, so it
    is unguessable. It starts with a letter or digit, never "-", which a command line would read
    as an option (`session export -Abc...`)."""
    first = secrets.choice(string.ascii_letters + string.digits)
    return first + secrets.token_urlsafe(24)[1:]


class SessionStore:
    def __init__(self, database_url: str, artifacts: ArtifactStore, limits: Limits | None = None):
        self.database_url = database_url
        self.artifacts = artifacts
        self.limits = limits or Limits()
        self.engine: Engine = make_engine(database_url)
        self._turn_locks = TurnLocks(self.engine)
        with writing(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                # Two app processes starting on an empty database would both create the tables;
                # the second waits here, then finds them.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            t.metadata.create_all(conn)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionStore:
        """The store the settings name, creating the data folder as needed."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database, open_artifact_store(settings), settings.limits)

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every database connection; Session handles from this store stop working."""
        self._turn_locks.close()
        self.engine.dispose()

    def turn_lock(self, session_id: str) -> TurnLock:
        """A lock that serialises turns on `session_id` across threads and processes sharing
        this database (keep one per session and process; it is re-entrant)."""
        return self._turn_locks.for_session(session_id)

    def create(self, title: str | None = None) -> Session:
        session_id = new_session_id()
        created = now()
        with writing(self.engine) as conn:
            conn.execute(
                insert(t.sessions).values(
                    id=session_id,
                    title=title,
                    created_at=created,
                    updated_at=created,
                    current_version=None,
                    redo=[],
                )
            )
        return Session(self, session_id)

    def open(self, session_id: str) -> Session:
        if not isinstance(session_id, str) or len(session_id) > t.ID_LENGTH:
            raise no_session(str(session_id))
        with reading(self.engine) as conn:
            found = conn.execute(
                select(t.sessions.c.id).where(t.sessions.c.id == session_id)
            ).first()
        if found is None:
            raise no_session(session_id)
        return Session(self, session_id)

    def list(self) -> list[SessionSummary]:
        """Every session, the most recently changed first."""
        s = t.sessions.c
        counted = {
            "images": t.images,
            "versions": t.versions,
            "turns": t.turns,
            "generations": t.generations,
        }
        with reading(self.engine) as conn:
            counts: dict[str, dict[str, int]] = {}
            for name, table in counted.items():
                query = select(table.c.session_id, func.count()).group_by(table.c.session_id)
                for session_id, count in conn.execute(query):
                    counts.setdefault(session_id, {})[name] = count
            rows = conn.execute(select(t.sessions).order_by(s.updated_at.desc(), s.id)).all()
        return [
            SessionSummary(
                id=row.id,
                title=row.title,
                created_at=row.created_at,
                updated_at=row.updated_at,
                current=row.current_version,
                **{name: counts.get(row.id, {}).get(name, 0) for name in counted},
            )
            for row in rows
        ]

    def delete(self, session_id: str) -> None:
        """Delete a session's records. Its artifacts stay in the shared store (others may use
        the same content); they are no longer readable through this session."""
        with writing(self.engine) as conn:
            for table in t.CHILD_TABLES:
                conn.execute(delete(table).where(table.c.session_id == session_id))
            gone = conn.execute(delete(t.sessions).where(t.sessions.c.id == session_id))
            if gone.rowcount == 0:
                raise no_session(session_id)

    def export(self, session_id: str, folder: Path) -> Path:
        """Write a portable folder: session.json plus artifacts/<sha256> for everything the
        session may read. The folder must not exist yet (or be empty)."""
        with reading(self.engine) as conn:
            state = load_state(conn, session_id)
        return portable.write_folder(state, self.artifacts, Path(folder))

    def import_folder(self, folder: Path) -> Session:
        """Import an exported folder as a new session (with a new id). Every check runs before
        anything is written; on any problem a SessionError says what, and no session exists."""
        state, files = portable.read_folder(Path(folder), self.limits)
        portable.store_artifacts(files, self.artifacts)
        session_id = new_session_id()
        with writing(self.engine) as conn:
            portable.insert_state(conn, session_id, state, now())
        return Session(self, session_id)
