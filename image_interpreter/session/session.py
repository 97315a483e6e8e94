"""One session: images, a tree of PriorSet versions, the conversation and the generations.

A `Session` object is only a handle (an id and the store): every method reads or writes the
database in its own transaction, committed before it returns, so two handles on the same session,
in one process or several, always see and extend the same state. Writers take the session's row
first (`_lock`), so numbers are allocated one writer at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from image_interpreter.errors import PriorsError, SessionError
from image_interpreter.images import encode_png, load_image
from image_interpreter.priors.schema import ImageRef, PriorSet
from image_interpreter.session import parts
from image_interpreter.session import tables as t
from image_interpreter.session.common import describe, no_session, now, plain_json, validated
from image_interpreter.session.engine import reading, writing
from image_interpreter.session.state import (
    CandidateRecord,
    GenerationRecord,
    Role,
    SessionImage,
    SessionState,
    Turn,
    VersionInfo,
    VersionRecord,
)

if TYPE_CHECKING:
    from image_interpreter.session.store import SessionStore

_HANDLE = re.compile(r"^img([1-9][0-9]{0,9})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Session:
    """A handle on one stored session. Get one from `SessionStore.create` or `.open`."""

    def __init__(self, store: SessionStore, session_id: str):
        self._store = store
        self.id = session_id

    def __repr__(self) -> str:
        return f"Session({self.id!r})"

    @property
    def _engine(self) -> Engine:
        return self._store.engine

    # --- title ---------------------------------------------------------------------------

    @property
    def title(self) -> str | None:
        with reading(self._engine) as conn:
            return self._row(conn).title

    def rename(self, title: str | None) -> None:
        with writing(self._engine) as conn:
            self._lock(conn)
            conn.execute(update(t.sessions).where(t.sessions.c.id == self.id).values(title=title))

    # --- images --------------------------------------------------------------------------

    def add_image(self, data: bytes, name: str | None = None) -> SessionImage:
        """Decode safely, store the normalised PNG once, and give it the next handle."""
        picture = load_image(data, self._store.limits, name=name)  # ImageRejected: nothing added
        sha = self._store.artifacts.put(encode_png(picture))
        ref = ImageRef(sha256=sha, width=picture.width, height=picture.height, name=name)
        created = now()
        with writing(self._engine) as conn:
            self._lock(conn)
            number = _next_number(conn, t.images, self.id)
            conn.execute(
                insert(t.images).values(
                    session_id=self.id,
                    number=number,
                    sha256=sha,
                    width=ref.width,
                    height=ref.height,
                    media_type=ref.media_type,
                    name=name,
                    created_at=created,
                )
            )
            _link(conn, self.id, [sha])
        return SessionImage(handle=f"img{number}", ref=ref, created_at=created)

    def images(self) -> list[SessionImage]:
        with reading(self._engine) as conn:
            self._row(conn)
            return _images(conn, self.id)

    def image(self, handle: str) -> SessionImage:
        with reading(self._engine) as conn:
            self._row(conn)
            found = _HANDLE.match(handle) if isinstance(handle, str) else None
            if found:
                row = conn.execute(
                    select(t.images).where(
                        t.images.c.session_id == self.id, t.images.c.number == int(found[1])
                    )
                ).one_or_none()
                if row is not None:
                    return _image(row)
            known = ", ".join(image.handle for image in _images(conn, self.id)) or "none yet"
        raise SessionError(
            f"No image '{handle}' in this session (images: {known}). Add one with add_image."
        )

    # --- versions ------------------------------------------------------------------------

    @property
    def current(self) -> PriorSet | None:
        """The checked-out version, or None before the first commit."""
        with reading(self._engine) as conn:
            number = self._row(conn).current_version
            return None if number is None else _priors(conn, self.id, number)

    def commit(
        self, priors: PriorSet, edit: dict[str, Any] | None = None, summary: str = ""
    ) -> PriorSet:
        """Store a copy as the next version, child of the current one; it becomes current and
        the redo stack is cleared. Returns the stored copy (with its `version` and `parent`)."""
        data = plain_json(_priors_data(priors), "The priors")
        if edit is not None and not isinstance(edit, dict):
            raise SessionError(f"The edit must be a dict, not {type(edit).__name__}.")
        edit_data = None if edit is None else plain_json(edit, "The edit")
        if not isinstance(summary, str):
            raise SessionError(f"The summary must be a string, not {type(summary).__name__}.")
        with writing(self._engine) as conn:
            row = self._lock(conn)
            self._check_source(conn, data)
            number = _next_number(conn, t.versions, self.id)
            stored = _as_priors({**data, "version": number, "parent": row.current_version})
            conn.execute(
                insert(t.versions).values(
                    session_id=self.id,
                    number=number,
                    parent=row.current_version,
                    priors=parts.store(conn, self.id, stored.model_dump(mode="json")),
                    edit=edit_data,
                    summary=summary,
                    created_at=now(),
                )
            )
            self._move(conn, number, redo=[])
            _require_links(conn, self.id, stored.artifacts(), "The priors")
        return stored

    def version(self, number: int) -> PriorSet:
        with reading(self._engine) as conn:
            self._row(conn)
            return _priors(conn, self.id, number)

    def checkout(self, number: int) -> PriorSet:
        """Make any version current; the next commit branches from it. Clears the redo stack."""
        with writing(self._engine) as conn:
            self._lock(conn)
            priors = _priors(conn, self.id, number)
            self._move(conn, number, redo=[])
        return priors

    def undo(self) -> PriorSet:
        """Go to the current version's parent; redo() comes back."""
        with writing(self._engine) as conn:
            row = self._lock(conn)
            current = row.current_version
            if current is None:
                raise SessionError("Nothing to undo: this session has no versions yet.")
            parent = _version_row(conn, self.id, current).parent
            if parent is None:
                raise SessionError(f"Nothing to undo: version {current} is the first version.")
            self._move(conn, parent, redo=[*row.redo, current])
            return _priors(conn, self.id, parent)

    def redo(self) -> PriorSet:
        """Go forward again along the last undo."""
        with writing(self._engine) as conn:
            row = self._lock(conn)
            stack = list(row.redo)
            if not stack:
                raise SessionError(
                    "Nothing to redo: there has been no undo since the last commit or checkout."
                    " `history` lists every version; check one out to go there."
                )
            target = stack.pop()
            self._move(conn, target, redo=stack)
            return _priors(conn, self.id, target)

    def history(self) -> list[VersionInfo]:
        """Every version in order of creation; `current` marks the checked-out one."""
        v = t.versions.c
        with reading(self._engine) as conn:
            current = self._row(conn).current_version
            rows = conn.execute(
                select(v.number, v.parent, v.summary, v.edit, v.created_at)
                .where(v.session_id == self.id)
                .order_by(v.number)
            ).all()
        return [
            VersionInfo(
                number=r.number,
                parent=r.parent,
                summary=r.summary,
                edit=r.edit,
                created_at=r.created_at,
                current=r.number == current,
            )
            for r in rows
        ]

    # --- conversation --------------------------------------------------------------------

    def add_turn(
        self,
        role: Role,
        text: str,
        tool_calls: list[dict[str, Any]] | None = None,
        timings: dict[str, float] | None = None,
        tokens: dict[str, int] | None = None,
    ) -> Turn:
        fields = {
            "role": role,
            "text": text,
            "tool_calls": plain_json(tool_calls or [], "The tool calls"),
            "timings": plain_json(timings or {}, "The timings"),
            "tokens": plain_json(tokens or {}, "The token counts"),
            "created_at": now(),
        }
        validated(Turn, "The turn", {**fields, "number": 1})  # refuse before taking the lock
        with writing(self._engine) as conn:
            self._lock(conn)
            number = _next_number(conn, t.turns, self.id)
            turn = validated(Turn, "The turn", {**fields, "number": number})
            conn.execute(insert(t.turns).values(session_id=self.id, **_turn_row(turn)))
        return turn

    def turns(self) -> list[Turn]:
        with reading(self._engine) as conn:
            self._row(conn)
            return _turns(conn, self.id)

    # --- generations ---------------------------------------------------------------------

    def record_generation(
        self,
        version: int,
        recipe: dict[str, Any],
        candidates: Sequence[CandidateRecord | dict[str, Any]],
    ) -> GenerationRecord:
        """Record a run from `version`; its candidate images become readable in this session."""
        fields = {
            "version": version,
            "recipe": plain_json(recipe, "The recipe"),
            "candidates": [
                c.model_dump(mode="json") if isinstance(c, CandidateRecord) else c
                for c in candidates
            ],
            "created_at": now(),
        }
        validated(GenerationRecord, "The generation", {**fields, "id": 1})
        with writing(self._engine) as conn:
            self._lock(conn)
            _version_row(conn, self.id, version)
            number = _next_number(conn, t.generations, self.id)
            record = validated(GenerationRecord, "The generation", {**fields, "id": number})
            conn.execute(
                insert(t.generations).values(session_id=self.id, **_generation_row(record))
            )
            _require_links(conn, self.id, [c.sha256 for c in record.candidates], "The candidates")
        return record

    def choose(self, generation_id: int, candidate: int) -> GenerationRecord:
        """Record the user's pick (an index into the candidates); a later pick replaces it."""
        g = t.generations.c
        with writing(self._engine) as conn:
            self._lock(conn)
            record = _generation(conn, self.id, generation_id)
            count = len(record.candidates)
            if not isinstance(candidate, int) or not 0 <= candidate < count:
                raise SessionError(
                    f"Generation {generation_id} has candidates 0 to {count - 1}; there is no"
                    f" candidate {candidate}."
                    if count
                    else f"Generation {generation_id} has no candidates to choose from."
                )
            record = record.model_copy(update={"chosen": candidate, "chosen_at": now()})
            conn.execute(
                update(t.generations)
                .where(g.session_id == self.id, g.number == generation_id)
                .values(chosen=record.chosen, chosen_at=record.chosen_at)
            )
        return record

    def generations(self) -> list[GenerationRecord]:
        with reading(self._engine) as conn:
            self._row(conn)
            return _generations(conn, self.id)

    # --- artifacts -----------------------------------------------------------------------

    def put_artifact(self, data: bytes) -> str:
        """Store bytes (once, shared) and make them readable in this session; returns the sha256."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise SessionError(f"An artifact must be bytes, not {type(data).__name__}.")
        sha = self._store.artifacts.put(bytes(data))
        with writing(self._engine) as conn:
            self._lock(conn)
            _link(conn, self.id, [sha])
        return sha

    def read_artifact(self, sha256: str) -> bytes:
        """An artifact this session added, referenced or generated; others are refused the same
        way whether or not they exist, so a session learns nothing about another's."""
        a = t.artifact_links.c
        linked = False
        if isinstance(sha256, str) and _SHA256.match(sha256):
            with reading(self._engine) as conn:
                self._row(conn)
                linked = (
                    conn.execute(
                        select(a.sha256).where(a.session_id == self.id, a.sha256 == sha256)
                    ).first()
                    is not None
                )
        if not linked:
            shown = sha256[:12] if isinstance(sha256, str) else repr(sha256)
            raise SessionError(
                f"This session has no artifact '{shown}'. A session can read only the images"
                " added to it and the artifacts its versions and generations refer to."
            )
        return self._store.artifacts.get(sha256)

    def artifacts(self) -> list[str]:
        """Every artifact this session may read, sorted."""
        with reading(self._engine) as conn:
            self._row(conn)
            return _links(conn, self.id)

    # --- everything ----------------------------------------------------------------------

    def state(self) -> SessionState:
        """The whole session, read in one snapshot."""
        with reading(self._engine) as conn:
            return load_state(conn, self.id)

    # --- internals -----------------------------------------------------------------------

    def _row(self, conn: Connection) -> Row[Any]:
        row = conn.execute(select(t.sessions).where(t.sessions.c.id == self.id)).one_or_none()
        if row is None:
            raise no_session(self.id)
        return row

    def _lock(self, conn: Connection) -> Row[Any]:
        """Take the session's row for this transaction (the first write, so SQLite and
        PostgreSQL both queue other writers here), then read it."""
        touched = conn.execute(
            update(t.sessions).where(t.sessions.c.id == self.id).values(updated_at=now())
        )
        if touched.rowcount == 0:
            raise no_session(self.id)
        return self._row(conn)

    def _move(self, conn: Connection, number: int, redo: list[int]) -> None:
        conn.execute(
            update(t.sessions)
            .where(t.sessions.c.id == self.id)
            .values(current_version=number, redo=redo)
        )

    def _check_source(self, conn: Connection, data: dict[str, Any]) -> None:
        source = data["source"]
        i = t.images.c
        match = conn.execute(
            select(i.number).where(
                i.session_id == self.id,
                i.sha256 == source["sha256"],
                i.width == source["width"],
                i.height == source["height"],
            )
        ).first()
        if match is None:
            known = ", ".join(image.handle for image in _images(conn, self.id)) or "none yet"
            raise SessionError(
                f"Cannot commit: the priors describe image {source['sha256'][:12]}"
                f" ({source['width']}x{source['height']}), which is not one of this session's"
                f" images ({known}). Add the image with add_image and extract from it."
            )


