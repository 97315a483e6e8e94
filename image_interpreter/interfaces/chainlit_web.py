"""What the Chainlit app (`app.py`) needs besides the conversation core: its settings, sign-in,
the thread list kept beside our sessions, and live tool steps.

- `WebConfig` (`IMAGE_INTERPRETER_WEB__*`): sign-in (`none`, `password`, `header`, `oauth`) and
  the users for password sign-in (plain or `pbkdf2_sha256$...` hashes, see `hash_password`).
- `ThreadStore`: Chainlit's data layer. A Chainlit thread is one of our sessions: the thread list
  (threads, their owners, names) lives in two small tables in the session database, and a
  thread's messages, and the tool steps of its turns, are read back from the session's turns,
  so there is one record of the conversation and it survives a restart. Elements are not
  stored: pictures are drawn again from the session when a thread is resumed, so no element URL
  or path ever comes from storage.
- `StepFeed`: progress events from the conversation's threads -> `cl.Step`s in the browser, one
  per tool call, with the generation's latent preview updated as it denoises.
- `AnswerFeed`: the LLM's answer streamed into one message as it is generated.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import chainlit as cl
from chainlit.data.base import BaseDataLayer
from chainlit.types import Feedback, PageInfo, PaginatedResponse, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import JSON, Column, MetaData, String, Table, delete, insert, select, update

from image_interpreter.errors import SessionError
from image_interpreter.interfaces.conversation import (
    Conversations,
    PriorRow,
    ProgressEvent,
    Reply,
    markdown_table,
)
from image_interpreter.session.common import now
from image_interpreter.session.engine import reading, writing
from image_interpreter.session.tables import UTCDateTime

log = logging.getLogger(__name__)

Auth = Literal["none", "password", "header", "oauth"]
_PBKDF2 = "pbkdf2_sha256"
_ITERATIONS = 600_000


class WebConfig(BaseSettings):
    """The web app's own settings, from `IMAGE_INTERPRETER_WEB__*` variables."""

    model_config = SettingsConfigDict(env_prefix="IMAGE_INTERPRETER_WEB__", extra="ignore")

    auth: Auth = Field(
        "none",
        description="none; password (users below); header (a trusted proxy's user header);"
        " oauth (Chainlit's OAUTH_* provider variables).",
    )
    users: dict[str, str] = Field(
        default_factory=dict,
        description='Password sign-in, as JSON: {"alice": "pbkdf2_sha256$..."} (or a plain'
        " password, for trying it out).",
    )
    user_header: str = Field(
        "X-Forwarded-User", description="Header sign-in: the header the proxy sets."
    )
    assistant: str = Field("image-interpreter", description="The assistant's name in the chat.")


# --- sign-in -----------------------------------------------------------------------------------


def hash_password(password: str, *, salt: str | None = None) -> str:
    """`pbkdf2_sha256$<iterations>$<salt>$<hash>`, for IMAGE_INTERPRETER_WEB__USERS."""
    salt = salt or secrets.token_urlsafe(12)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _ITERATIONS)
    return f"{_PBKDF2}${_ITERATIONS}${salt}${base64.b64encode(digest).decode()}"


def check_password(config: WebConfig, username: str, password: str) -> bool:
    """Whether `password` is `username`'s; the same work is done for unknown users."""
    stored = config.users.get(username)
    if stored is None:
        hash_password(password, salt="unknown-user")  # as slow as a real check
        return False
    if stored.startswith(f"{_PBKDF2}$"):
        try:
            _, iterations, salt, expected = stored.split("$", 3)
            digest = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), salt.encode(), int(iterations)
            )
        except ValueError:
            log.error("the password hash of user %r is malformed", username)
            return False
        return hmac.compare_digest(base64.b64encode(digest).decode(), expected)
    return hmac.compare_digest(stored.encode(), password.encode())


def ensure_auth_secret(data_dir: Path) -> None:
    """Chainlit signs sign-in tokens with CHAINLIT_AUTH_SECRET; without one set, a secret is
    made once and kept in the data folder (owner-only), so sign-ins survive a restart."""
    if os.environ.get("CHAINLIT_AUTH_SECRET"):
        return
    path = data_dir / "chainlit-auth-secret"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret)
    os.environ["CHAINLIT_AUTH_SECRET"] = secret


# --- the thread list ---------------------------------------------------------------------------

metadata = MetaData()

