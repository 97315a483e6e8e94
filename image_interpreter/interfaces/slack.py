"""The Slack bot: a thin adapter from Slack threads to conversations (`interfaces.conversation`).

    bot = SlackBot(Conversations(settings), SlackConfig.from_env("socket"))
    socket_handler(bot).start()                       # Socket Mode: no public URL needed
    serve_http(bot, "127.0.0.1", 3000).serve_forever()  # HTTP mode: POST /slack/events

- **Each thread is a session.** A thread starts with the slash command (`/imagine [what to do]`),
  by mentioning the bot (in a channel, top level or in a thread), or with any message to the bot
  in a direct message. The thread's (team, channel, ts) maps to a session id in the session
  database (`slack_threads.ThreadMap`), so the thread goes on after a restart. Once a thread is
  a session, every message in it is for the bot (no mention needed).
- **Photos** posted in the thread are fetched with the bot token from Slack's file host only
  (`slack_files`), within the image size limits, and become the session's image (`add_photo`);
  an OpenPose `.json` file becomes the people of the current version (`import_pose`).
- **Text** goes to the conversation (`say`); the reply is posted in the thread and its pictures
  (skeletons, depth, candidates) are uploaded into the thread with `files_upload_v2`. An LLM's
  answer appears as it is generated: one message, edited as it grows (`slack_stream`).
- **HTTP mode** verifies every request's signature with the signing secret and refuses stale
  (more than 5 minutes) or forged requests with 401 (slack-bolt's request verification);
  request bodies above 1 MiB are refused before they are read.

No agent or tool logic lives here: messages in, replies out.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from image_interpreter.errors import ImageInterpreterError, SessionError, SettingsError
from image_interpreter.interfaces.conversation import Conversations, Reply
from image_interpreter.interfaces.slack_files import (
    SLACK_FILES_URL,
    SlackFile,
    fetch_file,
)
from image_interpreter.interfaces.slack_stream import GrowingMessage
from image_interpreter.interfaces.slack_threads import ThreadKey, ThreadMap
from image_interpreter.session import Session
from image_interpreter.settings import Limits

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

Mode = Literal["socket", "http"]
EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 4000  # what one message may ask; longer text is cut
_CHUNK_CHARS = 3500  # one Slack message of a reply (Slack cuts at 40k; long ones read badly)
MAX_MESSAGES_PER_REPLY = 4  # a longer reply is cut, and its last message says so
_UPLOAD_BATCH = 10  # files per files_upload_v2 call
_PROGRESS_EVERY_S = 3.0
_ACCEPTED_SUBTYPES = {None, "file_share", "thread_broadcast"}
_OWNERS = ("team_id", "enterprise_id")  # whose files the bot fetches: its own workspace's


class SlackConfigError(SettingsError):
    """The Slack tokens are missing or malformed."""


@dataclass(frozen=True)
class SlackConfig:
    """How the bot talks to Slack. `api_url` and `files_url` point elsewhere only in tests (a
    local mock of Slack); `command` is the slash command that starts a session."""

    bot_token: str = field(repr=False)  # secrets stay out of logs and tracebacks
    signing_secret: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    command: str = "/imagine"
    api_url: str | None = None
    files_url: str = SLACK_FILES_URL
    workers: int = 4

    @classmethod
    def from_env(cls, mode: Mode, environ: Mapping[str, str] | None = None) -> SlackConfig:
        """Tokens from SLACK_BOT_TOKEN, SLACK_APP_TOKEN (Socket Mode) and SLACK_SIGNING_SECRET
        (HTTP mode); SLACK_COMMAND overrides the slash command. A missing or malformed one is a
        SlackConfigError that says where to find it."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        bot = env.get("SLACK_BOT_TOKEN", "").strip()
        if not bot:
            problems.append(
                "SLACK_BOT_TOKEN is not set: the Bot User OAuth Token (xoxb-...) from your"
                " Slack app's 'OAuth & Permissions' page"
            )
        elif not bot.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with 'xoxb-'")
        app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
        secret = env.get("SLACK_SIGNING_SECRET", "").strip() or None
        if mode == "socket":
            if app_token is None:
                problems.append(
                    "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...)"
                    " with the connections:write scope ('Basic Information' > 'App-Level"
                    " Tokens'); or run with --http"
                )
            elif not app_token.startswith("xapp-"):
                problems.append("SLACK_APP_TOKEN must be an app-level token starting with 'xapp-'")
        elif secret is None:
            problems.append(
                "SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request with the"
                " Signing Secret ('Basic Information' > 'App Credentials'); or run with --socket"
            )
        command = env.get("SLACK_COMMAND", "").strip() or "/imagine"
        if not re.fullmatch(r"/[a-z0-9_\-]{1,31}", command):
            problems.append(f"SLACK_COMMAND must look like '/imagine', not {command!r}")
        if problems:
            raise SlackConfigError("Slack is not configured: " + "; ".join(problems) + ".")
        return cls(bot_token=bot, signing_secret=secret, app_token=app_token, command=command)