# --- reading rows ------------------------------------------------------------------------


def load_state(conn: Connection, session_id: str) -> SessionState:
    row = conn.execute(select(t.sessions).where(t.sessions.c.id == session_id)).one_or_none()
    if row is None:
        raise no_session(session_id)
    v = t.versions.c
    stored_parts = parts.fetch(conn, session_id)
    versions = [
        VersionRecord(
            number=r.number,
            parent=r.parent,
            summary=r.summary,
            edit=r.edit,
            created_at=r.created_at,
            priors=_joined(r.priors, stored_parts),
        )
        for r in conn.execute(
            select(t.versions).where(v.session_id == session_id).order_by(v.number)
        )
    ]
    return SessionState(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        images=_images(conn, session_id),
        versions=versions,
        current=row.current_version,
        redo=list(row.redo),
        turns=_turns(conn, session_id),
        generations=_generations(conn, session_id),
        artifacts=_links(conn, session_id),
    )


def _next_number(conn: Connection, table: Any, session_id: str) -> int:
    found = conn.execute(
        select(func.max(table.c.number)).where(table.c.session_id == session_id)
    ).scalar()
    return (found or 0) + 1


def _link(conn: Connection, session_id: str, hashes: Iterable[str]) -> None:
    wanted = set(hashes)
    if not wanted:
        return
    a = t.artifact_links.c
    have = set(
        conn.execute(
            select(a.sha256).where(a.session_id == session_id, a.sha256.in_(sorted(wanted)))
        ).scalars()
    )
    missing = sorted(wanted - have)
    if missing:
        conn.execute(
            insert(t.artifact_links), [{"session_id": session_id, "sha256": s} for s in missing]
        )


