"""Scripted dialogues: a conversation in YAML, with what each turn must do, run through the agent
loop on the built-in interpreter and on a scripted chat model (real tool-call messages).

    title: Raise her arm, then draw it
    start:
      priors: scenes/woman.json       # PriorSet or OpenPose JSON, relative to this file
      photo: skimage:astronaut        # or a picture file; priors alone get a grey placeholder
      size: 96                        # the photo's longer side, in pixels (keeps runs small)
      generation: {width: 64, height: 64, steps: 2, candidates: 1, seed: 7}
    modes: [interpreter, scripted]    # default: both, or only scripted when a turn has `model`
    turns:
      - user: raise her left arm over her head
        expect:
          tools: [apply_edits]
          llm_calls: 0
          priors: ["people[0].body.left_wrist.y < 0.2", "version == 2"]
      - user: make it look like a rainy evening
        model:                        # the scripted model's replies to this turn, in order
          - tool_calls: [{name: apply_edits, args: {edits: [{op: set_time_of_day, time: evening}]}}]
          - say: It is a rainy evening now.
        expect: {tools: [apply_edits], llm_calls: 2, reply: [evening]}

Expectations (all optional): `tools` (the tools called, in order, each once; the interpreter's
actions count as the tool doing the same), `llm_calls`, `path` (fast, interpreter, llm,
fallback), `fell_back`, `priors` (checks on the current PriorSet: `PATH OP VALUE` with OP one of
== != < <= > >= contains, `len(PATH) OP N`, `PATH exists`, `PATH missing`; paths index JSON from
0, and `people[0]`/`objects[1]` step into the people and objects lists), `version`, `candidates`
(made this turn), `generations`, `images`, `reply` and `reply_not` (words, any case),
`tool_results` (words the tools' results must hold), `tool_error` (a tool must fail saying
this; without it, any tool error fails the turn). A turn's
scripted replies must all be used, and the model must not be asked for more.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from image_interpreter.agent.files import read_priors
from image_interpreter.agent.scripted import ScriptedBackend, ScriptedChatModel, ScriptedReply
from image_interpreter.errors import ImageInterpreterError
from image_interpreter.images import encode_png, load_image_file
from image_interpreter.priors.edits import EDIT_TYPES
from image_interpreter.priors.schema import GenerationSettings, PriorSet, referenced_artifacts
from image_interpreter.rank.scoring import RankWeights
from image_interpreter.session import Session, SessionStore
from image_interpreter.settings import Settings
from image_interpreter.tools import Services, Toolbox, describe_priors, make_tools

Mode = Literal["interpreter", "scripted"]
MODES: tuple[Mode, ...] = ("interpreter", "scripted")

# Quick model settings for dialogues: ranking measures CLIP and edges (no pose re-extraction),
# and captions and poses are read with small settings.
QUICK_RANK = RankWeights(clip=0.5, pose=0, depth=0, objects=0, segmentation=0, edges=0.5)
QUICK_EXTRACT: dict[str, dict[str, Any]] = {
    "pose.openpose": {"hands": False, "face": False, "detect_resolution": 128},
    "caption.florence2": {"detailed": False, "max_new_tokens": 16, "num_beams": 1},
}
CONTROL_OPS = {"set_enabled", "set_weight", "set_step_range"}
OP_TOOLS = {"show_priors": "describe_priors"}


Connect = Callable[["Dialogue"], tuple[Any, Any]]
"""dialogue -> (its scripted model: script/left/unscripted, the LLMBackend that reaches it)."""


class DialogueError(ImageInterpreterError):
    """A dialogue file cannot be read or started."""


# --- the format --------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Strict):
    photo: str | None = Field(None, description="skimage:<name>, or a picture file.")
    priors: str | None = Field(None, description="A PriorSet or OpenPose JSON file.")
    size: int | None = Field(None, ge=16, le=2048, description="The photo's longer side.")
    generation: dict[str, Any] = Field(default_factory=dict, description="Settings to start with.")


class Expect(_Strict):
    tools: list[str] | None = None
    llm_calls: int | None = Field(None, ge=0)
    path: Literal["fast", "interpreter", "llm", "fallback"] | None = None
    fell_back: bool | None = None
    priors: list[str] = Field(default_factory=list)
    version: int | None = None
    candidates: int | None = Field(None, ge=0)
    generations: int | None = Field(None, ge=0)
    images: int | None = Field(None, ge=0)
    reply: list[str] = Field(default_factory=list)
    reply_not: list[str] = Field(default_factory=list)
    tool_results: list[str] = Field(default_factory=list)
    tool_error: str | None = None


class DialogueTurn(_Strict):
    user: str = Field(min_length=1)
    model: list[ScriptedReply] = Field(default_factory=list)
    expect: Expect = Field(default_factory=Expect)


class Dialogue(_Strict):
    title: str
    about: str = ""
    start: Start
    modes: list[Mode] | None = None
    react: bool = Field(False, description="Script the ReAct text protocol, not tool calls.")
    turns: list[DialogueTurn] = Field(min_length=1)
    file: Path | None = Field(None, exclude=True)

    @property
    def name(self) -> str:
        return self.file.stem if self.file is not None else self.title

    def run_modes(self) -> list[Mode]:
        if self.modes:
            return list(dict.fromkeys(self.modes))
        scripted = any(turn.model for turn in self.turns)
        return ["scripted"] if scripted else list(MODES)


def load_dialogue(path: Path | str) -> Dialogue:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DialogueError(f"Cannot read {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise DialogueError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DialogueError(f"{path} must hold a mapping with title, start and turns.")
    try:
        dialogue = Dialogue.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}"
            for e in exc.errors()[:4]
        )
        raise DialogueError(f"{path} is not a valid dialogue ({problems}).") from None
    if dialogue.start.photo is None and dialogue.start.priors is None:
        raise DialogueError(f"{path}: start needs a photo, a priors file, or both.")
    return dialogue.model_copy(update={"file": path})


# --- results -----------------------------------------------------------------------------------


@dataclass
class TurnReport:
    number: int
    user: str
    reply: str = ""
    path: str = ""
    llm_calls: int = 0
    tools: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    model_seconds: float = 0.0  # inside models (extraction, generation, ranking, upscaling)
    tokens: dict[str, int] = field(default_factory=dict)  # the turn's record: budget, parts
    calls: list[dict[str, Any]] = field(default_factory=list)  # its tool calls, as recorded
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class DialogueReport:
    name: str
    title: str
    mode: Mode
    turns: list[TurnReport] = field(default_factory=list)
    planned: int = 0
    error: str | None = None
    seconds: float = 0.0
    model_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and len(self.turns) == self.planned
            and all(t.passed for t in self.turns)
        )

    def failures(self) -> list[str]:
        lines = [f"setup: {self.error}"] if self.error else []
        for turn in self.turns:
            lines += [f"turn {turn.number} “{turn.user}”: {f}" for f in turn.failures]
        if not self.error and len(self.turns) < self.planned:
            lines.append(f"stopped after turn {len(self.turns)} of {self.planned}")
        return lines


# --- running -----------------------------------------------------------------------------------


@dataclass
class Runtime:
    """What the dialogues of one run share: the store and the loaded models."""

    store: SessionStore
    services: Services
    rank_weights: RankWeights = QUICK_RANK
    extract_params: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(QUICK_EXTRACT))

    @classmethod
    def open(cls, settings: Settings, **options: Any) -> Runtime:
        return cls(SessionStore.from_settings(settings), Services(settings), **options)

    def close(self) -> None:
        self.store.close()


def run_dialogue(
    dialogue: Dialogue, mode: Mode, runtime: Runtime, *, connect: Connect | None = None
) -> DialogueReport:
    """Play `dialogue` in a new session of `runtime`'s store and check every turn.
    `connect(dialogue)`: the scripted mode's model and backend, for playing the script through a
    real server (tests/tgi_server.py); default: a ScriptedChatModel, no server."""
    from image_interpreter.agent.loop import Agent, AgentConfig

    report = DialogueReport(dialogue.name, dialogue.title, mode, planned=len(dialogue.turns))
    started = time.perf_counter()
    session = runtime.store.create(title=f"dialogue {dialogue.name} ({mode})")
    try:
        start_session(session, dialogue, runtime.store)
    except ImageInterpreterError as error:
        report.error = str(error)
        return report
    box = Toolbox(
        session=session,
        store=runtime.store,
        services=runtime.services,
        rank_weights=runtime.rank_weights,
        extract_params=runtime.extract_params,
    )
    model: Any = None
    backend: Any = None
    if mode == "scripted" and connect is not None:
        model, backend = connect(dialogue)
    elif mode == "scripted":
        model = ScriptedChatModel()
        backend = ScriptedBackend(model, native_tools=not dialogue.react)
    agent = Agent(
        session,
        make_tools(box),
        backend,
        AgentConfig(summarise_with_llm=False),
        describe_priors=describe_priors,
    )
    for number, turn in enumerate(dialogue.turns, 1):
        before = {g.id for g in session.generations()}
        if model is not None:
            model.script(turn.model)
            unscripted = model.unscripted
        entry = TurnReport(number, turn.user)
        report.turns.append(entry)
        in_models = box.model_seconds
        try:
            result = agent.turn(turn.user)
        except Exception as error:  # a crash ends the dialogue: the state is unknown
            entry.failures.append(f"the turn raised {type(error).__name__}: {error}")
            break
        entry.model_seconds = box.model_seconds - in_models
        entry.reply = result.reply
        entry.path = result.path
        entry.llm_calls = result.tokens.get("llm_calls", 0)
        entry.tools = called_tools(result.tool_calls)
        entry.timings = dict(result.timings)
        entry.tokens = dict(result.tokens)
        entry.calls = list(result.tool_calls)
        entry.failures = check_turn(turn.expect, result, session, before)
        if model is not None:
            if model.left:
                entry.failures.append(
                    f"{model.left} scripted model replies were not used (path {result.path})"
                )
            if model.unscripted > unscripted:
                entry.failures.append(
                    f"the model was asked {model.unscripted - unscripted} more time(s) than"
                    " scripted"
                )
    report.seconds = time.perf_counter() - started
    report.model_seconds = box.model_seconds
    return report


def start_session(session: Session, dialogue: Dialogue, store: SessionStore) -> PriorSet:
    """The dialogue's picture and first version in `session`."""
    start = dialogue.start
    base = dialogue.file.parent if dialogue.file is not None else Path(".")
    loaded = read_priors(base / start.priors) if start.priors is not None else None
    if start.photo is not None:
        picture, name = _photo(start.photo, base, store)
        if start.size is not None:
            picture.thumbnail((start.size, start.size))
    else:
        assert loaded is not None
        src = loaded.priors.source
        picture = Image.new("RGB", (src.width, src.height), (128, 128, 128))
        name = f"{loaded.path.name} (grey placeholder)"
    image = session.add_image(encode_png(picture), name=name)
    first = PriorSet(source=image.ref)
    if loaded is not None:
        first = _adopt(session, loaded.priors.model_copy(update={"source": image.ref}), store)
    if start.generation:
        try:
            settings = GenerationSettings.model_validate(
                {**first.generation.model_dump(), **start.generation}
            )
        except ValidationError as exc:
            raise DialogueError(
                f"start.generation is not valid: {exc.errors()[0]['msg']}"
            ) from None
        first = first.model_copy(update={"generation": settings})
    return session.commit(first, summary=f"started from {name}")


