"""The session tables, in SQLAlchemy Core with standard types only, so SQLite and PostgreSQL
share one schema.

Every child row is keyed by (session_id, number): numbers are allocated inside the writing
transaction and the primary key makes a duplicate impossible even if two processes race.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

ID_LENGTH = 64
SHA_LENGTH = 64


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite stores no offset, so naive values read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("session timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()


def _session_fk() -> Column[str]:
    return Column(
        "session_id",
        String(ID_LENGTH),
        ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    )


sessions = Table(
    "sessions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("title", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("current_version", Integer, nullable=True),
    # The redo stack, bottom first: redo() pops the last entry.
    Column("redo", JSON, nullable=False),
)

images = Table(
    "session_images",
    metadata,
    _session_fk(),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("sha256", String(SHA_LENGTH), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("name", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

versions = Table(
    "session_versions",
    metadata,
    _session_fk(),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("parent", Integer, nullable=True),
    Column("priors", JSON, nullable=False),
    Column("edit", JSON(none_as_null=True), nullable=True),
    Column("summary", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["session_id", "parent"],
        ["session_versions.session_id", "session_versions.number"],
        ondelete="CASCADE",
    ),
)

turns = Table(
    "session_turns",
    metadata,
    _session_fk(),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("tool_calls", JSON, nullable=False),
    Column("timings", JSON, nullable=False),
    Column("tokens", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

generations = Table(
    "session_generations",
    metadata,
    _session_fk(),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("recipe", JSON, nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("chosen", Integer, nullable=True),
    Column("chosen_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["session_id", "version"],
        ["session_versions.session_id", "session_versions.number"],
        ondelete="CASCADE",
    ),
)

# The priors of versions, content-addressed per session (see session/parts.py): a version's row
# keeps a manifest of references, so unchanged priors and people are stored once.
prior_parts = Table(
    "session_prior_parts",
    metadata,
    _session_fk(),
    Column("sha256", String(SHA_LENGTH), primary_key=True),
    Column("data", JSON, nullable=False),
)

# Which artifacts a session may read: the access list behind Session.read_artifact.
artifact_links = Table(
    "session_artifacts",
    metadata,
    _session_fk(),
    Column("sha256", String(SHA_LENGTH), primary_key=True),
)

CHILD_TABLES = (artifact_links, generations, turns, versions, prior_parts, images)