@dataclass
class _Seen:
    """Event ids already handled: Slack redelivers an event it thinks went unanswered."""

    size: int = 2000
    ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_time(self, event_id: str | None) -> bool:
        if not event_id:
            return True
        with self.lock:
            if event_id in self.ids:
                return False
            self.ids[event_id] = None
            while len(self.ids) > self.size:
                self.ids.popitem(last=False)
            return True


class SlackBot:
    """The bolt App and its listeners over `conversations`.

    `threads` maps threads to sessions (default: a ThreadMap in the conversations' session
    database); `mode` picks request verification: "http" verifies signatures, "socket" needs
    none (the socket is authenticated by the app token); `limits` bound the files fetched
    (default: the settings'); `client` replaces the WebClient. Slack is called once here
    (auth.test): a token Slack refuses is a SlackConfigError now, not at the first message."""

    def __init__(
        self,
        conversations: Conversations,
        config: SlackConfig,
        threads: ThreadMap | None = None,
        *,
        mode: Mode = "http",
        limits: Limits | None = None,
        client: WebClient | None = None,
    ):
        if mode == "http" and not config.signing_secret:
            raise SlackConfigError(
                "HTTP mode needs SLACK_SIGNING_SECRET to verify requests from Slack."
            )
        self.conversations = conversations
        self.config = config
        self.threads = threads or ThreadMap(conversations.store.engine)
        self.mode = mode
        self.limits = limits or conversations.settings.limits
        if client is None:
            extra = {"base_url": config.api_url} if config.api_url else {}
            client = WebClient(token=config.bot_token, **extra)
        self.client = client
        self._seen = _Seen()
        self._locks: dict[ThreadKey, list[Any]] = {}  # key -> [lock, holders and waiters]
        self._locks_guard = threading.Lock()
        try:
            self.app = self._app(client)
        except BoltError as exc:  # auth.test refused the token, or Slack was unreachable
            raise SlackConfigError(
                f"Slack did not accept SLACK_BOT_TOKEN ({exc}). Check the token (xoxb-...) and"
                " that the app is installed in the workspace."
            ) from None

    def _app(self, client: WebClient) -> App:
        app = App(
            name="image-interpreter",
            client=client,
            signing_secret=self.config.signing_secret or "",
            request_verification_enabled=self.mode == "http",
            token_verification_enabled=True,  # auth.test now: a bad token fails at start
            listener_executor=ThreadPoolExecutor(
                max_workers=self.config.workers, thread_name_prefix="slack"
            ),
            raise_error_for_unhandled_request=False,
        )
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("file_shared")(self._on_file_shared)
        app.command(self.config.command)(self._on_command)
        return app

    # --- listeners ------------------------------------------------------------------------------

    def _on_mention(
        self, body: dict[str, Any], event: dict[str, Any], context: BoltContext
    ) -> None:
        if not self._seen.first_time(body.get("event_id")):
            return
        if event.get("bot_id"):
            return
        key = self._key(body, context, event["channel"], event.get("thread_ts") or event["ts"])
        self._handle(key, event, context, start=True)

    def _on_message(
        self, body: dict[str, Any], event: dict[str, Any], context: BoltContext
    ) -> None:
        if event.get("subtype") not in _ACCEPTED_SUBTYPES or event.get("bot_id"):
            return  # edits, deletions, joins, other bots (our own are dropped by bolt)
        if not event.get("user") or not self._seen.first_time(body.get("event_id")):
            return
        direct = event.get("channel_type") == "im"
        bot_user = _bot_user(context)
        if not direct and bot_user and f"<@{bot_user}" in (event.get("text") or ""):
            return  # app_mention handles it
        thread_ts = event.get("thread_ts")
        key = self._key(body, context, event["channel"], thread_ts or event["ts"])
        if direct:
            self._handle(key, event, context, start=True)
        elif thread_ts and self.threads.get(key) is not None:
            self._handle(key, event, context, start=False)

    def _on_file_shared(self) -> None:
        """Photos arrive with their message (subtype file_share), which says the thread."""

    def _on_command(
        self,
        ack: Callable[..., Any],
        body: dict[str, Any],
        command: dict[str, Any],
        context: BoltContext,
        respond: Callable[..., Any],
    ) -> None:
        ack()
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        bot_user = _bot_user(context)
        text = _clean_text(command.get("text") or "", bot_user)
        intro = (
            f"<@{user}> started an image session. Post a photo in this thread, then tell me what"
            ' to change ("raise the left arm", "drop the depth map", "make 4 candidates").'
        )
        try:
            posted = self.client.chat_postMessage(channel=channel, text=intro)
        except SlackApiError as exc:
            error = exc.response.get("error", "error") if exc.response is not None else "error"
            invite = f"/invite <@{bot_user}>" if bot_user else "/invite"
            respond(
                text=(
                    f"I could not post in this conversation ({error}). Invite me to the channel"
                    f" first ({invite}), or mention me in a channel I am in."
                ),
                response_type="ephemeral",
            )
            return
        key = self._key(body, context, posted.get("channel") or channel, posted["ts"])
        with self._thread(key):
            session = self._guarded(key, lambda: self._session(key, create=True, title=text))
            if session is not None and text:
                self._guarded(key, lambda: self._say(key, session, text))

    # --- one message in a thread ----------------------------------------------------------------

    def _handle(
        self, key: ThreadKey, event: Mapping[str, Any], context: BoltContext, *, start: bool
    ) -> None:
        text = _clean_text(event.get("text") or "", _bot_user(context))
        files = _files(event)
        teams = [t for t in (_authorized(context, n) for n in _OWNERS) if t]
        with self._thread(key):
            is_new = self.threads.get(key) is None
            session = self._guarded(key, lambda: self._session(key, create=start, title=text))
            if session is None:
                return
            if is_new and not files and key.thread_ts != event.get("ts"):
                # started inside an existing thread: its latest photo is the one meant
                files = self._guarded(key, lambda: self._earlier_photo(key, event)) or []
            for file in files:
                self._guarded(key, lambda file=file: self._file(key, session, file, teams))
            if text:
                self._guarded(key, lambda: self._say(key, session, text))
            elif not files:
                self._tell(key, "Post a photo, or tell me what to change.")

    def _session(self, key: ThreadKey, *, create: bool, title: str | None) -> Session | None:
        """The thread's session; a new one when the thread has none (or its session is gone)."""
        session_id = self.threads.get(key)
        if session_id is not None:
            try:
                return self.conversations.open(session_id)
            except SessionError:
                log.warning("slack thread %s: session %s is gone; starting anew", key, session_id)
        elif not create:
            return None
        session = self.conversations.start(_title(title))
        new_id = session.id
        if session_id is not None:
            self.threads.replace(key, new_id)
            return session
        kept = self.threads.put(key, new_id)
        return session if kept == new_id else self.conversations.open(kept)

    def _earlier_photo(self, key: ThreadKey, event: Mapping[str, Any]) -> list[SlackFile]:
        """The latest photo posted by a person in the thread before `event` (none: [])."""
        found = self.client.conversations_replies(
            channel=key.channel_id, ts=key.thread_ts, latest=event.get("ts"), limit=100
        )
        for message in reversed(found.get("messages") or []):
            if message.get("bot_id") or message.get("ts") == event.get("ts"):
                continue
            photos = [f for f in _files(message) if f.is_image]
            if photos:
                return photos[-1:]
        return []

    def _file(
        self, key: ThreadKey, session: Session, file: SlackFile, teams: Sequence[str]
    ) -> None:
        data = fetch_file(
            file,
            token=self.config.bot_token,
            teams=teams,
            limits=self.limits,
            files_url=self.config.files_url,
        )
        if file.is_image:
            with self._progress(key) as progress:
                reply = self.conversations.add_photo(session, data, file.name, progress)
        else:
            reply = self.conversations.import_pose(session, data, file.name)
        self._deliver(key, reply)

    def _say(self, key: ThreadKey, session: Session, text: str) -> None:
        """The LLM's answer grows in one message as it is generated; that message then becomes
        the reply's first (the rest, if long, and pictures follow)."""
        answer = GrowingMessage(self.client, key, lambda so_far: _escape(so_far)[:_CHUNK_CHARS])
        try:
            with self._progress(key) as progress:
                reply = self.conversations.say(session, text, progress, on_token=answer.token)
        except BaseException:
            answer.finish(None)
            raise
        chunks = _bounded_chunks(_escape(reply.text), _CHUNK_CHARS, MAX_MESSAGES_PER_REPLY)
        if answer.finish(chunks[0] if chunks else None) is None:
            self._deliver(key, reply)
            return
        self._post_chunks(key, chunks[1:])
        if reply.pictures:
            self.upload(key, reply.pictures)

    # --- back into the thread -------------------------------------------------------------------

    def _deliver(self, key: ThreadKey, reply: Reply) -> None:
        if reply.text.strip():
            self.post(key, reply.text)
        if reply.pictures:
            self.upload(key, reply.pictures)

    def post(self, key: ThreadKey, text: str) -> None:
        """Post `text` in the thread, as plain text (no pings, no links made from '<...>'), in
        at most MAX_MESSAGES_PER_REPLY messages."""
        self._post_chunks(key, _bounded_chunks(_escape(text), _CHUNK_CHARS, MAX_MESSAGES_PER_REPLY))

    def _post_chunks(self, key: ThreadKey, chunks: Iterable[str]) -> None:
        for chunk in chunks:
            self.client.chat_postMessage(
                channel=key.channel_id, thread_ts=key.thread_ts, text=chunk, unfurl_links=False
            )

    def upload(self, key: ThreadKey, pictures: Iterable[tuple[str, bytes]]) -> None:
        """Upload (label, PNG bytes) pictures into the thread."""
        items = [
            {"file": data, "filename": _png_name(label, n), "title": label or f"picture {n}"}
            for n, (label, data) in enumerate(pictures, start=1)
        ]
        for start in range(0, len(items), _UPLOAD_BATCH):
            self.client.files_upload_v2(
                file_uploads=items[start : start + _UPLOAD_BATCH],
                channel=key.channel_id,
                thread_ts=key.thread_ts,
            )

    @contextmanager
    def _progress(self, key: ThreadKey) -> Iterator[Callable[..., None]]:
        """A progress callback for a long turn: one status message in the thread, updated at
        most every few seconds, removed when the turn ends. Nothing is posted for quick turns."""
        state: dict[str, Any] = {"ts": None, "last": time.monotonic()}
        # Progress arrives on the GPU queue's worker thread: posting to Slack there would stall
        # every session's model work, so one thread of our own posts in order.
        poster = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-progress")

        def show(line: str) -> None:
            try:
                if state["ts"] is None:
                    posted = self.client.chat_postMessage(
                        channel=key.channel_id, thread_ts=key.thread_ts, text=line
                    )
                    state["ts"] = posted["ts"]
                else:
                    self.client.chat_update(channel=key.channel_id, ts=state["ts"], text=line)
            except SlackApiError as exc:  # progress is a courtesy: never fail the turn for it
                log.info("slack progress not shown: %s", exc)

        def progress(what: str, done: float | None = None, event: Any = None) -> None:
            now = time.monotonic()
            if now - state["last"] < _PROGRESS_EVERY_S:
                return
            state["last"] = now
            poster.submit(show, _progress_line(what, done))

        try:
            yield progress
        finally:
            poster.shutdown(wait=True)
            if state["ts"] is not None:
                try:
                    self.client.chat_delete(channel=key.channel_id, ts=state["ts"])
                except SlackApiError as exc:
                    log.info("slack progress message not removed: %s", exc)

    # --- plumbing -------------------------------------------------------------------------------

    def _guarded(self, key: ThreadKey, work: Callable[[], Any]) -> Any:
        """Run `work`; a user-facing error goes into the thread as is, anything else is logged
        and the thread told briefly."""
        try:
            return work()
        except ImageInterpreterError as exc:
            self._tell(key, str(exc))
        except SlackApiError as exc:
            log.warning("slack API error in thread %s: %s", key, exc)
        except Exception:
            log.exception("slack thread %s: unexpected error", key)
            self._tell(key, "Something went wrong on my side; the details are in the bot's log.")
        return None

    def _tell(self, key: ThreadKey, text: str) -> None:
        try:
            self.post(key, text)
        except SlackApiError as exc:
            log.warning("slack: could not post to %s: %s", key, exc)

    @contextmanager
    def _thread(self, key: ThreadKey) -> Iterator[None]:
        """One message at a time per thread, in order of arrival (the lock is dropped when no
        one holds or waits for it, so quiet threads cost nothing)."""
        with self._locks_guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._locks_guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]

    @staticmethod
    def _key(
        body: Mapping[str, Any], context: BoltContext, channel: str, thread_ts: str
    ) -> ThreadKey:
        team = body.get("team_id") or context.team_id or _authorized(context, "team_id") or ""
        return ThreadKey(str(team), str(channel), str(thread_ts))


