"""The database engine and its transactions.

SQLite gets WAL (readers never block the writer), foreign keys and synchronous=FULL on every
connection, and write transactions start with BEGIN IMMEDIATE so that two processes writing one
session queue up instead of failing halfway. Nothing else here is SQLite-specific: PostgreSQL URLs
work unchanged, with writers serialised by the lock on the session's row (see `Session._lock`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from image_interpreter.errors import SessionError

_WRITE = "image_interpreter_write"
BUSY_TIMEOUT_MS = 30_000


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and _is_file(url.database):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # like the data folder
    # A database server restarted between turns leaves dead pooled connections: check each one
    # as it is taken (a cheap ping) instead of failing the next turn.
    engine = create_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _is_file(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not database.startswith("file:")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own would come too late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction, committed when the block ends without an exception."""
    try:
        with engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn
    except OperationalError as exc:
        raise _busy(exc) from exc


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One read transaction: a consistent snapshot even while other processes write."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name != "sqlite":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
    except OperationalError as exc:
        raise _busy(exc) from exc


def _busy(exc: OperationalError) -> Exception:
    if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
        return SessionError(
            "The session database is busy: another process is writing to it. Try again in a moment."
        )
    return exc
