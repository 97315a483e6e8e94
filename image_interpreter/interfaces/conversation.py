"""The conversation core every interface shares: photos and messages in, replies and pictures out.

    conversations = Conversations(settings)
    session = conversations.start("holiday")              # or .open(session_id) after a restart
    reply = conversations.add_photo(session, data, "photo.jpg")   # safe decode, first version,
                                                                  # default priors extracted
    reply = conversations.say(session, "raise the left arm", progress)
    reply.text, reply.pictures         # what to say; [(label, PNG bytes)] to show
    reply.candidates                   # after a generation: each candidate with its scores

One `Conversations` per process holds the session store, the model services (extraction,
generation, upscaling, loaded once and shared) and the per-device GPU queue, and one `Agent` with
its tools per open session. Turns of one session run one at a time; different sessions run
concurrently (their model work meets, fairly, in the GPU queue).

A reply's pictures are what changed: the control images of the prior kinds a turn changed (the
skeleton drawn over the photo), the candidates of a new generation (best first, with their
scores) and new images such as an upscale, all read through the session's own `read_artifact`.

`progress(what, done, event)` is called while a turn runs, from the turn's thread or from the
GPU queue's worker (an adapter hands it to its own event loop): `what` is a short text, `done` a
fraction or None, and `event` a `ProgressEvent` saying which tool call it belongs to, with the
latent preview (PNG bytes) during generation.

Interfaces stay thin: they translate their events to these calls and show the replies. Nothing
here knows about Chainlit, Slack or MCP.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import numpy as np
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tools import BaseTool
from PIL import Image
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from image_interpreter.agent.interpreter.people import no_people_reason
from image_interpreter.agent.llm import LLMConfig, llm_config, make_backend
from image_interpreter.agent.loop import Agent, AgentConfig, TurnResult
from image_interpreter.demo import PHOTO_NAME as DEMO_PHOTO
from image_interpreter.demo import POSE_NAME as DEMO_POSE
from image_interpreter.demo import demo_photo, demo_pose
from image_interpreter.errors import EditError, ImageInterpreterError, SessionError
from image_interpreter.generate.queue import GPUQueue, current_job, shared_queue
from image_interpreter.images import encode_png, load_image
from image_interpreter.images.thumbnails import png_thumbnail
from image_interpreter.models.tiny import on_first_build
from image_interpreter.priors.edits import apply_all
from image_interpreter.priors.edits.controls import GUIDED_KINDS
from image_interpreter.priors.openpose import import_openpose
from image_interpreter.priors.render.preview import labelled, preview_images, prior_label
from image_interpreter.priors.schema import (
    GenerationSettings,
    Guide,
    ImageRef,
    PeoplePrior,
    PriorSet,
    Provenance,
)
from image_interpreter.rank.scoring import PART_NAMES
from image_interpreter.session import Session, SessionImage, SessionStore
from image_interpreter.session.turn_lock import TurnLock
from image_interpreter.settings import Settings, get_settings
from image_interpreter.tools import Services, Toolbox, describe_kinds, describe_priors, make_tools
from image_interpreter.tools.candidates import number as candidate_number
from image_interpreter.tools.candidates import ranked, score_words

log = logging.getLogger(__name__)

Backend = Literal["interpreter", "tgi", "openai"]
BACKENDS: tuple[Backend, ...] = ("interpreter", "tgi", "openai")
BACKEND_CHOICE = "set_backend"  # a 'system' turn's record of the backend chosen for a session
Action = Literal["toggle", "undo", "redo", "pick", "upscale", "more_like"]
ACTIONS: tuple[Action, ...] = ("toggle", "undo", "redo", "pick", "upscale", "more_like")
DEMO_WORDS = re.compile(r"(?:(?:try|start|load|open|show me)\s+)?(?:the\s+)?demo(?:\s+photo)?[.!]?")
KIND_ORDER = ("people", "depth", "segmentation", "edges", "objects", "caption", "palette")
# A new session's generation settings per profile where the schema's (25 steps at the photo's
# size) would be slow for what the profile is for: `tiny` checks the pipeline in seconds.
PROFILE_GENERATION: dict[str, dict[str, int]] = {"tiny": {"steps": 4, "size": 128}}


# --- configuration ---------------------------------------------------------------------------


class ChatConfig(BaseSettings):
    """What a conversation does by default, from `IMAGE_INTERPRETER_CHAT__*` variables:
    the priors extracted from a new photo and the generation settings a new session starts with
    (unset: the project's defaults; the user changes them in chat)."""

    model_config = SettingsConfigDict(env_prefix="IMAGE_INTERPRETER_CHAT__", extra="ignore")

    extract: str = Field(
        "pose,depth,caption,edges",
        description="Kinds or extractor names extracted from a new photo, comma-separated"
        " ('' for none).",
    )
    candidates: int | None = Field(None, ge=1, le=16, description="Candidates per generation.")
    steps: int | None = Field(None, ge=1, le=200, description="Denoising steps.")
    guidance: float | None = Field(None, ge=0.0, le=30.0, description="Classifier-free guidance.")
    size: int | None = Field(
        None, ge=64, le=4096, description="Longest side of the output (the photo's aspect)."
    )
    max_candidates: int = Field(8, ge=1, le=16, description="Most candidates one request makes.")
    picture_size: int = Field(512, ge=64, le=2048, description="Longest side of pictures shown.")
    max_reply_chars: int = Field(
        20_000, ge=500, le=1_000_000, description="Longest reply text shown; the rest is cut."
    )

    @property
    def kinds(self) -> list[str]:
        return [k.strip() for k in self.extract.split(",") if k.strip()]


# --- what comes back -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened while a turn ran.

    phase: "tool_start" (a tool call begins: `tool`, `args`), "progress" (inside it: `what`,
    `done`, and during generation `step`/`total` and `preview`, a PNG of the latent), or
    "tool_end" (`output`, `failed`). `call` numbers the tool calls of one turn from 1."""

    phase: Literal["tool_start", "progress", "tool_end"]
    what: str
    done: float | None = None
    tool: str | None = None
    call: int = 0
    args: dict[str, Any] | None = None
    output: str | None = None
    failed: bool = False
    step: int | None = None
    total: int | None = None
    preview: bytes | None = None


Progress = Callable[[str, float | None, ProgressEvent], None]
"""progress(what, done, event): see ProgressEvent."""


@dataclass(frozen=True)
class CandidateView:
    """One candidate to show: its generation id, stored index (from 0) and number (from 1),
    place (1 = best) and scores."""

    generation: int
    index: int
    place: int
    seed: int
    score: float | None
    parts: dict[str, float]
    label: str
    png: bytes
    number: int = 0  # its number in the generation, from 1: what "pick 2" and the buttons say
    explained: str = ""  # the score in words: "score 0.61 (clip 0.31; pose: no pose to compare)"


@dataclass
class Reply:
    """What to show after a turn: `text`, then `pictures` ((label, PNG bytes), candidates last).

    `result` is the agent's TurnResult (None for photos, buttons and settings); `image` the
    image a photo became; `version` the current version afterwards; `changed` the prior kinds
    whose pictures are included; `error` set when nothing was done (the text says why)."""

    text: str
    result: TurnResult | None = None
    pictures: list[tuple[str, bytes]] = field(default_factory=list)
    candidates: list[CandidateView] = field(default_factory=list)
    image: SessionImage | None = None
    version: int | None = None
    changed: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class PriorRow:
    """One line of the priors table."""

    kind: str
    enabled: bool
    weight: float
    steps: str
    detail: str


def markdown_table(rows: list[PriorRow]) -> str:
    """The priors table as Markdown (kind, on/off, weight, steps, what it holds)."""
    if not rows:
        return "_No priors yet._"
    lines = ["| prior | on | weight | steps | what |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        detail = row.detail.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {row.kind} | {'on' if row.enabled else 'off'} | {row.weight:g} | {row.steps}"
            f" | {detail} |"
        )
    return "\n".join(lines)


# --- the core --------------------------------------------------------------------------------


@dataclass
class _Conversation:
    """One open session: its toolbox, agent and the turn in progress."""

    session: Session
    box: Toolbox
    tools: list[BaseTool]
    agent: Agent
    backend: Backend
    lock: TurnLock | threading.RLock = field(default_factory=threading.RLock)
    sink: Progress | None = None
    calls: int = 0
    tool: str | None = None
    preview: bytes | None = None
    steps: tuple[int, int] | None = None
    notices: list[str] = field(default_factory=list)  # said during this turn, e.g. a tiny build

    def emit(self, event: ProgressEvent) -> None:
        sink = self.sink
        if sink is None:
            return
        try:
            sink(event.what, event.done, event)
        except Exception:  # showing progress must never break a turn
            log.exception("progress callback failed")

    def report(self, what: str, done: float) -> None:
        """Toolbox progress: tied to the tool call running, with the latest latent preview."""
        preview, steps = self.preview, self.steps
        self.preview, self.steps = None, None
        self.emit(
            ProgressEvent(
                phase="progress",
                what=what,
                done=done,
                tool=self.tool,
                call=self.calls,
                step=steps[0] if steps else None,
                total=steps[1] if steps else None,
                preview=preview,
            )
        )


class _ToolEvents(BaseCallbackHandler):
    """LangChain callbacks of one session's tools -> tool_start / tool_end events."""

    def __init__(self, conversation: _Conversation):
        self.conversation = conversation
        self.running: dict[UUID, tuple[int, str]] = {}

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        c = self.conversation
        c.calls += 1
        name = str((serialized or {}).get("name") or kwargs.get("name") or "tool")
        c.tool = name
        self.running[run_id] = (c.calls, name)
        c.emit(ProgressEvent(phase="tool_start", what=name, tool=name, call=c.calls, args=inputs))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        text = str(getattr(output, "content", output))
        self._end(run_id, text, text.startswith("Error:"))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, f"Error: {error}", True)

    def _end(self, run_id: UUID, output: str, failed: bool) -> None:
        c = self.conversation
        call, name = self.running.pop(run_id, (c.calls, c.tool or "tool"))
        c.tool = None
        c.emit(
            ProgressEvent(
                phase="tool_end",
                what=name,
                done=1.0,
                tool=name,
                call=call,
                output=output,
                failed=failed,
            )
        )