def _photo(spec: str, base: Path, store: SessionStore) -> tuple[Image.Image, str]:
    if spec.startswith("skimage:"):
        wanted = spec.removeprefix("skimage:")
        try:
            from skimage import data
        except ImportError:
            raise DialogueError(
                f"'{spec}' needs scikit-image (a dev dependency: uv sync --group dev)."
            ) from None
        maker = getattr(data, wanted, None) if re.fullmatch(r"[a-z_0-9]+", wanted) else None
        if maker is None or not callable(maker):
            raise DialogueError(f"skimage.data has no picture '{wanted}' (try astronaut, coffee).")
        array = maker()
        picture = Image.fromarray(array)
        return picture.convert("RGB"), f"{wanted}.png"
    path = base / spec
    return load_image_file(path, store.limits), path.name


def _adopt(session: Session, priors: PriorSet, store: SessionStore) -> PriorSet:
    """Priors onto the session: maps they refer to must be in the data folder's store."""
    update = {}
    for kind, prior in priors.priors().items():
        for sha in sorted(referenced_artifacts(prior)):
            try:
                session.put_artifact(store.artifacts.get(sha))
            except ImageInterpreterError:
                update[kind] = None  # its map is not here: left out
                break
    return priors.model_copy(update=update)


# --- checks ------------------------------------------------------------------------------------


