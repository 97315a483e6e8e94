"""The MCP server: the editor's tools over the Model Context Protocol, for other agents.

    mcp = EditorMCP(Conversations(settings))
    anyio.run(mcp.run_stdio)                                  # image-interpreter mcp
    HTTPServer(mcp, "127.0.0.1", 8766).run()               # image-interpreter mcp --http

What a client sees:

- **The same tools** the agent uses (`image_interpreter.tools.make_tools`), each under its own
  name, description and argument schema, with one argument added: `session_id`. One loop
  converts them (`tool_spec`); nothing here knows a tool by name, so a tool added there appears
  here too.
- **Session tools**: `start_session`, `add_photo` (the photo's bytes as base64, decoded safely
  by the session), `say` (one chat message through the agent: the interpreter's fast path or
  the LLM), `show_priors`, `show_image`, and `list_sessions` (on stdio; over HTTP only when
  asked for, since a session id is the only key to a session).
- **Results**: the tool's text, then the pictures the call made (a generation's candidates best
  first, an upscale, a new photo's priors) as `ImageContent`. A problem the caller can fix (an
  unknown handle or session, arguments that do not validate, an edit that cannot apply) comes
  back as an error result (`isError`) whose text says what to do; the session is unchanged.

Handles only: images are named by their session handles ('img1'), versions by number,
candidates by generation id and index; no tool takes a path or URL, and photos arrive inline.
Calls on one session run one at a time (in worker threads, so many sessions run at once and
their model work meets in the shared GPU queue); a client that sends a progress token gets
progress notifications while a long call runs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import itertools
import logging
import os
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import mcp.types as types
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from pydantic import BaseModel, Field, ValidationError

from image_interpreter.agent.llm.text import content_text
from image_interpreter.errors import ImageInterpreterError, SessionError
from image_interpreter.images.thumbnails import png_thumbnail
from image_interpreter.session import Session
from image_interpreter.tools import Toolbox, make_tools
from image_interpreter.tools.base import Args
from image_interpreter.tools.base import validation_text as _validation_text
from image_interpreter.tools.handles import (
    CandidateIndex,
    GenerationId,
    ImageHandle,
    candidate,
    session_image,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from image_interpreter.interfaces.conversation import Conversations, Reply

log = logging.getLogger(__name__)

SERVER_NAME = "image-interpreter"
MCP_PATH = "/mcp"
MAX_PICTURES = 16  # pictures in one result; show_image fetches any other
LOOPBACK = ("127.0.0.1", "localhost", "::1")

INSTRUCTIONS = """\
A conversational image editor. Start a session (start_session), add a photo to it (add_photo,
the image's bytes as base64): the photo's priors (pose, depth, caption, edges) are extracted.
Then either talk to the editor (say: "raise the left arm", "drop the depth map", "generate 2
candidates") or call its tools directly (describe_priors, apply_edits, set_prior, generate,
choose_candidate, upscale, undo, ...), passing the session's id as session_id every time.
Images, versions and candidates are referred to by handles (image 'img2', version 3,
generation 1 candidate 1), never by paths or URLs. Pictures come back as images."""

SessionId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The session's id, as start_session returned it.",
    ),
]
SESSION_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": r"^[A-Za-z0-9_-]+$",
    "description": "The session's id, as start_session returned it.",
}


# --- one LangChain tool -> one MCP tool ------------------------------------------------------


def tool_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON Schema of the arguments a model gives `tool` (pydantic model or dict)."""
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        found = dict(schema)
    elif isinstance(schema, type) and issubclass(schema, BaseModel):
        found = schema.model_json_schema()
    else:  # pydantic v1 models and the like
        found = dict(tool.get_input_jsonschema())
    found.pop("title", None)
    found.pop("description", None)  # the tool's description says it, once
    return found


def tool_spec(tool: BaseTool) -> types.Tool:
    """`tool` as an MCP tool: its name and description, its argument schema plus `session_id`."""
    schema = tool_schema(tool)
    properties = dict(schema.get("properties") or {})
    if "session_id" in properties:
        raise ValueError(f"Tool {tool.name} has its own 'session_id' argument; rename it.")
    required = [name for name in schema.get("required") or [] if name != "session_id"]
    schema.update(
        type="object",
        properties={"session_id": SESSION_ID_SCHEMA, **properties},
        required=["session_id", *required],
    )
    return types.Tool(name=tool.name, description=tool.description, inputSchema=schema)


# --- the session tools -----------------------------------------------------------------------


class StartArgs(Args):
    title: str | None = Field(None, max_length=200, description="A title to find it by.")


class ListArgs(Args):
    pass


class PhotoArgs(Args):
    session_id: SessionId
    data: str = Field(
        min_length=4,
        description="The photo's bytes (JPEG, PNG, WebP, ...) as base64; a data: URI works too.",
    )
    name: str | None = Field(
        None, max_length=200, description="The photo's file name, shown in replies only."
    )


class SayArgs(Args):
    session_id: SessionId
    text: str = Field(
        min_length=1,
        max_length=4000,
        description="One chat message, as a user would type it: 'raise the left arm',"
        " 'make him smile', 'turn off the depth map', 'generate 2 candidates', 'undo'.",
    )


class ShowPriorsArgs(Args):
    session_id: SessionId


class ShowImageArgs(Args):
    session_id: SessionId
    image: ImageHandle | None = Field(None, description="An image handle, e.g. 'img2'.")
    generation: GenerationId | None = Field(None, description="Or a candidate: its generation.")
    candidate: CandidateIndex | None = Field(None, description="And its number, from 1.")
    max_side: int = Field(1024, ge=64, le=4096, description="Longest side of the picture sent.")


@dataclass(frozen=True)
class _Own:
    """A session tool: its arguments, its description and what it does."""

    args: type[Args]
    description: str
    run: Callable[..., types.CallToolResult]

    def spec(self, name: str) -> types.Tool:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)
        schema.setdefault("properties", {})
        return types.Tool(name=name, description=self.description, inputSchema=schema)