class _PreviewGenerator:
    """The shared Generator, with each step's latent preview passed to the conversation whose
    job is running (looked up by the GPU job's session, or the calling thread's)."""

    def __init__(self, inner: Any, find: Callable[[], _Conversation | None]):
        self._inner = inner
        self._find = find

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def generate(self, request: Any, *, progress: Any = None, **kwargs: Any) -> Any:
        return self._inner.generate(request, progress=self._previewing(progress), **kwargs)

    def interpolate(self, a: Any, b: Any, *, progress: Any = None, **kwargs: Any) -> Any:
        return self._inner.interpolate(a, b, progress=self._previewing(progress), **kwargs)

    def _previewing(self, progress: Any) -> Any:
        """`progress`, also keeping each step's preview on the running conversation."""
        conversation = self._find()
        if conversation is None or conversation.sink is None:
            return progress

        def both(step: int, total: int, preview: Image.Image | None) -> None:
            conversation.steps = (step, total)
            conversation.preview = _png(preview, 256) if preview is not None else None
            if progress is not None:
                progress(step, total, preview)
            if conversation.preview is not None:  # the tool did not report this step itself
                conversation.report("generating", step / max(total, 1))

        return both


class _Services(Services):
    """Services whose generator passes latent previews to the conversation running it."""

    def __init__(self, settings: Settings, find: Callable[[], _Conversation | None]):
        super().__init__(settings)
        self._find = find

    def generating(self) -> Any:
        generator = super().generating()
        if isinstance(generator, _PreviewGenerator):
            return generator
        with self._building:
            if not isinstance(self.generator, _PreviewGenerator):
                self.generator = _PreviewGenerator(generator, self._find)  # type: ignore[assignment]
            return self.generator