def _require_links(conn: Connection, session_id: str, hashes: Iterable[str], what: str) -> None:
    """Refuse references to artifacts this session was never given.

    Knowing a hash must not be enough to read another session's file: artifacts enter a session
    only through `add_image` and `put_artifact`. The message is the same whether or not the
    artifact exists elsewhere."""
    wanted = set(hashes)
    if not wanted:
        return
    missing = sorted(wanted - set(_links(conn, session_id)))
    if missing:
        raise SessionError(
            f"{what} refer to artifact {missing[0][:12]}, which this session does not have."
            " Store arrays and images through the session (put_artifact) before referring to them."
        )


def _links(conn: Connection, session_id: str) -> list[str]:
    a = t.artifact_links.c
    return list(
        conn.execute(
            select(a.sha256).where(a.session_id == session_id).order_by(a.sha256)
        ).scalars()
    )


def _image(row: Row[Any]) -> SessionImage:
    ref = ImageRef(
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        media_type=row.media_type,
        name=row.name,
    )
    return SessionImage(handle=f"img{row.number}", ref=ref, created_at=row.created_at)


def _images(conn: Connection, session_id: str) -> list[SessionImage]:
    i = t.images.c
    rows = conn.execute(select(t.images).where(i.session_id == session_id).order_by(i.number))
    return [_image(r) for r in rows]


