"""The agent loop: one user message in, one reply out, with the session changed through tools.

    agent = Agent(session, tools, make_backend(llm_config(settings)))
    result = agent.turn("raise her left arm")          # fast path: no LLM call
    result = agent.turn("make it feel like a rainy evening in Paris")   # the LLM with tools

1. The built-in interpreter reads the message first. When it understands it with confidence at
   or above `AgentConfig.fast_path_confidence` (and every clause was read), its actions run
   through `agent.commands.run_actions` and no LLM is called. Without an LLM backend it always
   handles the message (asking back when unsure).
2. Otherwise the LLM handles the turn, with native tool calling or the ReAct text protocol
   (`agent.react`), up to `max_tool_calls` tool calls, each LLM request with the backend's
   timeout and retried with exponential backoff and jitter, within `turn_timeout_s`.
   A malformed tool call gets one repair round, then a clear message.
3. If the LLM is unreachable (connection refused, timeouts or 5xx after the retries) or refuses
   the request, the message falls back to the interpreter and the reply says so. When tools have
   already run in the turn, it stops there instead (the interpreter would apply a second time).

Every request fits the model's context by construction (`agent.budget`): compact tools, only
those the turn needs, the priors described fresh every turn (in full when they fit, else in
brief), and history summarised within what remains (`agent.context`). Each turn is recorded on
the session: the user's message, then the reply with its tool calls, its latency split
(interpret, llm, tools, generation, total; seconds) and tokens (prompt, completion, llm_calls;
`prompt_estimated` is 1 when a server did not report the prompt's size; for LLM turns the
budget, what each part of the first request took, `prompt_instructions`, `prompt_tools`,
`prompt_priors`, `prompt_history`, `prompt_message`, the largest request `request_max`, and
`count_estimated` when no tokenizer was loaded).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from image_interpreter.agent.budget import (
    PRIORS_SHARE,
    RESERVE,
    TOOLS_SHARE,
    Budget,
    fit_request,
    request_text,
)
from image_interpreter.agent.commands import MIN_CONFIDENCE, Outcome, run_actions
from image_interpreter.agent.context import (
    DescribePriors,
    Memory,
    extractive_summary,
    fit_text,
)
from image_interpreter.agent.interpreter import HIGH, Interpretation, interpret
from image_interpreter.agent.llm import (
    Attempts,
    Backoff,
    LLMBackend,
    LLMError,
    LLMReply,
    LLMUnavailable,
    OnToken,
    ToolsUnsupported,
    call_with_retries,
)
from image_interpreter.agent.llm.clip import clip, clipped_note
from image_interpreter.agent.llm.deadline import DeadlinePassed, expired, within
from image_interpreter.agent.llm.text import content_text
from image_interpreter.agent.llm.tokens import PER_MESSAGE, TokenCounter
from image_interpreter.agent.react import (
    STOP,
    Action,
    AnswerStream,
    Final,
    Malformed,
    Step,
    describe_tools,
    example_input,
    parse_reply,
    react_instructions,
    repair_prompt,
)
from image_interpreter.errors import ImageInterpreterError
from image_interpreter.prompts import load_prompt
from image_interpreter.session import Session, Turn
from image_interpreter.tools.compact import (
    ALWAYS,
    ToolSpec,
    compact_priors,
    compact_specs,
    select_tools,
)
from image_interpreter.tools.describe import describe_priors

log = logging.getLogger(__name__)

Path = Literal["fast", "interpreter", "llm", "fallback"]
SUMMARY_UPTO = "summary_upto"  # a 'system' turn holding the running summary, up to this turn


class AgentConfig(BaseModel):
    """How the loop behaves; the LLM's own limits (timeout, retries, context) are in LLMConfig."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fast_path_confidence: float = Field(
        HIGH, ge=0.0, le=1.0, description="The interpreter handles a message at or above this."
    )
    max_tool_calls: int = Field(6, ge=1, le=50, description="Tool calls one message may use.")
    turn_timeout_s: float = Field(
        180.0, gt=0, description="The LLM's part of a turn, whole responses included."
    )
    tool_result_chars: int = Field(2000, ge=100, description="Longest tool result shown to it.")
    summary_words: int = Field(120, ge=20, le=1000, description="Running summary length.")
    summarise_with_llm: bool = Field(
        True, description="Older turns summarised by the LLM (else extractively, no LLM call)."
    )
    generation_tools: frozenset[str] = Field(
        frozenset({"generate", "upscale", "interpolate", "inpaint"}),
        description="Tools whose time counts as 'generation' rather than 'tools'.",
    )
    generate_tool: str | None = Field(
        "generate",
        description="Tool called with {'count': n} when the interpreter asks to generate.",
    )