def called_tools(records: Iterable[dict[str, Any]]) -> list[str]:
    """The tools a turn called, in order, each once; an interpreter action counts as the tool
    that does the same thing (an edit: apply_edits; switching or weighing a prior: set_prior)."""
    names: list[str] = []
    for record in records:
        name = str(record.get("name", ""))
        if (
            record.get("source") == "interpreter"
            and "result" not in record
            and "error" not in record
        ):
            if name in CONTROL_OPS:
                name = "set_prior"
            elif name in EDIT_TYPES:
                name = "apply_edits"
            name = OP_TOOLS.get(name, name)
        if name not in names:
            names.append(name)
    return names


def tool_errors(records: Iterable[dict[str, Any]]) -> list[str]:
    found = []
    for record in records:
        text = record.get("error") or record.get("result") or ""
        if "error" in record or str(text).startswith("Error:"):
            found.append(f"{record.get('name')}: {text}")
    return found


def check_turn(expect: Expect, result: Any, session: Session, before: set[int]) -> list[str]:
    failures: list[str] = []
    said = result.reply.casefold()
    tools = called_tools(result.tool_calls)
    if expect.tools is not None and tools != expect.tools:
        failures.append(f"tools {tools}, expected {expect.tools}")
    llm_calls = result.tokens.get("llm_calls", 0)
    if expect.llm_calls is not None and llm_calls != expect.llm_calls:
        failures.append(f"{llm_calls} LLM calls, expected {expect.llm_calls}")
    if expect.path is not None and result.path != expect.path:
        failures.append(f"path {result.path}, expected {expect.path}")
    if expect.fell_back is not None and result.fell_back != expect.fell_back:
        failures.append(f"fell_back {result.fell_back}, expected {expect.fell_back}")
    errors = tool_errors(result.tool_calls)
    if expect.tool_error is None:
        failures += [f"tool error: {e[:300]}" for e in errors]
    elif not any(expect.tool_error.casefold() in e.casefold() for e in errors):
        failures.append(f"no tool error saying “{expect.tool_error}” (errors: {errors or 'none'})")
    failures += [f"the reply lacks “{w}”" for w in expect.reply if w.casefold() not in said]
    failures += [f"the reply says “{w}”" for w in expect.reply_not if w.casefold() in said]
    results = " ".join(str(r.get("result") or r.get("error") or "") for r in result.tool_calls)
    failures += [
        f"no tool result says “{w}”"
        for w in expect.tool_results
        if w.casefold() not in results.casefold()
    ]
    current = session.current
    for expression in expect.priors:
        problem = check_expression(current, expression)
        if problem:
            failures.append(problem)
    here = current.version if current is not None else None
    if expect.version is not None and here != expect.version:
        failures.append(f"at version {here}, expected {expect.version}")
    generations = session.generations()
    made = sum(len(g.candidates) for g in generations if g.id not in before)
    counts = {
        "candidates": (made, expect.candidates),
        "generations": (len(generations), expect.generations),
        "images": (len(session.images()), expect.images),
    }
    for what, (got, wanted) in counts.items():
        if wanted is not None and got != wanted:
            failures.append(f"{got} {what}, expected {wanted}")
    if failures:
        failures.append(f"(reply: {' '.join(result.reply.split())[:300]})")
    return failures