chainlit_users = Table(
    "chainlit_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("identifier", String(200), nullable=False, unique=True),
    Column("metadata", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

chainlit_threads = Table(
    "chainlit_threads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("session_id", String(64), nullable=True, index=True),
    Column("user_id", String(36), nullable=True, index=True),
    Column("user_identifier", String(200), nullable=True),
    Column("name", String(300), nullable=True),
    Column("metadata", JSON, nullable=False),
    Column("tags", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)


def _tool_steps(
    thread_id: str, turn_number: int, records: list[dict[str, Any]], at: str
) -> list[dict[str, Any]]:
    """A turn's tool calls as finished tool steps, for a resumed thread to show what was done
    (as `StepFeed` showed it live): name, arguments, result or error."""
    steps = []
    for number, record in enumerate(records, start=1):
        result = record.get("result")
        error = record.get("error") or (
            result if isinstance(result, str) and result.startswith("Error:") else None
        )  # a tool may answer with its error as text
        steps.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{thread_id}/{turn_number}/{number}")),
                "threadId": thread_id,
                "parentId": None,
                "name": str(record.get("name") or "tool"),
                "type": "tool",
                "input": json.dumps(record.get("args") or {}, ensure_ascii=False),
                "output": str(error if error else result if result is not None else "done"),
                "createdAt": at,
                "start": at,
                "end": at,
                "streaming": False,
                "isError": bool(error),
                "metadata": {},
            }
        )
    return steps


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _json(value: Any) -> Any:
    """Only plain JSON is kept (Chainlit's user session may hold other objects)."""
    return json.loads(json.dumps(value, default=lambda _: None))


# --- who may change a thread --------------------------------------------------------------------
# Chainlit trusts the thread id a web socket names: an anonymous socket naming another's thread
# would rename it on its first message. A thread records who made it (its user, and a hash of
# the Chainlit session, for threads without sign-in), and only they may change it.

OWNER_KEY = "_owner_session"


class ThreadNotYours(PermissionError):
    """A change to a thread by someone who does not own it."""


@dataclass(frozen=True)
class _Caller:
    user_id: str | None
    session: str  # sha256 of Chainlit's session id: stored, never shown


def _caller() -> _Caller | None:
    """Who is asking, from Chainlit's context; None outside one (the server's own calls)."""
    from chainlit.context import ChainlitContextException, context

    try:
        session = context.session
    except ChainlitContextException:
        return None
    user = getattr(session, "user", None)
    user_id = user.id if isinstance(user, PersistedUser) else None
    return _Caller(user_id, hashlib.sha256(str(session.id).encode()).hexdigest())


def _may_change(row: Any, caller: _Caller | None) -> bool:
    if caller is None:
        return True
    if row.user_id is not None:
        return caller.user_id == row.user_id
    owner = (row.metadata or {}).get(OWNER_KEY)
    return owner is None or owner == caller.session  # threads made before owners were kept


class ThreadStore(BaseDataLayer):
    """Chainlit's data layer over our session database (see the module docstring)."""

    def __init__(self, conversations: Conversations, assistant: str = "image-interpreter"):
        self.conversations = conversations
        self.engine = conversations.store.engine
        self.assistant = assistant
        with writing(self.engine) as conn:
            metadata.create_all(conn)

    # --- our own: the thread's session ------------------------------------------------------

    def session_of(self, thread_id: str) -> str | None:
        with reading(self.engine) as conn:
            return conn.execute(
                select(chainlit_threads.c.session_id).where(chainlit_threads.c.id == thread_id)
            ).scalar()

    def link(
        self, thread_id: str, session_id: str, user: PersistedUser | None, name: str | None
    ) -> None:
        """Record that `thread_id` is session `session_id` (first write wins, so a thread
        never changes session). A thread of someone else is left as it is."""
        fields: dict[str, Any] = {"session_id": session_id}
        if isinstance(user, PersistedUser):
            fields |= {"user_id": user.id, "user_identifier": user.identifier}
        try:
            self._upsert(thread_id, fields, name_if_empty=name)
        except ThreadNotYours as refused:
            log.warning("%s", refused)

    # --- users ------------------------------------------------------------------------------

    async def get_user(self, identifier: str) -> PersistedUser | None:
        return await asyncio.to_thread(self._get_user, identifier)

    async def create_user(self, user: User) -> PersistedUser | None:
        return await asyncio.to_thread(self._create_user, user)

    def _get_user(self, identifier: str) -> PersistedUser | None:
        with reading(self.engine) as conn:
            row = conn.execute(
                select(chainlit_users).where(chainlit_users.c.identifier == identifier)
            ).first()
        if row is None:
            return None
        return PersistedUser(
            id=row.id,
            identifier=row.identifier,
            createdAt=_iso(row.created_at),
            metadata=row.metadata or {},
        )

    def _create_user(self, user: User) -> PersistedUser | None:
        found = self._get_user(user.identifier)
        if found is not None:
            return found
        with writing(self.engine) as conn:
            conn.execute(
                insert(chainlit_users).values(
                    id=str(uuid.uuid4()),
                    identifier=user.identifier,
                    metadata=_json(user.metadata or {}),
                    created_at=now(),
                )
            )
        return self._get_user(user.identifier)

    # --- threads ----------------------------------------------------------------------------

    async def get_thread_author(self, thread_id: str) -> str:
        def author() -> str:
            with reading(self.engine) as conn:
                return (
                    conn.execute(
                        select(chainlit_threads.c.user_identifier).where(
                            chainlit_threads.c.id == thread_id
                        )
                    ).scalar()
                    or ""
                )

        return await asyncio.to_thread(author)

    async def delete_thread(self, thread_id: str) -> None:
        def remove() -> None:
            session_id = self.session_of(thread_id)
            with writing(self.engine) as conn:
                conn.execute(delete(chainlit_threads).where(chainlit_threads.c.id == thread_id))
            if session_id:
                with contextlib.suppress(SessionError):
                    self.conversations.store.delete(session_id)

        await asyncio.to_thread(remove)

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[dict[str, Any]]:
        def listed() -> PaginatedResponse[dict[str, Any]]:
            t = chainlit_threads.c
            query = select(chainlit_threads)
            if filters.userId:
                query = query.where(t.user_id == filters.userId)
            else:
                query = query.where(t.user_id.is_(None))
            if filters.search:
                query = query.where(t.name.contains(filters.search[:200], autoescape=True))
            with reading(self.engine) as conn:
                rows = conn.execute(query.order_by(t.created_at.desc(), t.id)).all()
            ids = [row.id for row in rows]
            start = ids.index(pagination.cursor) + 1 if pagination.cursor in ids else 0
            page = rows[start : start + pagination.first]
            return PaginatedResponse(
                pageInfo=PageInfo(
                    hasNextPage=start + pagination.first < len(rows),
                    startCursor=page[0].id if page else None,
                    endCursor=page[-1].id if page else None,
                ),
                data=[self._thread(row, steps=False) for row in page],
            )

        return await asyncio.to_thread(listed)

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        def found() -> dict[str, Any] | None:
            with reading(self.engine) as conn:
                row = conn.execute(
                    select(chainlit_threads).where(chainlit_threads.c.id == thread_id)
                ).first()
            return None if row is None else self._thread(row, steps=True)

        return await asyncio.to_thread(found)

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict | None = None,
        tags: list[str] | None = None,
    ) -> None:
        fields: dict[str, Any] = {}
        if name:
            fields["name"] = name[:300]
        if user_id is not None:
            fields["user_id"] = user_id
        if tags is not None:
            fields["tags"] = list(tags)
        if metadata is not None:
            fields["metadata"] = {
                k: v for k, v in _json(metadata).items() if k not in ("session_id", OWNER_KEY)
            }
        try:
            await asyncio.to_thread(self._upsert, thread_id, fields)
        except ThreadNotYours as refused:  # Chainlit would stop cleaning up its session
            log.warning("%s", refused)

    def _upsert(
        self, thread_id: str, fields: dict[str, Any], *, name_if_empty: str | None = None
    ) -> None:
        t = chainlit_threads.c
        caller = _caller()  # read here: asyncio.to_thread carries Chainlit's context along
        with writing(self.engine) as conn:
            row = conn.execute(select(chainlit_threads).where(t.id == thread_id)).first()
            if row is not None and not _may_change(row, caller):
                raise ThreadNotYours(f"Thread {thread_id} belongs to someone else; not changed.")
            if "user_id" in fields and "user_identifier" not in fields:
                fields["user_identifier"] = conn.execute(
                    select(chainlit_users.c.identifier).where(
                        chainlit_users.c.id == fields["user_id"]
                    )
                ).scalar()
            if row is None:
                owner = {OWNER_KEY: caller.session} if caller is not None else {}
                conn.execute(
                    insert(chainlit_threads).values(
                        id=thread_id,
                        metadata={**fields.pop("metadata", {}), **owner},
                        created_at=now(),
                        name=fields.pop("name", None) or name_if_empty,
                        **fields,
                    )
                )
                return
            if row.session_id is not None:
                fields.pop("session_id", None)  # a thread never changes session
            if "metadata" in fields:
                fields["metadata"] = {**(row.metadata or {}), **fields["metadata"]}
            if not row.name and "name" not in fields and name_if_empty:
                fields["name"] = name_if_empty
            if fields:
                conn.execute(update(chainlit_threads).where(t.id == thread_id).values(**fields))

    def _thread(self, row: Any, *, steps: bool) -> dict[str, Any]:
        created = _iso(row.created_at)
        found: list[dict[str, Any]] = []
        if steps and row.session_id:
            try:
                turns = self.conversations.open(row.session_id).turns()
            except SessionError:
                turns = []
            for turn in turns:
                if turn.role not in ("user", "assistant"):
                    continue
                at = _iso(turn.created_at)
                if turn.role == "assistant":  # its tool calls, as the steps shown before it
                    found += _tool_steps(row.id, turn.number, turn.tool_calls, at)
                found.append(
                    {
                        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{row.id}/{turn.number}")),
                        "threadId": row.id,
                        "parentId": None,
                        "name": (row.user_identifier or "User")
                        if turn.role == "user"
                        else self.assistant,
                        "type": "user_message" if turn.role == "user" else "assistant_message",
                        "output": turn.text,
                        "input": "",
                        "createdAt": at,
                        "start": at,
                        "end": at,
                        "streaming": False,
                        "isError": False,
                        "metadata": {},
                    }
                )
        return {
            "id": row.id,
            "createdAt": created,
            "name": row.name or "New conversation",
            "userId": row.user_id,
            "userIdentifier": row.user_identifier,
            "tags": row.tags,
            "metadata": {
                **{k: v for k, v in (row.metadata or {}).items() if k != OWNER_KEY},
                "session_id": row.session_id,
            },
            "steps": found,
            "elements": [],
        }

    # --- what is not stored -----------------------------------------------------------------
    # Messages come from the session's turns and pictures are drawn again on resume, so steps
    # and elements sent during a chat are not kept here.

    async def create_step(self, step_dict: Any) -> None:
        return None

    async def update_step(self, step_dict: Any) -> None:
        return None

    async def delete_step(self, step_id: str) -> None:
        return None

    async def create_element(self, element: Any) -> None:
        return None

    async def get_element(self, thread_id: str, element_id: str) -> None:
        return None

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        return None

    async def upsert_feedback(self, feedback: Feedback) -> str:
        return feedback.id or str(uuid.uuid4())

    async def delete_feedback(self, feedback_id: str) -> bool:
        return True

    async def get_favorite_steps(self, user_id: str) -> list[Any]:
        return []

    async def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        return None


