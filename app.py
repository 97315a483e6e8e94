"""The Chainlit web app: `uv run chainlit run app.py`.

A thin adapter from a Chainlit chat to the shared conversation core
(`image_interpreter.interfaces.conversation`): uploads become `add_photo` / `import_pose`,
messages become `say`, buttons become `act`, chat settings become `set_generation` /
`set_backend`; replies come back as a message with pictures, a priors table and buttons, and
every tool call as a live step. A Chainlit thread is one of our sessions (`ThreadStore`), so a
conversation is in the thread list and resumes after a restart.

Configuration: `IMAGE_INTERPRETER_*` (models, data folder, limits), `IMAGE_INTERPRETER_CHAT__*`
(what a new photo starts with), `IMAGE_INTERPRETER_WEB__*` (sign-in), `IMAGE_INTERPRETER_LLM__*`
(the language model), `.chainlit/config.toml` (upload types and size). See the README.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.config import config as chainlit_config
from chainlit.input_widget import Select, Slider, Tab, TextInput
from chainlit.server import app as server_app

from image_interpreter.interfaces.chainlit_web import (
    AnswerFeed,
    StepFeed,
    ThreadStore,
    WebConfig,
    check_password,
    ensure_auth_secret,
    web_message,
)
from image_interpreter.interfaces.conversation import (
    BACKENDS,
    Conversations,
    Reply,
)
from image_interpreter.interfaces.web_guidance import (
    guidance_values,
    guidance_widgets,
    guide_changes,
)
from image_interpreter.interfaces.web_uploads import UploadLimit, first_files
from image_interpreter.settings import get_settings

SETTINGS = get_settings()
WEB = WebConfig()
CONVERSATIONS = Conversations(SETTINGS)
THREADS = ThreadStore(CONVERSATIONS, WEB.assistant)

_UPLOADS = chainlit_config.features.spontaneous_file_upload
PHOTO_TYPES = ("image/png", "image/jpeg", "image/webp")
POSE_TYPES = ("application/json",)
MAX_UPLOAD_BYTES = min(
    SETTINGS.limits.max_bytes,
    int((_UPLOADS.max_size_mb if _UPLOADS and _UPLOADS.max_size_mb else 20) * 1024 * 1024),
)
MAX_FILES = _UPLOADS.max_files if _UPLOADS and _UPLOADS.max_files else 4  # per message
# Chainlit checks the size only after buffering the body, and the count only in the browser
server_app.add_middleware(UploadLimit, max_bytes=MAX_UPLOAD_BYTES)
_BACKGROUND: set[asyncio.Task[None]] = set()
MAX_BUTTONS = 8  # candidates with buttons under one message
WELCOME = (
    "Upload or paste a photo (PNG, JPEG or WebP, up to {mb:g} MB) to start. Then say what to"
    " change — “raise the left arm”, “drop the depth map”, “make him smile” — and"
    " “generate 2 candidates” when you are ready. An OpenPose `.json` file poses the people."
    " New here? **Try the demo** (the button below) for a photo with a person ready to pose."
)


@cl.data_layer
def _data_layer() -> ThreadStore:
    return THREADS


# --- sign-in (optional; the thread list needs it) ----------------------------------------------

if WEB.auth != "none":
    ensure_auth_secret(SETTINGS.data_dir)

if WEB.auth == "password":

    @cl.password_auth_callback
    async def _password(username: str, password: str) -> cl.User | None:
        if await asyncio.to_thread(check_password, WEB, username, password):
            return cl.User(identifier=username, metadata={"provider": "password"})
        return None

elif WEB.auth == "header":

    @cl.header_auth_callback
    async def _header(headers: Any) -> cl.User | None:
        name = (headers.get(WEB.user_header) or "").strip()
        return cl.User(identifier=name[:200], metadata={"provider": "header"}) if name else None

elif WEB.auth == "oauth":

    @cl.oauth_callback
    async def _oauth(
        provider_id: str, token: str, raw_user_data: dict, default_user: cl.User
    ) -> cl.User | None:
        return default_user


# --- the chat ----------------------------------------------------------------------------------


@cl.on_chat_start
async def start() -> None:
    cl.user_session.set("session_id", None)
    await _send_settings(None)
    await cl.Message(
        content=WELCOME.format(mb=MAX_UPLOAD_BYTES / 2**20),
        author=WEB.assistant,
        actions=[cl.Action(name="demo", payload={}, label="Try the demo")],
    ).send()


@cl.action_callback("demo")
async def demo(action: cl.Action) -> None:
    """The bundled photo and its person: something to edit within a minute, on any models."""
    session_id = await _session("demo: astronaut")
    feed = StepFeed()
    reply = await cl.make_async(CONVERSATIONS.demo)(session_id, feed.progress)
    await feed.close()
    await _apply_pending(session_id)
    await _show(reply, session_id)
    await _refresh_settings(session_id)


@cl.on_chat_resume
async def resume(thread: dict[str, Any]) -> None:
    session_id = (thread.get("metadata") or {}).get("session_id") or THREADS.session_of(
        thread["id"]
    )
    if not session_id:
        await cl.Message(content="This conversation has no photo yet: upload one.").send()
        return
    session = await cl.make_async(CONVERSATIONS.open)(session_id)
    cl.user_session.set("session_id", session.id)
    await _send_settings(session.id)
    # Chainlit replaces the chat with the stored messages right after this callback returns;
    # the pictures of where the conversation stands come after them.
    task = asyncio.create_task(_overview_after_resume(session.id))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _overview_after_resume(session_id: str, delay_s: float = 0.5) -> None:
    await asyncio.sleep(delay_s)
    reply = await cl.make_async(CONVERSATIONS.overview)(session_id)
    reply.text = f"Resumed. {reply.text}"
    await _show(reply, session_id)


@cl.on_message
async def message(msg: cl.Message) -> None:
    files = list(msg.elements or [])
    text = (msg.content or "").strip()
    title = text[:80] or (files[0].name if files else None)
    session_id = await _session(title)
    files, unused = first_files(files, MAX_FILES)
    if unused:
        await cl.Message(content=unused).send()
    for element in files:
        await _upload(session_id, element)
    if text:
        feed, answer = StepFeed(), AnswerFeed(WEB.assistant)
        reply = await cl.make_async(CONVERSATIONS.say)(
            session_id, text, feed.progress, on_token=answer.token
        )
        await feed.close()
        await answer.close()
        await _replay_interpreter_steps(feed, reply)
        await _show(reply, session_id, into=answer.message)
        await _refresh_settings(session_id)
    elif not files:
        await cl.Message(content="Upload a photo, or say what to change.").send()


async def _session(title: str | None) -> str:
    """This chat's session id, creating the session (and the thread's link) on first use."""
    session_id = cl.user_session.get("session_id")
    if session_id:
        return session_id
    session = await cl.make_async(CONVERSATIONS.start)(title)
    user = cl.user_session.get("user")
    thread_id = cl.context.session.thread_id
    await asyncio.to_thread(THREADS.link, thread_id, session.id, user, title)
    cl.user_session.set("session_id", session.id)
    return session.id


async def _upload(session_id: str, element: Any) -> None:
    """A photo (add_photo) or an OpenPose file (import_pose), checked before it is read."""
    name = os.path.basename(element.name or "upload")[:120]
    mime = (element.mime or "").lower()
    if mime not in PHOTO_TYPES + POSE_TYPES:
        await cl.Message(
            content=f"“{name}” was not used: upload a PNG, JPEG or WebP photo, or an OpenPose"
            f" .json file (this one is {mime or 'of an unknown type'})."
        ).send()
        return
    path = Path(element.path or "")
    size = path.stat().st_size if path.is_file() else None
    if size is None:
        await cl.Message(content=f"“{name}” could not be read; upload it again.").send()
        return
    if size > MAX_UPLOAD_BYTES:
        await cl.Message(
            content=f"“{name}” is too large ({size / 2**20:.1f} MB); the limit is"
            f" {MAX_UPLOAD_BYTES / 2**20:g} MB."
        ).send()
        return
    data = await asyncio.to_thread(path.read_bytes)
    if mime in POSE_TYPES:
        reply = await cl.make_async(CONVERSATIONS.import_pose)(session_id, data, name)
    else:
        feed = StepFeed()
        reply = await cl.make_async(CONVERSATIONS.add_photo)(session_id, data, name, feed.progress)
        await feed.close()
        await _apply_pending(session_id)
    await _show(reply, session_id)


async def _replay_interpreter_steps(feed: StepFeed, reply: Reply) -> None:
    """Edits the built-in interpreter made without a tool call, shown as finished steps."""
    if feed.count or reply.result is None:
        return
    for record in reply.result.tool_calls:
        if record.get("source") != "interpreter":
            continue
        async with cl.Step(name=str(record.get("name")), type="tool") as step:
            step.input = {k: v for k, v in record.get("args", {}).items()}
            step.output = f"done (version {reply.version})"


async def _show(reply: Reply, session_id: str, into: cl.Message | None = None) -> None:
    """The reply: its text, the priors table when they changed, pictures and buttons; `into`:
    the message the answer streamed into, finished with the whole reply."""
    rows = await cl.make_async(CONVERSATIONS.priors_table)(session_id) if reply.changed else []
    shown = web_message(reply, rows, max_buttons=MAX_BUTTONS)
    actions = [
        cl.Action(name=b.name, payload=b.payload, label=b.label, tooltip=b.tooltip)
        for b in shown.buttons
    ]
    candidates = {c.label for c in reply.candidates}
    elements = [
        cl.Image(
            name=label,
            content=png,
            display="inline",
            size="small" if label in candidates else "medium",
        )
        for label, png in reply.pictures
    ]
    message = into or cl.Message(content="", author=WEB.assistant)
    message.content, message.elements, message.actions = shown.text, elements, actions
    await message.send()


# --- buttons -----------------------------------------------------------------------------------


async def _act(action: cl.Action, **args: Any) -> None:
    session_id = cl.user_session.get("session_id")
    if not session_id:
        await cl.Message(content="Upload a photo first.").send()
        return
    feed = StepFeed()
    reply = await cl.make_async(CONVERSATIONS.act)(
        session_id, action.name, progress=feed.progress, **args
    )
    await feed.close()
    await _show(reply, session_id)
    await _refresh_settings(session_id)  # undo/redo change what the panel shows


def _candidate(payload: dict[str, Any]) -> dict[str, int] | None:
    """A button's (client-sent) candidate payload (generation id, candidate number from 1), as
    two small integers, or None."""
    try:
        generation, candidate = int(payload["generation"]), int(payload["candidate"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (1 <= generation < 10**9 and 1 <= candidate <= 64):
        return None
    return {"generation": generation, "candidate": candidate}


@cl.action_callback("toggle")
async def toggle(action: cl.Action) -> None:
    kind = str((action.payload or {}).get("kind", ""))
    if kind not in {"people", "depth", "segmentation", "edges", "objects", "caption", "palette"}:
        return
    await _act(action, kind=kind)


@cl.action_callback("undo")
async def undo(action: cl.Action) -> None:
    await _act(action)


@cl.action_callback("redo")
async def redo(action: cl.Action) -> None:
    await _act(action)


@cl.action_callback("pick")
@cl.action_callback("upscale")
@cl.action_callback("more_like")
async def on_candidate(action: cl.Action) -> None:
    pair = _candidate(action.payload or {})
    if pair is not None:
        await _act(action, **pair)


# --- chat settings -----------------------------------------------------------------------------


def _settings_now(session_id: str | None) -> dict[str, Any]:
    """What the settings panel should show: the session's generation settings, backend and
    the guidance of its current version."""
    gen = CONVERSATIONS.generation_settings(session_id) if session_id else None
    chat = CONVERSATIONS.config
    return {
        "candidates": gen.candidates if gen else chat.candidates or 4,
        "steps": gen.steps if gen else chat.steps or 25,
        "guidance": gen.guidance if gen else chat.guidance or 7.5,
        "seed": "" if gen is None or gen.seed is None else str(gen.seed),
        "backend": CONVERSATIONS.backend(session_id) if session_id else CONVERSATIONS.llm.backend,
        **guidance_values(CONVERSATIONS.guides(session_id) if session_id else {}),
    }


async def _refresh_settings(session_id: str) -> None:
    """Show the panel again when the chat changed what it shows ("seed 42", "30 steps")."""
    if _settings_now(session_id) != cl.user_session.get("shown_settings"):
        await _send_settings(session_id)


async def _send_settings(session_id: str | None) -> None:
    shown = _settings_now(session_id)
    cl.user_session.set("shown_settings", shown)
    chat = CONVERSATIONS.config
    generation = [
        Slider(
            id="candidates",
            label="Candidates",
            min=1,
            max=chat.max_candidates,
            step=1,
            initial=shown["candidates"],
        ),
        Slider(
            id="steps",
            label="Steps",
            min=1,
            max=100,
            step=1,
            initial=shown["steps"],
        ),
        Slider(
            id="guidance",
            label="Prompt guidance (CFG)",
            min=0,
            max=20,
            step=0.5,
            initial=shown["guidance"],
        ),
        TextInput(
            id="seed",
            label="Seed (empty: random)",
            initial=shown["seed"],
            placeholder="random",
        ),
        Select(
            id="backend",
            label="Language model",
            items={
                "built-in interpreter (no LLM)": "interpreter",
                "text-generation-inference": "tgi",
                "OpenAI-compatible server": "openai",
            },
            initial_value=shown["backend"],
        ),
    ]
    guides = guidance_widgets({k: v for k, v in shown.items() if k.startswith("guide_")})
    await cl.ChatSettings(
        [
            Tab(id="generation", label="Generation", inputs=generation),
            Tab(id="guidance", label="Prior guidance", inputs=guides),
        ]
        if guides
        else generation
    ).send()


@cl.on_settings_update
async def settings_changed(values: dict[str, Any]) -> None:
    session_id = cl.user_session.get("session_id")
    if not session_id or CONVERSATIONS.generation_settings(session_id) is None:
        cl.user_session.set("pending_settings", values)
        return
    await _apply(session_id, values)


async def _apply_pending(session_id: str) -> None:
    values = cl.user_session.get("pending_settings")
    if values:
        cl.user_session.set("pending_settings", None)
        await _apply(session_id, values)


async def _apply(session_id: str, values: dict[str, Any]) -> None:
    """Apply what the user changed in the panel (the panel may be older than the chat's own
    changes, so fields left as they were shown are not applied)."""
    shown = cl.user_session.get("shown_settings") or {}
    known = shown or _settings_now(session_id)
    changed = {k: v for k, v in values.items() if k in known and v != shown.get(k)}
    fields: dict[str, Any] = {}
    if "seed" in changed:
        seed_text = str(changed["seed"] or "").strip().lower()
        if seed_text in ("", "random"):
            fields["seed"] = None
        elif seed_text.isdigit() and len(seed_text) < 18:
            fields["seed"] = int(seed_text)
        else:
            await cl.Message(content=f"The seed must be a whole number, not “{seed_text}”.").send()
            return
    try:
        if "candidates" in changed:
            fields["candidates"] = int(changed["candidates"])
        if "steps" in changed:
            fields["steps"] = int(changed["steps"])
        if "guidance" in changed:
            fields["guidance"] = float(changed["guidance"])
    except (TypeError, ValueError):
        await cl.Message(content="Candidates, steps and guidance must be numbers.").send()
        return
    try:
        guides = guide_changes(changed, shown)
    except ValueError as error:
        await cl.Message(content=str(error)).send()
        return
    # Only now do the shown values count as applied: a refused panel is applied as a whole later.
    cl.user_session.set("shown_settings", {**shown, **changed})
    notes = []
    if changed.get("backend") in BACKENDS:
        said = await cl.make_async(CONVERSATIONS.set_backend)(session_id, changed["backend"])
        if said:
            notes.append(said)
    if fields or guides:
        reply = await cl.make_async(CONVERSATIONS.set_generation)(
            session_id, **fields, guides=guides
        )
        if reply.text:
            notes.append(reply.text)
    if notes:
        await cl.Message(content="\n".join(notes), author=WEB.assistant).send()
    await _refresh_settings(session_id)  # what was refused shows as it really is