# --- the bridge ------------------------------------------------------------------------------


class _Unbound:
    """Stands in for a session in the catalogue toolbox: the tools are only read there (names,
    descriptions, schemas), never called."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("catalogue tools are not bound to a session")


@dataclass
class _Bound:
    """One session's tools, in a toolbox of the shared services, and its lock."""

    session: Session
    box: Toolbox
    tools: dict[str, BaseTool]
    lock: threading.RLock  # the session's lock in the conversation core, shared with `say`


@dataclass(frozen=True)
class _Seen:
    """What pictures a session had before a call: new ones are what the call made."""

    generations: frozenset[int]
    images: frozenset[str]

    @classmethod
    def of(cls, session: Session) -> _Seen:
        return cls(
            frozenset(g.id for g in session.generations()),
            frozenset(i.handle for i in session.images()),
        )


Notify = Callable[[str, float | None], None]


class EditorMCP:
    """The editor as an MCP server over `conversations` (see the module docstring).

    `list_sessions`: whether a client may list every session of the store (True on stdio, where
    the client is the user; over HTTP a session id is the key to a session). `max_open`: how many
    sessions keep their toolbox in memory."""

    def __init__(
        self,
        conversations: Conversations,
        *,
        list_sessions: bool = True,
        max_open: int = 256,
        name: str = SERVER_NAME,
    ):
        self.conversations = conversations
        self.max_open = max_open
        catalogue = Toolbox(
            session=_Unbound(),  # type: ignore[arg-type]
            store=conversations.store,
            services=conversations.services,
        )
        self.catalogue = {tool.name: tool for tool in make_tools(catalogue)}
        self._specs = [tool_spec(tool) for tool in self.catalogue.values()]
        own: dict[str, _Own] = {
            "start_session": _Own(
                StartArgs,
                "Start a new editing session and return its id (session_id), which every other"
                " tool takes. Add a photo to it next with add_photo.",
                self._start_session,
            ),
            "add_photo": _Own(
                PhotoArgs,
                "Add a photo to a session, as base64 bytes (never a path or URL). It becomes"
                " the current version's picture and its priors are extracted (pose, depth,"
                " caption, edges by default); returns its image handle, the priors in words"
                " and pictures of them.",
                self._add_photo,
            ),
            "say": _Own(
                SayArgs,
                "Send one chat message to the editor's agent, as a user would: it reads"
                " commands itself ('raise the left arm', 'set the depth weight to 0.5', 'undo',"
                " 'generate 2 candidates') or hands them to its language model with the same"
                " tools. Returns the reply and pictures of what changed.",
                self._say,
            ),
            "show_priors": _Own(
                ShowPriorsArgs,
                "The current version's priors in words, with a picture of each (the skeleton"
                " over the photo, depth, edges, ...).",
                self._show_priors,
            ),
            "show_image": _Own(
                ShowImageArgs,
                "One picture of the session as an image: an image handle ('img2'), or a"
                " candidate (generation and candidate index).",
                self._show_image,
            ),
        }
        if list_sessions:
            own["list_sessions"] = _Own(
                ListArgs,
                "Every session in the store, most recently changed first: id, title and how"
                " many images, versions and generations it has.",
                self._list_sessions,
            )
        clash = set(own) & set(self.catalogue)
        if clash:
            raise ValueError(f"Session tools clash with the editor's tools: {sorted(clash)}.")
        self._own = own
        self._open: OrderedDict[str, _Bound] = OrderedDict()
        self._lock = threading.Lock()
        self._calls = itertools.count(1)
        self.server: Server[Any, Any] = Server(name, instructions=INSTRUCTIONS)
        self._register()

    # --- the protocol ----------------------------------------------------------------------

    def tools(self) -> list[types.Tool]:
        """The editor's tools (in the tools package's order), then the session tools."""
        return [*self._specs, *(own.spec(name) for name, own in self._own.items())]

    def _register(self) -> None:
        @self.server.list_tools()
        async def list_tools() -> list[types.Tool]:
            return self.tools()

        # arguments are validated by the tools' own pydantic models, whose messages the
        # agent's LLM reads too, so the SDK's JSON Schema check is skipped
        @self.server.call_tool(validate_input=False)
        async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
            return await self.call(name, arguments, self._notifier())

    async def call(
        self, name: str, arguments: dict[str, Any] | None, notify: Notify | None = None
    ) -> types.CallToolResult:
        """Run tool `name` in a worker thread; any failure becomes an error result."""
        arguments = dict(arguments or {})
        if name in self._own:
            work = lambda: self._own_call(name, arguments, notify)  # noqa: E731
        elif name in self.catalogue:
            work = lambda: self._tool_call(name, arguments, notify)  # noqa: E731
        else:
            known = ", ".join([*self.catalogue, *self._own])
            return _error(f"There is no tool '{name}'. The tools are: {known}.")
        try:
            return await anyio.to_thread.run_sync(work)
        except ImageInterpreterError as error:
            return _error(str(error))
        except Exception as error:  # a bug must not end the client's connection
            log.exception("MCP tool %s failed", name)
            return _error(f"{name} failed ({type(error).__name__}: {error}).")

    def _notifier(self) -> Notify | None:
        """Progress notifications for this request, when the client sent a progress token.
        The tools report from worker threads; each report is sent without waiting for it."""
        try:
            context = self.server.request_context
        except LookupError:
            return None
        token = context.meta.progressToken if context.meta is not None else None
        if token is None:
            return None
        loop = asyncio.get_running_loop()
        session, request_id = context.session, context.request_id
        count = itertools.count(1)
        last = [0.0]

        def notify(what: str, done: float | None) -> None:
            now = time.monotonic()
            if now - last[0] < 0.25 and done not in (None, 1.0):
                return
            last[0] = now
            message = f"{what} {done:.0%}" if done is not None else what
            send = session.send_progress_notification(
                token, float(next(count)), message=message, related_request_id=request_id
            )
            asyncio.run_coroutine_threadsafe(send, loop)

        return notify

    # --- the editor's tools ----------------------------------------------------------------

    def _tool_call(
        self, name: str, arguments: dict[str, Any], notify: Notify | None
    ) -> types.CallToolResult:
        bound = self._bound(arguments.pop("session_id", None))
        call = {"name": name, "args": arguments, "id": f"mcp_{next(self._calls)}"}
        with bound.lock:
            before = _Seen.of(bound.session)
            bound.box.progress = notify
            try:
                output = bound.tools[name].invoke({**call, "type": "tool_call"})
            finally:
                bound.box.progress = None
            if isinstance(output, ToolMessage):
                text, failed = content_text(output.content), output.status == "error"
            else:
                text, failed = content_text(output), False
            content: list[types.ContentBlock] = [_text(text)]
            if not failed:
                content += self._new_pictures(bound.session, before)
        return types.CallToolResult(content=content, isError=failed)

    def _bound(self, session_id: Any) -> _Bound:
        """The session's tools (SessionError, as an error result, for an unknown id)."""
        if not isinstance(session_id, str) or not session_id:
            raise SessionError("Give the session's id as session_id (start_session makes one).")
        with self._lock:
            found = self._open.get(session_id)
            if found is not None:
                self._open.move_to_end(session_id)
                return found
        try:
            session = self.conversations.open(session_id)
        except SessionError:
            shown = session_id if len(session_id) <= 64 else session_id[:61] + "..."
            raise SessionError(
                f"There is no session '{shown}'. start_session makes one"
                + (
                    ", list_sessions shows those there are."
                    if "list_sessions" in self._own
                    else "."
                )
            ) from None
        c = self.conversations
        box = Toolbox(
            session=session,
            store=c.store,
            services=c.services,
            max_candidates=c.config.max_candidates,
            queue=c.queue,
        )
        made = _Bound(
            session,
            box,
            {tool.name: tool for tool in make_tools(box)},
            c.session_lock(session.id),
        )
        with self._lock:
            bound = self._open.setdefault(session_id, made)
            self._open.move_to_end(session_id)
            while len(self._open) > self.max_open:
                oldest, dropped = next(iter(self._open.items()))
                if not dropped.lock.acquire(blocking=False):  # in use: keep it, stop trimming
                    break
                try:
                    del self._open[oldest]
                finally:
                    dropped.lock.release()
            return bound

    def _new_pictures(self, session: Session, before: _Seen) -> list[types.ContentBlock]:
        """The candidates of generations made since `before` (best first), then new images that
        are not candidates (an upscale), as labelled ImageContent."""
        records = session.generations()
        pictures: list[tuple[str, bytes]] = []
        for record in records:
            if record.id not in before.generations:
                views = self.conversations.candidates(session, record.id)
                pictures += [(view.label, view.png) for view in views]
        drawn = {c.sha256 for record in records for c in record.candidates}
        size = self.conversations.config.picture_size
        for image in session.images():
            if image.handle in before.images or image.ref.sha256 in drawn:
                continue
            label = f"{image.handle}: {image.ref.name or 'image'}"
            label += f" ({image.ref.width}×{image.ref.height})"
            pictures.append((label, png_thumbnail(session.read_artifact(image.ref.sha256), size)))
        return _pictures(pictures)

    # --- the session tools -----------------------------------------------------------------

    def _own_call(
        self, name: str, arguments: dict[str, Any], notify: Notify | None
    ) -> types.CallToolResult:
        own = self._own[name]
        try:
            args = own.args.model_validate(arguments)
        except ValidationError as error:
            return _error(_validation_text(error))
        session_id = getattr(args, "session_id", None)
        if session_id is None:
            return own.run(args, notify)
        bound = self._bound(session_id)
        with bound.lock:
            return own.run(args, notify, bound)

    def _start_session(self, args: StartArgs, notify: Notify | None) -> types.CallToolResult:
        session = self.conversations.start(args.title)
        text = (
            f"Started session {session.id}. Pass session_id='{session.id}' to every tool; add"
            " a photo next (add_photo)."
        )
        return types.CallToolResult(
            content=[_text(text)], structuredContent={"session_id": session.id}
        )

    def _list_sessions(self, args: ListArgs, notify: Notify | None) -> types.CallToolResult:
        found = self.conversations.store.list()
        if not found:
            return types.CallToolResult(content=[_text("There are no sessions yet.")])
        lines = [
            f"{s.id}: {s.title or '(untitled)'}; {s.images} images, {s.versions} versions,"
            f" {s.generations} generations; current version {s.current};"
            f" changed {s.updated_at:%Y-%m-%d %H:%M}"
            for s in found
        ]
        rows = [s.model_dump(mode="json") for s in found]
        return types.CallToolResult(
            content=[_text("\n".join(lines))], structuredContent={"sessions": rows}
        )

    def _add_photo(
        self, args: PhotoArgs, notify: Notify | None, bound: _Bound
    ) -> types.CallToolResult:
        data = _decode(args.data, self.conversations.store.limits.max_bytes)
        reply = self.conversations.add_photo(bound.session, data, args.name, _progress(notify))
        return _reply(reply)

    def _say(self, args: SayArgs, notify: Notify | None, bound: _Bound) -> types.CallToolResult:
        reply = self.conversations.say(bound.session, args.text, _progress(notify))
        return _reply(reply)

    def _show_priors(
        self, args: ShowPriorsArgs, notify: Notify | None, bound: _Bound
    ) -> types.CallToolResult:
        return _reply(self.conversations.overview(bound.session))

    def _show_image(
        self, args: ShowImageArgs, notify: Notify | None, bound: _Bound
    ) -> types.CallToolResult:
        if (args.generation is None) != (args.candidate is None):
            return _error("Give generation and candidate together.")
        if args.image is not None and args.generation is not None:
            return _error("Give an image handle or a candidate, not both.")
        if args.generation is not None and args.candidate is not None:
            record, index = candidate(bound.box, args.generation, args.candidate)
            sha = record.candidates[index].sha256
            label = f"candidate {index + 1} of generation {record.id}"
        else:
            image = session_image(bound.box, args.image)
            sha = image.ref.sha256
            label = f"{image.handle}: {image.ref.name or 'image'}"
        data = png_thumbnail(bound.session.read_artifact(sha), args.max_side)
        return types.CallToolResult(content=_pictures([(label, data)]))

    # --- transports ------------------------------------------------------------------------

    async def run_stdio(self) -> None:
        """Serve one client on stdin/stdout until it closes them. Anything else that writes to
        stdout (a library's print, a progress bar) is sent to stderr instead, where it cannot
        corrupt the protocol."""
        protocol = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
        out = anyio.wrap_file(io.TextIOWrapper(protocol, encoding="utf-8", newline="\n"))
        async with stdio_server(stdout=out) as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    def http_app(
        self, host: str = "127.0.0.1", *, json_response: bool = False, stateless: bool = False
    ) -> Starlette:
        """A Starlette app serving streamable HTTP at /mcp. Bound to a loopback address, it
        refuses requests whose Host or Origin is not local (DNS rebinding)."""
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings
        from starlette.applications import Starlette
        from starlette.routing import Route

        if host in LOOPBACK:
            names = ["127.0.0.1", "localhost", "[::1]"]
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=[*names, *(f"{n}:*" for n in names)],
                allowed_origins=[
                    f"{scheme}://{n}:*" for scheme in ("http", "https") for n in names
                ],
            )
        else:
            security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        _quiet_closed_streams()
        max_bytes = self.conversations.store.limits.max_bytes
        manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=json_response,
            stateless=stateless,
            security_settings=security,
            max_request_body_size=max_bytes * 4 // 3 + 64 * 1024,  # a photo as base64
        )

        class Endpoint:
            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                await manager.handle_request(scope, receive, send)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with manager.run():
                yield

        return Starlette(
            routes=[Route(MCP_PATH, endpoint=Endpoint(), methods=["GET", "POST", "DELETE"])],
            lifespan=lifespan,
        )