_EXPRESSION = re.compile(
    r"^\s*(?:len\((?P<len>[^)]+)\)|(?P<path>[A-Za-z_][\w.\[\]]*))\s*"
    r"(?:(?P<op>==|!=|<=|>=|<|>|contains)\s*(?P<value>.+?)|(?P<unary>exists|missing))\s*$"
)
_STEP = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")
_MISSING = object()


def check_expression(priors: PriorSet | None, expression: str) -> str | None:
    """None when `expression` holds for `priors`, else why not."""
    found = _EXPRESSION.match(expression)
    if found is None:
        return f"cannot read the check “{expression}” (PATH OP VALUE, len(PATH) OP N, PATH exists)"
    if priors is None:
        return f"“{expression}”: there are no priors"
    path = found["len"] or found["path"]
    data = priors.model_dump(mode="json")
    got = resolve(data, path.strip())
    if found["unary"]:
        exists = got is not _MISSING and got is not None
        if exists != (found["unary"] == "exists"):
            return f"“{expression}” does not hold"
        return None
    if got is _MISSING:
        return f"“{expression}”: {path} is not there"
    if found["len"]:
        if not isinstance(got, list | dict | str):
            return f"“{expression}”: {path} has no length (it is {got!r})"
        got = len(got)
    wanted = _value(data, found["value"])
    if _compare(got, found["op"], wanted):
        return None
    return f"“{expression}” does not hold: {path} is {got!r}"


def _value(data: Any, text: str) -> Any:
    """The right-hand side: another path in the priors (people[0].body.nose.y), or a YAML
    literal (0.3, true, null, "dusk")."""
    if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])+", text.strip()):
        found = resolve(data, text.strip())
        if found is not _MISSING:
            return found
    return yaml.safe_load(text)


def resolve(data: Any, path: str) -> Any:
    """The value at `path` in JSON `data`, or _MISSING. An index after a field whose value is an
    object with a list of the same name steps into that list (people[0] = people.people[0])."""
    last = None
    for name, index in _STEP.findall(path):
        if name:
            if not isinstance(data, dict) or name not in data:
                return _MISSING
            data, last = data[name], name
        else:
            if isinstance(data, dict) and isinstance(data.get(last), list):
                data = data[last]
            if not isinstance(data, list) or int(index) >= len(data):
                return _MISSING
            data = data[int(index)]
    return data


def _compare(got: Any, op: str, wanted: Any) -> bool:
    if op == "contains":
        return isinstance(got, str | list | dict) and (
            str(wanted).casefold() in got.casefold() if isinstance(got, str) else wanted in got
        )
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (got, wanted))
    if op in ("==", "!="):
        same = math.isclose(got, wanted, abs_tol=1e-6) if numbers else got == wanted
        return same if op == "==" else not same
    if not numbers:
        return False
    return {"<": got < wanted, "<=": got <= wanted, ">": got > wanted, ">=": got >= wanted}[op]
