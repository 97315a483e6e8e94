"""A session's turn lock that holds across processes, so two app processes (two web servers, a web
server and an MCP server) taking a turn on one session at once run one after the other.

In a process it is a re-entrant lock (a turn's tool calls take it again); the first holder also
takes the cross-process lock: a PostgreSQL advisory lock on a connection of its own, or, on
SQLite, an `flock` on a file beside the database. Both are released by the operating system or
the server if the process dies, so a crashed process never leaves a session locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from image_interpreter.errors import SessionError

_POLL_S = 0.05


class _Shared(Protocol):
    def try_acquire(self) -> bool: ...
    def release(self) -> None: ...


def _key(session_id: str) -> int:
    """A signed 64-bit advisory-lock key from the session id."""
    return int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "big", signed=True)


class _AdvisoryLock:
    """`pg_try_advisory_lock` on a connection kept for as long as the lock is held."""

    def __init__(self, engine: Engine, session_id: str):
        self._engine, self._key, self._conn = engine, _key(session_id), None

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
        conn.commit()  # a session-level lock: keep it, but never sit idle in a transaction
        if taken:
            self._conn = conn
        else:
            conn.close()
        return bool(taken)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            conn.commit()
        finally:
            conn.close()  # closing ends the server session, which drops the lock in any case


class _FileLock:
    """`flock` on `<database>.locks/<session id>`; the file itself is never removed (removing
    it while another process waits on it would let a third lock a different file)."""

    def __init__(self, folder: Path, session_id: str):
        self._path, self._fd = folder / hashlib.sha256(session_id.encode()).hexdigest(), None

    def try_acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


class _NoShared:
    """An in-memory SQLite database lives in one process: nothing to share."""

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class TurnLock:
    """Re-entrant in the process, exclusive across processes; `with lock:` or acquire/release
    (the same interface as `threading.RLock`)."""

    def __init__(self, shared: _Shared):
        self._local = threading.RLock()
        self._shared = shared
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        deadline = None if timeout < 0 else time.monotonic() + timeout
        if not self._local.acquire(blocking, timeout):
            return False
        if self._depth == 0:
            while not self._shared.try_acquire():
                if not blocking or (deadline is not None and time.monotonic() >= deadline):
                    self._local.release()
                    return False
                time.sleep(_POLL_S)
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._shared.release()
        self._local.release()

    def __enter__(self) -> TurnLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class TurnLocks:
    """Makes the turn locks of one database."""

    def __init__(self, engine: Engine):
        self._lock_engine: Engine | None = None
        self._folder: Path | None = None
        if engine.dialect.name == "postgresql":
            # Connections of their own, outside the pool the sessions' queries use.
            self._lock_engine = create_engine(engine.url, poolclass=NullPool)
        elif engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._folder = Path(database + ".locks")
        else:
            raise SessionError(
                f"Sessions on {engine.dialect.name} are not supported: turns on one session must"
                " wait for each other across processes, which is done for SQLite and PostgreSQL."
                " Set database_url to a sqlite:/// or postgresql+psycopg:// URL."
            )

    def for_session(self, session_id: str) -> TurnLock:
        if self._lock_engine is not None:
            return TurnLock(_AdvisoryLock(self._lock_engine, session_id))
        if self._folder is not None:
            return TurnLock(_FileLock(self._folder, session_id))
        return TurnLock(_NoShared())

    def close(self) -> None:
        if self._lock_engine is not None:
            self._lock_engine.dispose()