# --- serving -------------------------------------------------------------------------------------


def wsgi_app(bot: SlackBot, path: str = EVENTS_PATH) -> WSGIApplication:
    """The bot as a WSGI application: POST `path` for events, commands and interactivity.
    Bodies larger than 1 MiB are refused (413) before they are read; a timestamp that is not a
    number is refused (401) before the signature is checked."""
    handler = SlackRequestHandler(bot.app, path=path)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"request body too large"]
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        if stamp is not None and not (stamp.isascii() and stamp.isdigit()):
            # slack-bolt would raise on int() and answer 500: a forged request is a 401
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"invalid request timestamp"]
        return handler(environ, start_response)

    return application


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("slack http: " + format, *args)


def serve_http(bot: SlackBot, host: str = "127.0.0.1", port: int = 3000) -> WSGIServer:
    """A threaded HTTP server for the bot (call `serve_forever()`; `shutdown()` stops it).
    Put it behind an HTTPS reverse proxy: Slack only calls https:// URLs."""
    return make_server(
        host, port, wsgi_app(bot), server_class=_ThreadingServer, handler_class=_QuietHandler
    )


def socket_handler(bot: SlackBot) -> SocketModeHandler:
    """A Socket Mode handler for the bot (call `start()` to block, `connect()` not to)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if not bot.config.app_token:
        raise SlackConfigError("Socket Mode needs SLACK_APP_TOKEN (an xapp- app-level token).")
    return SocketModeHandler(bot.app, app_token=bot.config.app_token)


# --- text ----------------------------------------------------------------------------------------


def _files(message: Mapping[str, Any]) -> list[SlackFile]:
    found = message.get("files")
    return [SlackFile.from_event(f) for f in found if isinstance(f, dict)] if found else []


def _bot_user(context: BoltContext) -> str | None:
    return context.bot_user_id or _authorized(context, "bot_user_id")


def _authorized(context: BoltContext, name: str) -> str | None:
    result = context.authorize_result
    return getattr(result, name, None) if result is not None else None


def _clean_text(text: str, bot_user: str | None) -> str:
    """What the user asked, as plain text: mentions of the bot gone, Slack's escapes undone."""
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", " ", text)
    text = html.unescape(text) if "&" in text else text
    return " ".join(text.split())[:MAX_TEXT_CHARS]