# --- a reply as a message -------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    name: str
    payload: dict[str, Any]
    label: str
    tooltip: str = ""


@dataclass(frozen=True)
class WebMessage:
    text: str
    buttons: list[Button]


def web_message(reply: Reply, rows: list[PriorRow], *, max_buttons: int = 8) -> WebMessage:
    """What the web chat shows for a reply (kept apart from Chainlit, so tests read it): the
    text, the priors table when they changed, the candidates best first with their numbers and
    scores in words, and the buttons, which say the same numbers as the table and "pick 2"."""
    parts = [reply.text.strip()]
    buttons: list[Button] = []
    if reply.changed and rows:
        parts.append(markdown_table(rows))
        buttons += [
            Button(
                "toggle",
                {"kind": row.kind},
                f"{'Turn off' if row.enabled else 'Turn on'} {row.kind}",
            )
            for row in rows
        ]
    if reply.changed or reply.candidates:
        buttons.append(Button("undo", {}, "Undo", "Take back the last change (or pick)"))
    if reply.candidates:
        lines = ["| candidate | generation | score |", "| --- | --- | --- |"]
        for c in reply.candidates:
            best = " (best)" if c.place == 1 and len(reply.candidates) > 1 and c.score else ""
            lines.append(f"| {c.number}{best} | {c.generation} | {c.explained} |")
        parts.append("\n".join(lines))
        for c in reply.candidates[:max_buttons]:
            pair = {"generation": c.generation, "candidate": c.number}
            buttons += [
                Button("pick", pair, f"Pick {c.number}", f"Keep candidate {c.number}"),
                Button("upscale", pair, f"Upscale {c.number}", f"Enlarge candidate {c.number}"),
                Button("more_like", pair, f"More like {c.number}", f"Img2img from {c.number}"),
            ]
    return WebMessage("\n\n".join(p for p in parts if p) or "Done.", buttons)