_local = threading.local()


class Conversations:
    """Every conversation of one process (see the module docstring). Thread-safe."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        config: ChatConfig | None = None,
        store: SessionStore | None = None,
        queue: GPUQueue | None = None,
        agent_config: AgentConfig | None = None,
        llm: LLMConfig | None = None,
        max_open: int = 256,
    ):
        self.settings = settings or get_settings()
        self.config = config or ChatConfig()
        self.store = store or SessionStore.from_settings(self.settings)
        self.queue = queue or shared_queue()
        self.agent_config = agent_config or AgentConfig()
        self.llm = llm or llm_config(self.settings)
        self.services = _Services(self.settings, self._running)
        self.services.extractor(self.store)
        self._open: OrderedDict[str, _Conversation] = OrderedDict()
        # One lock per session id for the life of the process, kept apart from the evictable
        # conversations: a conversation rebuilt after eviction shares its predecessor's lock, so
        # two turns can never run on one session at once.
        self._session_locks: dict[str, TurnLock] = {}
        self._max_open = max_open
        self._lock = threading.Lock()

    # --- sessions ------------------------------------------------------------------------------

    def start(self, title: str | None = None) -> Session:
        """A new, empty session (add a photo next)."""
        return self.store.create(title)

    def open(self, session_id: str) -> Session:
        """An existing session by id (SessionError if there is none), e.g. after a restart."""
        return self.store.open(session_id)

    def close(self) -> None:
        with self._lock:
            self._open.clear()
        self.store.close()

    # --- photos and poses ----------------------------------------------------------------------

    def add_photo(
        self,
        session: Session | str,
        data: bytes,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> Reply:
        """Decode the photo safely and add it; it becomes the current version's source (the
        generation settings carry over), and the configured kinds are extracted from it. A photo
        that is refused changes nothing: the reply's `error` says why."""
        conv = self._conversation(session)
        with conv.lock, self._reporting(conv, progress):
            said = f"(added a photo: {name})" if name else "(added a photo)"
            before = _Snapshot.of(conv.session)
            try:
                image = conv.session.add_image(data, name=name)
            except ImageInterpreterError as error:
                text = f"That photo was not accepted: {error}"
                conv.session.add_turn("user", said)
                conv.session.add_turn("assistant", text)
                return Reply(text=text, error=str(error), version=before.version)
            conv.session.add_turn("user", said)
            text = self._first_version(conv, image, before.priors)
            text = "\n".join([*conv.notices, text])  # why this first photo took so long
            conv.session.add_turn(
                "assistant", text, tool_calls=[{"name": "add_photo", "args": {"name": name}}]
            )
            reply = self._reply(conv, before, text)
            reply.image = image
            return reply

    def import_pose(self, session: Session | str, data: bytes, name: str | None = None) -> Reply:
        """Replace the people of the current version by those of an OpenPose JSON file."""
        conv = self._conversation(session)
        with conv.lock:
            before = _Snapshot.of(conv.session)
            said = f"(uploaded a pose: {name})" if name else "(uploaded a pose)"
            # The user's turn is written with the reply, never alone: a file that fails in any
            # way leaves no turn without an answer.
            try:
                current = before.priors
                if current is None:
                    raise SessionError("Add a photo first; the pose is drawn over it.")
                found = import_openpose(data)
                people = PeoplePrior(
                    people=found.people,
                    provenance=Provenance(
                        extractor="import", parameters={"format": "openpose", "name": name}
                    ),
                )
                stored = conv.session.commit(
                    current.model_copy(update={"people": people}),
                    edit={"actions": [{"op": "import_pose", "name": name}], "tool": "import"},
                    summary=f"imported the pose from {name or 'an OpenPose file'}",
                )
            except ImageInterpreterError as error:
                text = f"Nothing changed: {error}"
                conv.session.add_turn("user", said)
                conv.session.add_turn("assistant", text)
                return Reply(text=text, error=str(error), version=before.version)
            count = len(found.people)
            text = (
                f"Imported {count} {'person' if count == 1 else 'people'} from"
                f" {name or 'the OpenPose file'} (version {stored.version})."
            )
            src = current.source
            if (
                found.width
                and found.height
                and abs(found.width / found.height - src.width / src.height) > 0.02
            ):
                text += (
                    f" The pose was made for a {found.width}×{found.height} canvas; the photo is"
                    f" {src.width}×{src.height}, so positions are stretched to fit."
                )
            conv.session.add_turn("user", said)
            conv.session.add_turn("assistant", text, tool_calls=[{"name": "import_pose"}])
            return self._reply(conv, before, text)

    def demo(self, session: Session | str, progress: Progress | None = None) -> Reply:
        """The bundled demo: its photo added (as any photo) and its person imported over it,
        so there is someone to edit even where the pose model finds nobody (`tiny`)."""
        conv = self._conversation(session)
        with conv.lock:
            before = _Snapshot.of(conv.session)
            photo = self.add_photo(conv.session, demo_photo(), DEMO_PHOTO, progress)
            if photo.error is not None:
                return photo
            pose = self.import_pose(conv.session, demo_pose(), DEMO_POSE)
            text = "\n".join(
                [
                    "The demo: NASA's public-domain portrait of astronaut Eileen Collins, with"
                    " her pose drawn by hand.",
                    photo.text,
                    pose.text,
                    "Try “raise the left arm”, “what do you see?”, then “generate 2”.",
                ]
            )
            reply = self._reply(conv, before, text)
            reply.image = photo.image
            reply.error = pose.error
            return reply

    # --- messages ------------------------------------------------------------------------------

    def say(
        self,
        session: Session | str,
        text: str,
        progress: Progress | None = None,
        *,
        on_token: Callable[[str], None] | None = None,
    ) -> Reply:
        """One user message through the agent (interpreter fast path or the LLM with tools);
        "try the demo" loads the demo in every front end. `on_token` receives the LLM's answer
        as it is generated (from the turn's thread), so a front end can show it growing; the
        reply still carries the whole text."""
        if DEMO_WORDS.fullmatch(text.strip().lower()):
            return self.demo(session, progress)
        conv = self._conversation(session)
        with conv.lock, self._reporting(conv, progress):
            self._follow_stored_backend(conv)
            before = _Snapshot.of(conv.session)
            result = conv.agent.turn(text, on_token=on_token)
            reply = self._reply(conv, before, result.reply, result)
            reply.error = _turn_error(result, reply, before)
            if _asked_to_show(result):  # "what do you see?": every prior's picture and the table
                shown = self.overview(conv.session)
                drawn = {label for label, _ in reply.pictures}
                reply.pictures = [p for p in shown.pictures if p[0] not in drawn] + reply.pictures
                reply.changed = shown.changed
            return reply

    def act(
        self,
        session: Session | str,
        action: Action,
        *,
        kind: str | None = None,
        generation: int | None = None,
        candidate: int | None = None,
        progress: Progress | None = None,
    ) -> Reply:
        """A button: toggle a prior (`kind`), undo, redo, or, for a candidate (`generation`,
        `candidate`, its number from 1), pick it, upscale it, or make more like it (picked, then
        img2img from it under the same priors). Runs the same tools the agent uses, and is
        recorded as the words that do the same ("pick 2")."""
        conv = self._conversation(session)
        if action not in ACTIONS:
            raise ValueError(f"Unknown action {action!r}; one of {', '.join(ACTIONS)}.")
        with conv.lock, self._reporting(conv, progress):
            before = _Snapshot.of(conv.session)
            steps: list[tuple[str, dict[str, Any]]]
            if action == "toggle":
                prior = getattr(before.priors, kind or "", None) if before.priors else None
                if prior is None:
                    return Reply(text=f"There is no {kind} prior to switch.", error="no prior")
                steps = [("set_prior", {"kind": kind, "enabled": not prior.enabled})]
                said = f"turn {'off' if prior.enabled else 'on'} the {kind} prior"
            elif action in ("undo", "redo"):
                steps, said = [(action, {})], action
            else:
                if generation is None or candidate is None:
                    raise ValueError(f"{action} needs a generation and a candidate.")
                pair = {"generation": generation, "candidate": candidate}
                said = {
                    "pick": f"pick {candidate}",
                    "upscale": f"upscale {candidate}",
                    "more_like": f"more like {candidate}",
                }[action]
                if generation != _latest_generation(conv.session):
                    said += f" of generation {generation}"
                if action == "pick":
                    steps = [("choose_candidate", pair)]
                elif action == "upscale":
                    steps = [("upscale", pair)]
                else:
                    steps = [("choose_candidate", pair), ("generate", {"mode": "img2img"})]
            conv.session.add_turn("user", said)
            outputs, records = [], []
            for name, args in steps:
                output = self._call(conv, name, args)
                records.append({"name": name, "args": args, "source": "button"})
                outputs.append(output)
                if output.startswith("Error:"):
                    break
            text = "\n".join(outputs)
            conv.session.add_turn("assistant", text, tool_calls=records)
            reply = self._reply(conv, before, text)
            if text.startswith("Error:") or "\nError:" in text:
                reply.error = text
            return reply

    def set_generation(
        self,
        session: Session | str,
        *,
        candidates: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int | Literal["keep"] | None = "keep",
        guides: dict[str, dict[str, float]] | None = None,
    ) -> Reply:
        """Change the generation settings (a new version when anything differs). `seed` None
        means a new random seed each time; "keep" leaves it. `guides`: by prior kind (or
        "joint"), the guidance fields to set (weight, start, end, every), as `SetGuide` edits;
        all of it is one version, or nothing when any part is refused."""
        conv = self._conversation(session)
        with conv.lock:
            before = _Snapshot.of(conv.session)
            current = before.priors
            if current is None:
                return Reply(text="Add a photo first.", error="no priors")
            gen = current.generation
            edits: list[dict[str, Any]] = []
            if candidates is not None and candidates != gen.candidates:
                edits.append({"op": "set_candidates", "n": candidates})
            if steps is not None and steps != gen.steps:
                edits.append({"op": "set_steps", "n": steps})
            if guidance is not None and guidance != gen.guidance:
                edits.append({"op": "set_guidance", "value": guidance})
            if seed != "keep" and seed != gen.seed:
                edits.append({"op": "set_seed", "seed": seed})
            edits += _guide_edits(current, guides or {})
            if not edits:
                return Reply(text="", version=before.version)
            try:  # a panel's user reads why, in words for them (the tool's are for the LLM)
                apply_all(edits, current)
            except EditError as error:
                return Reply(
                    text=f"Nothing changed: {error}", error=str(error), version=before.version
                )
            text = self._call(conv, "apply_edits", {"edits": edits})
            reply = self._reply(conv, before, text)
            if text.startswith("Error:"):
                reply.error = text
            return reply

    def set_backend(self, session: Session | str, backend: Backend) -> str:
        """Which LLM this session's agent uses from now on; a sentence to show the user.
        A backend that is not configured (no base URL) is refused, and the old one kept. The
        choice is stored with the session (a 'system' turn), so after a restart, or in another
        process on the same database, the session goes on with it."""
        conv = self._conversation(session)
        with conv.lock:
            self._follow_stored_backend(conv)
            if backend == conv.backend:
                return ""
            try:
                made = self._make_backend(backend)
            except ImageInterpreterError as error:
                return f"The {backend} backend cannot be used: {error}"
            conv.agent = self._agent(conv.session, conv.tools, made)
            conv.backend = backend
            conv.session.add_turn(
                "system",
                f"The language model backend is now {backend}.",
                tool_calls=[{"name": BACKEND_CHOICE, "args": {"backend": backend}}],
            )
            if made is None:
                return "Using the built-in interpreter (no language model)."
            return f"Using {made.where()}."

    def _make_backend(self, backend: Backend) -> Any:
        """The LLM backend by name, on this process's LLM settings (ImageInterpreterError when it
        is not configured); None for the interpreter."""
        config = (
            llm_config(self.settings, backend="interpreter")
            if backend == "interpreter"
            else self.llm.model_copy(update={"backend": backend})
            if self.llm.backend == backend
            else llm_config(self.settings, backend=backend)
        )
        return make_backend(config)

    def _follow_stored_backend(self, conv: _Conversation) -> None:
        """Use the backend last chosen for this session, wherever it was chosen (another
        process on the same database, or before a restart); one that cannot be made here is
        logged and the current one kept."""
        chosen = stored_backend(conv.session)
        if chosen is None or chosen == conv.backend:
            return
        try:
            made = self._make_backend(chosen)
        except ImageInterpreterError as error:
            log.warning("session %s: its backend %s cannot be used here: %s", conv.session.id,
                        chosen, error)  # fmt: skip
            return
        conv.agent = self._agent(conv.session, conv.tools, made)
        conv.backend = chosen

    def backend(self, session: Session | str) -> Backend:
        """The backend this session's messages go to (the stored choice is followed when no
        turn is running: this never waits for one)."""
        conv = self._conversation(session)
        if conv.lock.acquire(blocking=False):
            try:
                self._follow_stored_backend(conv)
            finally:
                conv.lock.release()
        return conv.backend

    # --- what the session holds ----------------------------------------------------------------

    def overview(self, session: Session | str) -> Reply:
        """The current version in words, with a picture of every prior (e.g. after resuming)."""
        conv = self._conversation(session)
        priors = conv.session.current
        if priors is None:
            return Reply(text="No photo yet: upload one to start.")
        kinds = [k for k in KIND_ORDER if getattr(priors, k) is not None]
        text = f"Version {priors.version}.\n" + "\n".join(describe_kinds(priors, kinds))
        pictures = self._prior_pictures(conv.session, priors, kinds)
        return Reply(text=text, pictures=pictures, version=priors.version, changed=kinds)

    def priors_table(self, session: Session | str) -> list[PriorRow]:
        """The current priors, one row per kind present."""
        s = self._session(session)
        priors = s.current
        if priors is None:
            return []
        rows = []
        for kind in KIND_ORDER:
            prior = getattr(priors, kind)
            if prior is None:
                continue
            steps = (
                "all"
                if (prior.start, prior.end) == (0.0, 1.0)
                else f"{prior.start:.0%}–{prior.end:.0%}"
            )
            detail = "; ".join(describe_kinds(priors, [kind]))
            detail = detail.split(":", 1)[1].strip() if ":" in detail else detail
            rows.append(PriorRow(kind, prior.enabled, prior.weight, steps, _clip(detail, 90)))
        return rows

    def generation_settings(self, session: Session | str) -> GenerationSettings | None:
        priors = self._session(session).current
        return priors.generation if priors is not None else None

    def guides(self, session: Session | str) -> dict[str, Guide]:
        """The current version's guidance: each enabled prior that has a guidance loss, then
        the joint loss ("joint"); empty before a photo."""
        priors = self._session(session).current
        if priors is None:
            return {}
        found: dict[str, Guide] = {
            kind: prior.guide for kind, prior in priors.enabled().items() if kind in GUIDED_KINDS
        }
        return found | {"joint": priors.generation.joint_guide}

    def candidates(self, session: Session | str, generation: int) -> list[CandidateView]:
        """A stored generation's candidates, best first."""
        s = self._session(session)
        for record in s.generations():
            if record.id == generation:
                return _candidate_views(s, record, self.config.picture_size)
        raise SessionError(f"There is no generation {generation} in this session.")

    # --- internals -----------------------------------------------------------------------------

    def _session(self, session: Session | str) -> Session:
        if isinstance(session, Session):
            return session
        return self.open(session)

    def _conversation(self, session: Session | str) -> _Conversation:
        s = self._session(session)
        with self._lock:
            found = self._open.get(s.id)
            if found is not None:
                self._open.move_to_end(s.id)
                return found
        box = Toolbox(
            session=s,
            store=self.store,
            services=self.services,
            max_candidates=self.config.max_candidates,
            queue=self.queue,
        )
        tools = make_tools(box)
        backend = make_backend(self.llm)
        lock = self.session_lock(s.id)
        conv = _Conversation(
            session=s,
            box=box,
            tools=tools,
            agent=None,  # type: ignore[arg-type]
            backend=self.llm.backend,
            lock=lock,
        )
        box.progress = conv.report
        events = _ToolEvents(conv)
        conv.tools = [tool.model_copy(update={"callbacks": [events]}) for tool in tools]
        conv.agent = self._agent(s, conv.tools, backend)
        with self._lock:
            kept = self._open.setdefault(s.id, conv)
            self._forget_idle()
            return kept

    def session_lock(self, session_id: str) -> TurnLock:
        """The one lock of a session's turns and tool calls, for every adapter (the MCP server's
        direct tool calls take it too), so nothing else runs on that session meanwhile; it holds
        across app processes sharing the database too."""
        with self._lock:
            found = self._session_locks.get(session_id)
            if found is None:
                found = self._session_locks[session_id] = self.store.turn_lock(session_id)
            return found

    def _forget_idle(self) -> None:
        """Keep at most `max_open` agents in memory: the least recently used idle ones go (a
        session is reopened from the store when it comes back, with its stored backend)."""
        for session_id in list(self._open):
            if len(self._open) <= self._max_open:
                return
            conv = self._open[session_id]
            if conv.lock.acquire(blocking=False):
                try:
                    del self._open[session_id]
                finally:
                    conv.lock.release()

    def _agent(self, session: Session, tools: list[BaseTool], backend: Any) -> Agent:
        return Agent(session, tools, backend, self.agent_config, describe_priors=describe_priors)

    def _running(self) -> _Conversation | None:
        """The conversation whose work runs in this thread (a GPU job's, or the caller's)."""
        job = current_job()
        session_id = job.session if job is not None else getattr(_local, "session", None)
        with self._lock:
            return self._open.get(session_id) if session_id else None

    @contextmanager
    def _reporting(self, conv: _Conversation, progress: Progress | None) -> Iterator[None]:
        previous = getattr(_local, "session", None)
        _local.session = conv.session.id
        conv.sink, conv.calls, conv.tool, conv.preview, conv.steps = progress, 0, None, None, None
        conv.notices = []

        def building(message: str) -> None:  # the first tiny model of the process: minutes
            conv.notices.append(message)
            event = ProgressEvent(phase="progress", what=message, tool=conv.tool, call=conv.calls)
            conv.emit(event)

        stop = on_first_build(building)
        try:
            yield
        finally:
            stop()
            conv.sink = None
            _local.session = previous

    def _call(self, conv: _Conversation, name: str, args: dict[str, Any]) -> str:
        """Run one of the session's tools; errors come back as 'Error: ...' text."""
        tool = next((t for t in conv.tools if t.name == name), None)
        if tool is None:
            return f"Error: there is no tool '{name}'."
        try:
            output = tool.invoke(args)
        except ImageInterpreterError as error:
            return f"Error: {error}"
        return str(getattr(output, "content", output))

    def _first_version(
        self, conv: _Conversation, image: SessionImage, previous: PriorSet | None
    ) -> str:
        """Commit the photo's first version, then extract the configured kinds into a second.
        Extraction problems are reported, not raised: the photo stays usable."""
        s = conv.session
        settings = previous.generation if previous is not None else self._defaults(image.ref)
        first = s.commit(
            PriorSet(source=image.ref, generation=settings),
            edit={"actions": [{"op": "add_photo", "image": image.handle}], "tool": "add_photo"},
            summary=f"started from {image.ref.name or image.handle}",
        )
        size = f"{image.ref.width}×{image.ref.height}"
        name = f"“{image.ref.name}”" if image.ref.name else "The photo"
        head = (
            f"Photo {name} ({size}) added as version {first.version} (image {image.handle} of"
            " this session)."
        )
        kinds = self.config.kinds
        if not kinds:
            return head
        conv.calls += 1
        call = conv.calls
        conv.tool = "extract_priors"
        args = {"kinds": kinds, "image": image.handle}
        conv.emit(
            ProgressEvent(
                phase="tool_start", what="extract_priors", tool=conv.tool, call=call, args=args
            )
        )
        pixels = load_image(s.read_artifact(image.ref.sha256), self.store.limits)
        service = self.services.extractor(self.store)
        priors, done, problems = first, [], []
        for number, kind in enumerate(kinds, 1):

            def step(what: str, part: float, kind: str = kind, number: int = number) -> None:
                # "depth 2/3: running ...", and a fraction of the whole job, not of this kind
                conv.report(
                    f"{kind} {number}/{len(kinds)}: {what}", (number - 1 + part) / len(kinds)
                )

            try:
                priors = conv.box.on_device(
                    lambda kind=kind, priors=priors, step=step: service.extract_into(
                        priors, pixels, [kind], put_artifact=s.put_artifact, progress=step
                    )
                )
                done.append(kind)
                conv.report(f"{kind} {number}/{len(kinds)} done", number / len(kinds))
            except ImageInterpreterError as error:
                problems.append(f"{kind}: {error}")
            except Exception as error:  # e.g. out of GPU memory: the photo stays, the turn ends
                problems.append(f"{kind}: {type(error).__name__}: {error}")
        lines = [head]
        if done:
            stored = s.commit(
                priors,
                edit={
                    "actions": [{"op": "extract", "kinds": done, "image": image.handle}],
                    "tool": "extract_priors",
                },
                summary=f"extracted {', '.join(done)} from {image.handle}",
            )
            present = [k for k in KIND_ORDER if getattr(stored, k) is not None]
            lines.append(f"Extracted {', '.join(done)}: version {stored.version}.")
            lines.extend(describe_kinds(stored, present))
            people = stored.people.people if stored.people is not None else []
            if stored.people is not None and not people:
                lines.append("Nobody to pose yet: " + no_people_reason(stored))
        if problems:
            lines.append("Not extracted: " + "; ".join(problems))
        text = "\n".join(lines)
        conv.emit(
            ProgressEvent(
                phase="tool_end",
                what="extract_priors",
                done=1.0,
                tool="extract_priors",
                call=call,
                output=text,
                failed=bool(problems) and not done,
            )
        )
        conv.tool = None
        return text

    def _defaults(self, ref: ImageRef) -> GenerationSettings:
        """A new session's generation settings: the chat configuration's, else the profile's
        (PROFILE_GENERATION), else the schema's."""
        c = self.config
        profile = PROFILE_GENERATION.get(self.settings.profile, {})
        fields: dict[str, Any] = {}
        if c.candidates is not None:
            fields["candidates"] = c.candidates
        steps = c.steps if c.steps is not None else profile.get("steps")
        if steps is not None:
            fields["steps"] = steps
        if c.guidance is not None:
            fields["guidance"] = c.guidance
        size = c.size if c.size is not None else profile.get("size")
        if size is not None:
            scale = size / max(ref.width, ref.height)
            fields["width"] = max(64, round(ref.width * scale / 8) * 8)
            fields["height"] = max(64, round(ref.height * scale / 8) * 8)
        return GenerationSettings(**fields)

    def _reply(
        self,
        conv: _Conversation,
        before: _Snapshot,
        text: str,
        result: TurnResult | None = None,
    ) -> Reply:
        """The reply with the pictures of what changed since `before`."""
        s = conv.session
        after = _Snapshot.of(s)
        pictures: list[tuple[str, bytes]] = []
        changed: list[str] = []
        if after.priors is not None and after.version != before.version:
            changed = _changed_kinds(before.priors, after.priors)
            pictures += self._prior_pictures(s, after.priors, changed)
        fresh = [g for g in s.generations() if g.id not in before.generations]
        candidates = [
            view
            for record in fresh
            for view in _candidate_views(s, record, self.config.picture_size)
        ]
        shown = {c.sha256 for g in s.generations() for c in g.candidates}
        for image in s.images():
            if image.handle not in before.images and image.ref.sha256 not in shown:
                if after.priors is not None and image.ref.sha256 == after.priors.source.sha256:
                    continue  # the new photo itself: its priors' pictures are shown
                png = png_thumbnail(s.read_artifact(image.ref.sha256), self.config.picture_size)
                label = f"{image.handle}: {image.ref.name or 'image'}"
                pictures.append((f"{label} ({image.ref.width}×{image.ref.height})", png))
        pictures += [(c.label, c.png) for c in candidates]
        limit = self.config.max_reply_chars
        if len(text) > limit:  # every front end shows this text: none posts it without bound
            text = f"{text[:limit].rstrip()}…\n(The rest of this reply, {len(text) - limit:,}"
            text += " characters, is not shown.)"
        return Reply(
            text=text,
            result=result,
            pictures=pictures,
            candidates=candidates,
            version=after.version,
            changed=changed,
        )

    def _prior_pictures(
        self, session: Session, priors: PriorSet, kinds: list[str]
    ) -> list[tuple[str, bytes]]:
        if not kinds:
            return []
        try:
            photo = load_image(session.read_artifact(priors.source.sha256), self.store.limits)
            photo.thumbnail((self.config.picture_size,) * 2)
            drawn = preview_images(priors, photo, session.read_artifact)
        except ImageInterpreterError as error:
            log.warning("priors of version %s not drawn: %s", priors.version, error)
            return []
        pictures = []
        for kind in kinds:
            picture = drawn.get(kind)
            if picture is None:
                continue
            if kind == "people":
                picture = _over(photo, picture)  # the skeleton over the photo
            label = prior_label(kind, priors.version, getattr(priors, kind).enabled)
            pictures.append((label, encode_png(labelled(picture, label))))
        return pictures