class TurnResult(BaseModel):
    """What one message did, as recorded on the session."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reply: str
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    tokens: dict[str, int] = Field(default_factory=dict)
    used_llm: bool = False
    fell_back: bool = False
    path: Path = "fast"
    error: str | None = Field(None, description="Why the LLM could not help, when it could not.")
    interpretation: Interpretation | None = None
    outcome: Outcome | None = Field(None, description="The interpreter's outcome, if it acted.")


@dataclass
class _Turn:
    """Counters of one turn in progress."""

    deadline: float
    timings: dict[str, float] = field(
        default_factory=lambda: {"interpret": 0.0, "llm": 0.0, "tools": 0.0, "generation": 0.0}
    )
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_estimated: bool = False
    llm_calls: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    repairs_left: int = 1
    budget: Budget | None = None
    offered: list[ToolSpec] = field(default_factory=list)  # the tools this turn's requests carry
    current: BaseMessage | None = None  # the user's message in the request

    @property
    def executed(self) -> int:
        return sum(1 for r in self.records if r.get("source") == "llm")

    def count(self, reply: LLMReply) -> None:
        self.prompt_tokens += reply.prompt_tokens or 0
        self.completion_tokens += reply.completion_tokens or 0
        self.prompt_estimated = self.prompt_estimated or reply.prompt_estimated

    def tokens(self) -> dict[str, int]:
        found = {
            "prompt": self.prompt_tokens,
            "completion": self.completion_tokens,
            "llm_calls": self.llm_calls,
        }
        if self.prompt_estimated:
            found["prompt_estimated"] = 1
        if self.budget is not None:
            found.update(self.budget.record())
        return found


class _Stop(Exception):
    """End the LLM part of a turn with this reply."""

    def __init__(self, reply: str, error: str | None = None):
        super().__init__(reply)
        self.reply = reply
        self.error = error


class Agent:
    """The loop over one session. `tools`: LangChain tools bound to that session;
    `llm_backend`: from `llm.make_backend`, None for the interpreter alone;
    `describe_priors`: the priors summary given to the LLM every turn;
    `backoff`: retry timing (its `sleep` is injectable for tests); `clock`: for timings;
    `counter`: counts tokens (default: the backend's tokenizer, else the estimate)."""

    def __init__(
        self,
        session: Session,
        tools: Sequence[BaseTool] = (),
        llm_backend: LLMBackend | None = None,
        config: AgentConfig | None = None,
        *,
        describe_priors: DescribePriors = describe_priors,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.perf_counter,
        counter: TokenCounter | None = None,
    ):
        self.session = session
        self.tools = list(tools)
        self.by_name = {tool.name: tool for tool in self.tools}
        self.specs = compact_specs(self.tools)  # what the LLM sees of them
        self.backend = llm_backend
        self.config = config or AgentConfig()
        self.describe_priors = describe_priors
        self.clock = clock
        llm = llm_backend.config if llm_backend is not None else None
        if backoff is None:
            backoff = (
                Backoff(retries=llm.max_retries, base_s=llm.backoff_s, max_s=llm.backoff_max_s)
                if llm is not None
                else Backoff(retries=0)
            )
        self.backoff = backoff
        if counter is None:
            counter = TokenCounter.for_config(llm) if llm is not None else TokenCounter()
        self.counter = counter
        self.memory = Memory(
            context_tokens=llm.context_tokens if llm else 4096,
            reply_tokens=llm.max_new_tokens if llm else 512,
            summary_words=self.config.summary_words,
            count=counter,
        )
        self._history: list[Any] = list(session.history())
        self._restore_summary()
        self._versions = max((v.number for v in self._history), default=0)

    # --- one message ------------------------------------------------------------------------

    def turn(self, text: str, *, on_token: OnToken | None = None) -> TurnResult:
        """Handle one user message (see the module docstring). `on_token` receives the LLM's
        answer as it is generated, when the LLM answers; the full reply is in the result."""
        start = self.clock()
        state = _Turn(deadline=start + self.config.turn_timeout_s)
        self._note_versions()  # versions made outside turns (buttons, tools over MCP) count too
        interpretation = interpret(text, self.session.current, history=self._history)
        state.timings["interpret"] = self.clock() - start
        user = self.session.add_turn(
            "user", text, timings={"interpret": state.timings["interpret"]}
        )
        self._history.append(interpretation)

        fast = (
            interpretation.confidence >= self.config.fast_path_confidence
            and not interpretation.unparsed
            and bool(interpretation.actions)
        )
        result: TurnResult
        if self.backend is None or fast:
            result = self._interpreter(interpretation, state, "fast" if fast else "interpreter")
        else:
            try:
                result = self._llm(text, state, user, on_token)
            except LLMError as error:
                result = self._fallback(interpretation, state, error)
        self._note_versions()
        state.timings["total"] = self.clock() - start
        result.timings = dict(state.timings)
        result.tokens = state.tokens()
        result.tool_calls = state.records
        result.interpretation = interpretation
        self.session.add_turn(
            "assistant",
            result.reply,
            tool_calls=result.tool_calls,
            timings=result.timings,
            tokens=result.tokens,
        )
        return result

    # --- the interpreter ----------------------------------------------------------------------

    def _interpreter(self, interpretation: Interpretation, state: _Turn, path: Path) -> TurnResult:
        started = self.clock()
        outcome = run_actions(self.session, interpretation, min_confidence=MIN_CONFIDENCE)
        state.timings["tools"] += self.clock() - started
        if outcome.executed:
            state.records.extend(
                {"name": a.pop("op"), "args": a, "source": "interpreter"}
                for a in interpretation.dump_actions()
            )
        reply = outcome.reply
        made = self._generate_for(outcome, state)
        if made:
            # run_actions only records the request and says no images were made; they were
            kept = [line for line in reply.splitlines() if "no images were made" not in line]
            reply = "\n".join([*kept, made])
        for call in outcome.calls:  # 'pick 2', 'upscale 2'
            if call["name"] in self.by_name:
                said, _ = self._run_tool(call["name"], call["args"], None, state, "interpreter")
                reply = "\n".join(part for part in (reply, said) if part)
        return TurnResult(reply=reply, path=path, outcome=outcome)

    def _generate_for(self, outcome: Outcome, state: _Turn) -> str:
        """Run the generate tool for a generation the interpreter asked for, if there is one."""
        name = self.config.generate_tool
        if outcome.generate is None or not name or name not in self.by_name:
            return ""
        content, _ = self._run_tool(
            name, {"count": outcome.generate.count}, None, state, source="interpreter"
        )
        return content

    def _fallback(
        self, interpretation: Interpretation, state: _Turn, error: LLMError
    ) -> TurnResult:
        assert self.backend is not None
        log.warning("LLM unavailable (%s); the interpreter handles the message", error.reason)
        result = self._interpreter(interpretation, state, "fallback")
        why = "is unavailable" if isinstance(error, LLMUnavailable) else "refused the request"
        note = (
            f"(The language model — {self.backend.where()} — {why}: {error.reason}. The built-in"
            " interpreter handled this message instead.)"
        )
        result.reply = f"{note}\n{result.reply}".strip()
        result.fell_back = True
        result.used_llm = state.llm_calls > 0
        result.error = error.reason
        return result

    # --- the LLM --------------------------------------------------------------------------------

    def _llm(
        self,
        text: str,
        state: _Turn,
        user: Turn,
        on_token: OnToken | None,
    ) -> TurnResult:
        assert self.backend is not None
        backend = self.backend
        earlier = [t for t in self.session.turns() if t.number < user.number]
        native = backend.native_tools
        messages = self._prompt(text, earlier, native, state)
        reply_text: str
        error: str | None = None
        try:
            reply_text = self._steps(messages, native, state, on_token, text, earlier)
        except _Stop as stop:
            reply_text, error = stop.reply, stop.error
        return TurnResult(
            reply=reply_text,
            path="llm",
            used_llm=True,
            error=error,
        )

    def _steps(
        self,
        messages: list[BaseMessage],
        native: bool,
        state: _Turn,
        on_token: OnToken | None,
        text: str,
        earlier: list[Turn],
    ) -> str:
        assert self.backend is not None
        backend = self.backend
        while True:
            stream = AnswerStream(on_token) if (on_token is not None and not native) else None
            try:
                reply = self._request(messages, native, state, on_token, stream)
            except ToolsUnsupported as refused:
                if not backend.tools_refused(refused.reason):
                    raise self._lost(state, refused) from refused
                log.info("%s refused tools (%s): using ReAct", backend.where(), refused.reason)
                native = False
                messages = self._prompt(text, earlier, native, state, summarise=False)
                continue
            except LLMError as error:
                raise self._lost(state, error) from error
            if native:
                steps = self._native_steps(reply.message)
            else:
                steps = [parse_reply(reply.text, self.specs)]
            first = steps[0]
            if isinstance(first, Malformed):
                self._repair(messages, reply, first, native, state)
                continue
            if isinstance(first, Final):
                answer = first.answer.strip()
                limit = backend.config.max_answer_chars
                if reply.clipped or len(answer) > limit:  # never stored or posted verbatim
                    answer = f"{clip(answer, limit)[0].rstrip()}…\n{clipped_note(limit)}"
                return answer or self._done_so_far(state, "The model gave an empty answer.")
            actions = [s for s in steps if isinstance(s, Action)]
            if native:
                messages.append(reply.message)
            for index, action in enumerate(actions):
                if state.executed >= self.config.max_tool_calls:
                    if native:  # every tool call needs its answer, for a valid transcript
                        for skipped in actions[index:]:
                            messages.append(_tool_message(skipped, "Not run: limit reached."))
                    raise _Stop(self._bound_reply(state))
                call_id = action.call_id or f"call_{state.executed + 1}"
                content, _ = self._run_tool(action.tool, action.args, call_id, state, "llm")
                content = _clip(content, self.config.tool_result_chars)
                if native:
                    messages.append(
                        ToolMessage(content=content, tool_call_id=call_id, name=action.tool)
                    )
                else:
                    messages.append(AIMessage(_react_step(action)))
                    messages.append(HumanMessage(f"Observation: {content}"))
            if self.clock() > state.deadline:
                raise _Stop(
                    self._done_so_far(state, "I stopped: this message took too long."),
                    "turn timeout",
                )

    def _request(
        self,
        messages: list[BaseMessage],
        native: bool,
        state: _Turn,
        on_token: OnToken | None,
        stream: AnswerStream | None,
    ) -> LLMReply:
        """One LLM request, with retries; its time and tokens counted."""
        assert self.backend is not None
        backend = self.backend
        if self.clock() > state.deadline:
            raise LLMUnavailable(f"the turn took longer than {self.config.turn_timeout_s:g} s")
        measured = self._fit(messages, native, state)
        sink: OnToken | None = stream if stream is not None else on_token
        streamed: list[str] = []

        def collect(piece: str) -> None:
            streamed.append(piece)
            if sink is not None:
                sink(piece)

        def shown() -> bool:
            return stream.streamed if stream is not None else bool(streamed)

        def once() -> LLMReply:
            state.llm_calls += 1
            if stream is not None:
                stream.reset()
            tokens = collect if sink is not None else None
            if native:
                offered = [spec.openai() for spec in state.offered]
                return backend.chat(messages, offered, on_token=tokens)
            return backend.complete(messages, stop=STOP, on_token=tokens)

        attempts = Attempts()
        started = self.clock()
        try:
            # the deadline bounds the whole response, however the server trickles or streams
            with within(self._left(state), limit=self.config.turn_timeout_s):
                reply = call_with_retries(
                    once,
                    self.backoff,
                    deadline=self._backoff_deadline(state),
                    attempts=attempts,
                    # never repeat text a user has seen, nor a request the deadline cut
                    retry_if=lambda _error: not shown() and not expired(),
                )
        finally:
            state.timings["llm"] += self.clock() - started
        if reply.prompt_estimated and measured is not None and self.counter.exact:
            reply.prompt_tokens, reply.prompt_estimated = measured, False  # counted exactly here
        state.count(reply)
        return reply

    def _backoff_deadline(self, state: _Turn) -> float:
        """`state.deadline` on the backoff's clock (which tests may replace)."""
        return self.backoff.clock() + self._left(state)

    def _left(self, state: _Turn) -> float:
        """Seconds the turn has left."""
        return max(0.0, state.deadline - self.clock())

    def _native_steps(self, message: AIMessage) -> list[Step]:
        if message.invalid_tool_calls:
            bad = message.invalid_tool_calls[0]
            name = bad.get("name") or "?"
            problem = bad.get("error") or "its arguments are not a JSON object"
            return [
                Malformed(
                    f"The call to {name} could not be used: {problem}.",
                    f"{name}({bad.get('args') or ''})",
                    name if name in self.by_name else None,
                )
            ]
        if message.tool_calls:
            steps: list[Step] = []
            for call in message.tool_calls:
                if call["name"] not in self.by_name:
                    known = ", ".join(self.by_name) or "(none)"
                    return [
                        Malformed(
                            f"There is no tool named “{call['name']}”. The tools are: {known}.",
                            f"{call['name']}({json.dumps(call['args'])})",
                        )
                    ]
                steps.append(Action(call["name"], dict(call["args"]), call_id=call.get("id") or ""))
            return steps
        content = content_text(message.content).strip()
        if content and self.tools:
            # some servers hand back a call as text when their tool parser missed it
            step = parse_reply(content, self.specs)
            if isinstance(step, Action):
                return [step]
        return [Final(content)]

    def _repair(
        self,
        messages: list[BaseMessage],
        reply: LLMReply,
        malformed: Malformed,
        native: bool,
        state: _Turn,
    ) -> None:
        """One repair round per turn: say what was wrong and the format expected."""
        log.info("malformed tool call (%s)", malformed.problem)
        if state.repairs_left <= 0:
            raise _Stop(
                self._done_so_far(
                    state,
                    "I could not act on this: the language model's tool call was malformed"
                    f" again after one correction ({malformed.problem})",
                    nothing_changed=True,
                )
                + " Try saying it as a direct command, like “set the depth weight to 0.5”.",
                f"malformed tool call: {malformed.problem}",
            )
        state.repairs_left -= 1
        if native:
            target = next((s for s in self.specs if s.name == malformed.tool), None)
            expected = (
                f"{target.name} with arguments {example_input(target)}"
                if target is not None
                else "one of: " + ", ".join(self.by_name)
            )
            messages.append(AIMessage(content_text(reply.message.content) or malformed.raw))
            messages.append(
                HumanMessage(
                    load_prompt("repair_tools", problem=malformed.problem, expected=expected)
                )
            )
        else:
            messages.append(AIMessage(malformed.raw.strip() or "(empty)"))
            messages.append(
                HumanMessage(repair_prompt(malformed.problem, self.specs, malformed.tool))
            )

    def _lost(self, state: _Turn, error: LLMError) -> Exception:
        """The LLM failed mid-turn: fall back if nothing ran yet, else stop and say so."""
        if state.executed == 0:
            return error
        if isinstance(error, DeadlinePassed):
            return _Stop(
                self._done_so_far(state, "I stopped: this message took too long."), "turn timeout"
            )
        return _Stop(
            self._done_so_far(
                state,
                f"Then the language model could not be reached ({error.reason}),"
                " so I stopped there.",
            ),
            error.reason,
        )

    # --- tools ------------------------------------------------------------------------------

    def _run_tool(
        self,
        name: str,
        args: dict[str, Any],
        call_id: str | None,
        state: _Turn,
        source: str,
    ) -> tuple[str, bool]:
        """Run a tool; errors come back as text for the model to read. (content, ok)"""
        tool = self.by_name[name]
        record: dict[str, Any] = {"name": name, "args": _plain(args), "source": source}
        if call_id:
            record["id"] = call_id
        started = self.clock()
        ok = False
        try:
            output = tool.invoke(args)
            content = _as_text(output)
            ok = True
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in error.errors()
            )
            content = f"Error: the arguments of {name} are not valid ({problems})."
        except (ImageInterpreterError, ToolException) as error:
            content = f"Error: {error}"
        except Exception as error:  # a tool's bug must not end the conversation
            log.exception("tool %s failed", name)
            content = f"Error: {name} failed ({type(error).__name__}: {error})."
        elapsed = self.clock() - started
        bucket = "generation" if name in self.config.generation_tools else "tools"
        state.timings[bucket] += elapsed
        record["result" if ok else "error"] = content[:500]
        record["seconds"] = round(elapsed, 6)
        state.records.append(record)
        return content, ok

    # --- prompts ----------------------------------------------------------------------------

    def _prompt(
        self,
        text: str,
        earlier: list[Turn],
        native: bool,
        state: _Turn,
        *,
        summarise: bool = True,
    ) -> list[BaseMessage]:
        """The turn's first request, part by part within the budget (see `agent.budget`)."""
        assert self.backend is not None
        llm = self.backend.config
        count = self.counter
        budget = Budget.for_model(llm.context_tokens, llm.max_new_tokens, count.exact)
        state.budget = budget
        room = budget.tokens
        reserve = int(room * RESERVE)
        guidance = ""
        if self.tools:
            guidance = load_prompt("tool_guidance", max_tool_calls=str(self.config.max_tool_calls))
        skeleton = [load_prompt("system", priors=""), guidance]
        if self.tools and not native:
            skeleton.append(react_instructions([]))
        instructions = count("\n\n".join(p for p in skeleton if p)) + PER_MESSAGE
        message = count(text) + PER_MESSAGE
        offered = self._offer(text, native, room, instructions + message + reserve)
        tools = count(self._tools_text(offered, native)) if offered else 0
        summary_room = int(self.config.summary_words * 1.6) + 16 if earlier else 0
        left = room - instructions - tools - message - reserve - summary_room
        priors = self._priors_text(min(left, int(room * PRIORS_SHARE)), left)

        parts = [load_prompt("system", priors=priors), guidance]
        if self.tools and not native:
            parts.append(react_instructions(offered, self._others(offered)))
        system = "\n\n".join(p for p in parts if p)
        current = HumanMessage(text)
        state.current = current
        state.offered = offered if native else []
        system_tokens = count(system) + PER_MESSAGE + (tools if native else 0)
        fixed = (llm.context_tokens - llm.max_new_tokens - room) + system_tokens + message + reserve
        summariser = None
        if summarise and self.config.summarise_with_llm:
            summariser = lambda previous, turns: self._summarise(previous, turns, state)  # noqa: E731
        window = self.memory.window(earlier, fixed, summariser)
        if window.folded:  # kept with the session: a restart or another process goes on from it
            self.session.add_turn(
                "system", self.memory.summary, tokens={SUMMARY_UPTO: self.memory.upto}
            )
        history = count.messages(window.messages)
        if window.summary:
            summary = fit_text(window.summary, summary_room, count)
            system += "\n\nEarlier in this conversation (a summary):\n" + summary
            history += count(summary) + 8
        budget.parts = {
            "instructions": instructions,
            "tools": tools,
            "priors": count(priors),
            "history": history,
            "message": message,
        }
        if window.folded:
            budget.parts["history_folded"] = window.folded
        return [SystemMessage(system), *window.messages, current]

    def _offer(self, text: str, native: bool, room: int, fixed: int) -> list[ToolSpec]:
        """The tools this turn's message needs, the optional ones dropped (last first) while
        they take more than their share of the budget."""
        if not self.tools:
            return []
        chosen = select_tools(text, self.specs)
        cap = min(int(room * TOOLS_SHARE), room - fixed)
        while self.counter(self._tools_text(chosen, native)) > cap:
            optional = [s for s in chosen if s.name not in ALWAYS]
            if not optional:
                break
            chosen.remove(optional[-1])
        return chosen

    def _others(self, offered: Sequence[ToolSpec]) -> list[str]:
        names = {s.name for s in offered}
        return [s.name for s in self.specs if s.name not in names]

    def _tools_text(self, offered: Sequence[ToolSpec], native: bool) -> str:
        if native:
            return json.dumps([spec.openai() for spec in offered])
        return (
            describe_tools(offered) + "\nAlso callable by name: " + ", ".join(self._others(offered))
        )

    def _priors_text(self, share: int, left: int) -> str:
        """The full description within `share`, else the compact summary, cut to `left`."""
        current = self.session.current
        full = self.describe_priors(current)
        if self.counter(full) <= share:
            return full
        return fit_text(compact_priors(current), max(0, left), self.counter)

    def _fit(self, messages: list[BaseMessage], native: bool, state: _Turn) -> int | None:
        """Shrink the request until it fits (`agent.budget.fit_request`); its size."""
        assert self.backend is not None
        if state.budget is None or state.current is None:
            return None
        render = None if native else self.backend.request_text
        tools = state.offered if native else []
        return fit_request(
            messages,
            state.current,
            lambda sent: self.counter(request_text(sent, tools, render)),
            state.budget,
        )

    def _summarise(self, previous: str, turns: Sequence[Turn], state: _Turn) -> str:
        """The running summary, written by the LLM (one attempt, no retries: on failure the
        memory summarises extractively). Its request fits the budget too."""
        assert self.backend is not None
        lines = "\n".join(
            f"{'User' if t.role == 'user' else 'Assistant'}: {' '.join(t.text.split())}"
            for t in turns
        )
        values = {"words": str(self.config.summary_words), "previous": previous or "(nothing yet)"}
        room = state.budget.tokens if state.budget is not None else 0
        room -= self.counter(load_prompt("summary", turns="", **values)) + 4 * PER_MESSAGE
        prompt = load_prompt("summary", turns=fit_text(lines, max(0, room), self.counter), **values)
        started = self.clock()
        try:
            state.llm_calls += 1
            with within(self._left(state), limit=self.config.turn_timeout_s):
                reply = self.backend.complete([HumanMessage(prompt)], stop=("\nUser:",))
        except LLMError:
            return extractive_summary(previous, turns, self.config.summary_words)
        finally:
            state.timings["llm"] += self.clock() - started
        state.count(reply)
        return reply.text

    # --- replies ----------------------------------------------------------------------------

    def _done_so_far(self, state: _Turn, message: str, *, nothing_changed: bool = False) -> str:
        done = [r for r in state.records if r.get("source") == "llm"]
        if not done:
            tail = " Nothing was changed." if nothing_changed else ""
            return message.rstrip(".") + "." + tail
        lines = [
            f"- {r['name']}: {' '.join(str(r.get('result') or r.get('error')).split())[:160]}"
            for r in done
        ]
        return "Done so far:\n" + "\n".join(lines) + "\n" + message.rstrip(".") + "."

    def _bound_reply(self, state: _Turn) -> str:
        n = self.config.max_tool_calls
        return self._done_so_far(
            state,
            f"I stopped after {n} tool calls, the most one message may use. Tell me what to"
            " do next",
        )

    def _restore_summary(self) -> None:
        """The running summary as the session last stored it (a 'system' turn)."""
        for turn in reversed(self.session.turns()):
            if turn.role == "system" and SUMMARY_UPTO in turn.tokens:
                self.memory.summary, self.memory.upto = turn.text, turn.tokens[SUMMARY_UPTO]
                return

    def _note_versions(self) -> None:
        """Versions made this turn by tools join the history (who 'him' is next time)."""
        newer = [v for v in self.session.history() if v.number > self._versions]
        if newer:
            self._history.extend(newer)
            self._versions = max(v.number for v in newer)


def _tool_message(action: Action, content: str) -> ToolMessage:
    return ToolMessage(content=content, tool_call_id=action.call_id or "call", name=action.tool)


def _react_step(action: Action) -> str:
    """The step as the protocol wants it, whatever the model's quirks were."""
    thought = f"Thought: {action.thought}\n" if action.thought else ""
    return f"{thought}Action: {action.tool}\nAction Input: {json.dumps(action.args)}"


def _as_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    if isinstance(output, ToolMessage):
        return content_text(output.content)
    try:
        return json.dumps(output, default=str)
    except (TypeError, ValueError):
        return str(output)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(args: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(args, default=str))
    except (TypeError, ValueError):
        return {k: str(v) for k, v in args.items()}