def _escape(text: str) -> str:
    """Slack's three control characters escaped: a reply cannot ping (@channel, <@U..>) or make
    links the agent did not mean."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chunks(text: str, size: int) -> list[str]:
    return _bounded_chunks(text, size, len(text) + 1)


def _bounded_chunks(text: str, size: int, most: int) -> list[str]:
    """`text` in pieces of at most `size` characters, cut at a line break where one is near, and
    at most `most` of them: then the last ends by saying how much was left out. Works on
    offsets, so a huge text costs only the pieces kept."""
    parts: list[str] = []
    start, end = 0, len(text)
    while end - start > size and len(parts) < most:
        cut = text.rfind("\n", start, start + size)
        cut = cut if cut > start + size // 2 else start + size
        parts.append(text[start:cut])
        start = cut
        while start < end and text[start] == "\n":
            start += 1
    if len(parts) < most:  # the rest fits in one more
        if text[start:].strip():
            parts.append(text[start:])
        return parts
    if start >= end:
        return parts
    left_out = end - start + len(parts[-1])
    note = f"\n… (the rest of this reply, {left_out:,} characters, is not shown)"
    parts[-1] = parts[-1][: size - len(note)] + note
    return parts


def _title(text: str | None) -> str:
    if not text:
        return "Slack thread"
    return text if len(text) <= 60 else text[:57] + "..."


def _png_name(label: str, n: int) -> str:
    stem = re.sub(r"[^\w\-]+", "-", label or "").strip("-").lower()[:60] or f"picture-{n}"
    return f"{stem}.png"


def _progress_line(what: str, done: float | None) -> str:
    line = " ".join(str(what or "working").split())[:200]
    if done is not None and 0 <= done <= 1:
        line += f" ({int(100 * done)}%)"
    return f"_{_escape(line)}…_"