# --- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    version: int | None
    priors: PriorSet | None
    generations: frozenset[int]
    images: frozenset[str]

    @classmethod
    def of(cls, session: Session) -> _Snapshot:
        state = session.state()
        priors = next((v.priors for v in state.versions if v.number == state.current), None)
        return cls(
            version=state.current,
            priors=priors,
            generations=frozenset(g.id for g in state.generations),
            images=frozenset(i.handle for i in state.images),
        )


def _guide_edits(priors: PriorSet, guides: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """`set_guide` edits for the guidance fields that differ from the current version's (a
    kind that is not there keeps every field, so its edit says why it cannot be guided)."""
    edits = []
    for kind, fields in guides.items():
        now = (
            priors.generation.joint_guide
            if kind == "joint"
            else getattr(getattr(priors, kind, None), "guide", None)
        )
        differ = {k: v for k, v in fields.items() if now is None or getattr(now, k, None) != v}
        if differ:
            edits.append({"op": "set_guide", "kind": kind, **differ})
    return edits


def stored_backend(session: Session) -> Backend | None:
    """The backend last chosen for `session` (`set_backend`'s 'system' turn), or None."""
    for turn in reversed(session.turns()):
        if turn.role != "system":
            continue
        for call in turn.tool_calls:
            chosen = (call.get("args") or {}).get("backend") if isinstance(call, dict) else None
            if call.get("name") == BACKEND_CHOICE and chosen in BACKENDS:
                return chosen  # type: ignore[return-value]
    return None


def _turn_error(result: TurnResult, reply: Reply, before: _Snapshot) -> str | None:
    """Why a turn did nothing, when it tried and failed: the interpreter's refusal, or every
    tool it called failing, with no new version or candidates."""
    if reply.version != before.version or reply.candidates:
        return None
    if result.outcome is not None and result.outcome.error:
        return result.outcome.error
    failed = [call["error"] for call in result.tool_calls if "error" in call]
    if failed and len(failed) == len(result.tool_calls):
        return failed[-1]
    return None


def _latest_generation(session: Session) -> int | None:
    records = session.generations()
    return records[-1].id if records else None


def _asked_to_show(result: TurnResult) -> bool:
    found = result.interpretation
    executed = result.outcome is not None and result.outcome.executed
    return executed and found is not None and any(a.op == "show_priors" for a in found.actions)


def _changed_kinds(before: PriorSet | None, after: PriorSet) -> list[str]:
    """Prior kinds whose content differs (all of them when the photo changed)."""
    same_source = before is not None and before.source.sha256 == after.source.sha256
    changed = []
    for kind in KIND_ORDER:
        new = getattr(after, kind)
        if new is None:
            continue
        old = getattr(before, kind) if before is not None else None
        if not same_source or old is None or old.model_dump() != new.model_dump():
            changed.append(kind)
    return changed


def _candidate_views(session: Session, record: Any, size: int) -> list[CandidateView]:
    """A generation's candidates best first, labelled with their number (from 1, as in "pick
    2" and the buttons) and their score in words."""
    try:
        priors = session.version(record.version)
    except ImageInterpreterError:
        priors = None
    order = ranked(record)
    views = []
    for place, index in enumerate(order, 1):
        c = record.candidates[index]
        total = c.scores.get("total")
        parts = {k: v for k, v in c.scores.items() if k in PART_NAMES}
        label = f"candidate {candidate_number(index)} · generation {record.id}"
        if total is not None:
            label += f" · {score_words(c.scores, priors)}"
            if place == 1 and len(order) > 1:
                label += " · best"
        if record.chosen == index:
            label += " · picked"
        views.append(
            CandidateView(
                generation=record.id,
                index=index,
                place=place,
                seed=c.seed,
                score=total,
                parts=parts,
                label=label,
                png=png_thumbnail(session.read_artifact(c.sha256), size),
                number=candidate_number(index),
                explained=score_words(c.scores, priors),
            )
        )
    return views


def _over(photo: Image.Image, control: Image.Image) -> Image.Image:
    """The skeleton drawn over a dimmed photo (black control pixels are transparent)."""
    base = np.asarray(photo.convert("RGB").resize(control.size), dtype=np.float32) * 0.55
    lines = np.asarray(control.convert("RGB"), dtype=np.float32)
    mask = lines.max(axis=2, keepdims=True) > 16
    out = np.where(mask, lines, base)
    return Image.fromarray(out.astype(np.uint8))


def _png(image: Image.Image, size: int) -> bytes:
    image = image.convert("RGB")
    if max(image.size) < 64:  # latent previews are 1/8 of the picture: shown a bit larger
        scale = 64 / max(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.NEAREST
        )
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "ACTIONS",
    "BACKENDS",
    "CandidateView",
    "ChatConfig",
    "Conversations",
    "PriorRow",
    "Progress",
    "ProgressEvent",
    "Reply",
    "markdown_table",
]