def _version_row(conn: Connection, session_id: str, number: int) -> Row[Any]:
    v = t.versions.c
    row = None
    if isinstance(number, int) and not isinstance(number, bool):
        row = conn.execute(
            select(t.versions).where(v.session_id == session_id, v.number == number)
        ).one_or_none()
    if row is None:
        count = conn.execute(
            select(func.count()).select_from(t.versions).where(v.session_id == session_id)
        ).scalar_one()
        have = f"versions 1 to {count}" if count else "no versions yet"
        raise SessionError(
            f"No version {number!r} in this session (it has {have}). `history` lists them."
        )
    return row


def _priors(conn: Connection, session_id: str, number: int) -> PriorSet:
    manifest = _version_row(conn, session_id, number).priors
    return _joined(manifest, parts.fetch(conn, session_id, parts.references(manifest)))


def _joined(manifest: Any, stored: dict[str, Any]) -> PriorSet:
    try:
        return _as_priors(parts.join(manifest, stored))
    except KeyError as exc:
        raise PriorsError(f"The stored priors are incomplete ({exc.args[0]}).") from None


def _as_priors(data: Any) -> PriorSet:
    try:
        return PriorSet.model_validate(data)
    except ValidationError as exc:
        raise PriorsError(f"The priors do not validate: {describe(exc)}.") from None