# --- HTTP -------------------------------------------------------------------------------------


class HTTPServer:
    """uvicorn serving `EditorMCP.http_app` on a socket bound before it starts (so port 0 gets
    a free port, known at once as `url`). `run()` blocks; `start()` runs it in a thread and
    `stop()` ends it (tests, benches)."""

    def __init__(self, mcp: EditorMCP, host: str = "127.0.0.1", port: int = 8766, **app: Any):
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = host, self.socket.getsockname()[1]
        config = uvicorn.Config(
            mcp.http_app(host, **app), log_level="warning", lifespan="on", access_log=False
        )
        self.uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{MCP_PATH}"

    def run(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def start(self, timeout: float = 30.0) -> HTTPServer:
        self._thread = threading.Thread(target=self.run, name="mcp-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The MCP HTTP server did not start on {self.url}.")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()


class _ClosedStreamFilter(logging.Filter):
    """Drops the SDK's traceback for a client's GET stream closed as its session ends (logged
    at ERROR once per disconnecting client, though nothing went wrong)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        closed = isinstance(error, anyio.ClosedResourceError)
        return not (closed and "standalone SSE writer" in record.getMessage())


def _quiet_closed_streams() -> None:
    logger = logging.getLogger("mcp.server.streamable_http")
    if not any(isinstance(f, _ClosedStreamFilter) for f in logger.filters):
        logger.addFilter(_ClosedStreamFilter())


# --- content ----------------------------------------------------------------------------------


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _error(text: str) -> types.CallToolResult:
    text = text if text.startswith("Error") else f"Error: {text}"
    return types.CallToolResult(content=[_text(text)], isError=True)


def _image(png: bytes) -> types.ImageContent:
    return types.ImageContent(
        type="image", data=base64.b64encode(png).decode("ascii"), mimeType="image/png"
    )


def _pictures(pictures: Sequence[tuple[str, bytes]]) -> list[types.ContentBlock]:
    """Each picture as its label (text) then the image; at most MAX_PICTURES of them."""
    blocks: list[types.ContentBlock] = []
    for label, png in pictures[:MAX_PICTURES]:
        blocks += [_text(label), _image(png)]
    more = len(pictures) - MAX_PICTURES
    if more > 0:
        blocks.append(_text(f"(and {more} more pictures: show_image fetches any of them)"))
    return blocks


def _reply(reply: Reply) -> types.CallToolResult:
    """A conversation's reply: its text, then its pictures; an error result when nothing was
    done because of the request (a refused photo, ...)."""
    if reply.error is not None:
        return _error(reply.text or reply.error)
    text = reply.text or "(Nothing to say.)"
    return types.CallToolResult(content=[_text(text), *_pictures(reply.pictures)])


def _progress(notify: Notify | None) -> Any:
    """A conversation's progress(what, done, event) callback over `notify`."""
    if notify is None:
        return None
    return lambda what, done, event: notify(what, done)


def _decode(data: str, max_bytes: int) -> bytes:
    """Base64 (or a base64 data: URI) to bytes, refusing what is too big before decoding it."""
    text = data.strip()
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if ";base64" not in head:
            raise SessionError(
                "A data: URI for a photo must be base64 (data:image/png;base64,...)."
            )
    text = "".join(text.split())
    if len(text) * 3 // 4 > max_bytes:
        raise SessionError(
            f"The photo is larger than {max_bytes // (1024 * 1024)} MB, the most accepted."
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SessionError(f"The photo's data is not valid base64 ({error}).") from error


__all__ = [
    "INSTRUCTIONS",
    "MCP_PATH",
    "EditorMCP",
    "HTTPServer",
    "tool_schema",
    "tool_spec",
]
