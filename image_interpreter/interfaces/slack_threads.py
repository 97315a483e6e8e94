"""Which session a Slack thread is: (team, channel, thread ts) -> session id, in the session
database, so a thread goes on with the same session after the bot restarts.

The table lives beside the session tables (same database URL, SQLite or PostgreSQL) but in its own
metadata: the session store knows nothing of Slack. A mapping whose session was deleted is
treated as absent, and replaced when the thread starts a new session.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Engine, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from image_interpreter.session.common import now
from image_interpreter.session.engine import reading, writing
from image_interpreter.session.tables import UTCDateTime

metadata = MetaData()

slack_threads = Table(
    "slack_threads",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("channel_id", String(32), primary_key=True),
    Column("thread_ts", String(32), primary_key=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
)


@dataclass(frozen=True)
class ThreadKey:
    team_id: str
    channel_id: str
    thread_ts: str

    def __str__(self) -> str:
        return f"{self.team_id}/{self.channel_id}/{self.thread_ts}"


class ThreadMap:
    """Thread -> session id, persisted in `engine`'s database."""

    def __init__(self, engine: Engine):
        self.engine = engine
        with writing(engine) as conn:
            metadata.create_all(conn)

    def get(self, key: ThreadKey) -> str | None:
        c = slack_threads.c
        with reading(self.engine) as conn:
            return conn.execute(
                select(c.session_id).where(
                    c.team_id == key.team_id,
                    c.channel_id == key.channel_id,
                    c.thread_ts == key.thread_ts,
                )
            ).scalar_one_or_none()

    def put(self, key: ThreadKey, session_id: str) -> str:
        """Map `key` to `session_id` unless another process mapped it first; the mapping in force
        comes back."""
        try:
            with writing(self.engine) as conn:
                conn.execute(
                    insert(slack_threads).values(
                        team_id=key.team_id,
                        channel_id=key.channel_id,
                        thread_ts=key.thread_ts,
                        session_id=session_id,
                        created_at=now(),
                    )
                )
        except IntegrityError:
            found = self.get(key)
            if found is not None:
                return found
            raise
        return session_id

    def replace(self, key: ThreadKey, session_id: str) -> None:
        """Point `key` at `session_id` (its old session is gone)."""
        c = slack_threads.c
        with writing(self.engine) as conn:
            conn.execute(
                delete(slack_threads).where(
                    c.team_id == key.team_id,
                    c.channel_id == key.channel_id,
                    c.thread_ts == key.thread_ts,
                )
            )
            conn.execute(
                insert(slack_threads).values(
                    team_id=key.team_id,
                    channel_id=key.channel_id,
                    thread_ts=key.thread_ts,
                    session_id=session_id,
                    created_at=now(),
                )
            )