# --- live steps --------------------------------------------------------------------------------


class StepFeed:
    """Progress events (from any thread) -> one `cl.Step` per tool call, updated live.

    feed = StepFeed(parent_id)
    reply = await cl.make_async(conversations.say)(session, text, feed.progress)
    await feed.close()
    """

    def __init__(self, parent_id: str | None = None, min_interval_s: float = 0.25):
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        current = cl.context.current_step
        self.parent_id = parent_id or (current.id if current is not None else None)
        self.min_interval_s = min_interval_s
        self.steps: dict[int, cl.Step] = {}
        self.previews: dict[int, cl.Image] = {}
        self.shown: dict[int, float] = {}
        self.task = asyncio.create_task(self._run())

    def progress(self, what: str, done: float | None, event: ProgressEvent) -> None:
        """The conversation's progress callback: safe to call from any thread."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def close(self) -> None:
        await self.queue.put(None)
        await self.task

    @property
    def count(self) -> int:
        return len(self.steps)

    async def _run(self) -> None:
        while (event := await self.queue.get()) is not None:
            try:
                await self._show(event)
            except Exception:  # a step not drawn must not lose the reply
                log.exception("step update failed")

    async def _show(self, event: ProgressEvent) -> None:
        step = self.steps.get(event.call)
        if event.phase == "tool_start" or step is None:
            if step is not None:
                return
            step = cl.Step(
                name=event.tool or event.what,
                type="tool",
                parent_id=self.parent_id,
                default_open=True,  # the live progress and preview are seen while it runs
                auto_collapse=True,
            )
            step.input = json.dumps(event.args or {}, ensure_ascii=False)
            step.start = cl.utils.utc_now()
            self.steps[event.call] = step
            await step.send()
            if event.phase == "tool_start":
                return
        if event.phase == "tool_end":
            step.output = event.output or ""
            step.is_error = event.failed
            step.end = cl.utils.utc_now()
            await step.update()
            return
        moment = time.monotonic()
        last_step = event.step is not None and event.step == event.total
        if moment - self.shown.get(event.call, 0.0) < self.min_interval_s and not last_step:
            return
        self.shown[event.call] = moment
        line = event.what
        if event.step is not None and event.total:
            line = f"{event.what}: step {event.step} of {event.total}"
        elif event.done is not None:
            line = f"{event.what} ({event.done:.0%})"
        step.output = line
        if event.preview is not None:
            preview = self.previews.get(event.call)
            if preview is None:
                preview = cl.Image(
                    name="latent preview", content=event.preview, display="inline", size="small"
                )
                preview.updatable = True  # sent again with each new picture, same element
                self.previews[event.call] = preview
                step.elements = [preview]
            preview.content = event.preview
        await step.update()


class AnswerFeed:
    """The LLM's answer, token by token (from the turn's thread), streamed into one
    `cl.Message`; the finished reply is then sent into that same message (`message`, None when
    nothing streamed, e.g. on the interpreter's fast path).

    answer = AnswerFeed(author)
    reply = await cl.make_async(conversations.say)(session, text, on_token=answer.token)
    await answer.close()
    """

    def __init__(self, author: str | None = None):
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.author = author
        self.message: cl.Message | None = None
        self.task = asyncio.create_task(self._run())

    def token(self, piece: str) -> None:
        """The conversation's token callback: safe to call from any thread."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, piece)

    async def close(self) -> None:
        await self.queue.put(None)
        await self.task

    async def _run(self) -> None:
        while (piece := await self.queue.get()) is not None:
            if self.message is None:
                self.message = cl.Message(content="", author=self.author)
            try:
                await self.message.stream_token(piece)
            except Exception:  # a token not shown must not lose the reply
                log.exception("streaming a token failed")


def main(argv: list[str] | None = None) -> int:
    """`python -m image_interpreter.interfaces.chainlit_web hash-password`: a hash for
    IMAGE_INTERPRETER_WEB__USERS, read from standard input (not the command line)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["hash-password"]:
        print("usage: python -m image_interpreter.interfaces.chainlit_web hash-password < pw")
        return 2
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("no password given on standard input", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