def _priors_data(priors: PriorSet) -> dict[str, Any]:
    """Re-validate (fields may have been assigned since construction) and dump as JSON data."""
    if isinstance(priors, PriorSet):
        priors = priors.model_dump(mode="json")
    if not isinstance(priors, dict):
        raise SessionError(f"Only a PriorSet can be committed, not {type(priors).__name__}.")
    return _as_priors(priors).model_dump(mode="json")


def _turn_row(turn: Turn) -> dict[str, Any]:
    return turn.model_dump(mode="python")


def _turns(conn: Connection, session_id: str) -> list[Turn]:
    c = t.turns.c
    rows = conn.execute(select(t.turns).where(c.session_id == session_id).order_by(c.number))
    return [Turn.model_validate(data) for data in _drop_session(rows)]


def _generation_row(record: GenerationRecord) -> dict[str, Any]:
    data = record.model_dump(mode="python")
    data["number"] = data.pop("id")
    return data


def _generation_record(row: Row[Any]) -> GenerationRecord:
    return GenerationRecord(
        id=row.number,
        version=row.version,
        recipe=row.recipe,
        candidates=row.candidates,
        chosen=row.chosen,
        chosen_at=row.chosen_at,
        created_at=row.created_at,
    )


def _generation(conn: Connection, session_id: str, generation_id: int) -> GenerationRecord:
    g = t.generations.c
    row = None
    if isinstance(generation_id, int) and not isinstance(generation_id, bool):
        row = conn.execute(
            select(t.generations).where(g.session_id == session_id, g.number == generation_id)
        ).one_or_none()
    if row is None:
        raise SessionError(
            f"No generation {generation_id!r} in this session. `generations` lists them."
        )
    return _generation_record(row)


def _generations(conn: Connection, session_id: str) -> list[GenerationRecord]:
    g = t.generations.c
    rows = conn.execute(select(t.generations).where(g.session_id == session_id).order_by(g.number))
    return [_generation_record(r) for r in rows]


def _drop_session(rows: Iterable[Row[Any]]) -> Iterable[dict[str, Any]]:
    for row in rows:
        data = dict(row._mapping)
        data.pop("session_id", None)
        yield data
