"""The agent loop: the fast path makes no LLM call, every turn records its latency split and
tokens, tool calls are bounded, long conversations are summarised to fit the context."""

from __future__ import annotations

import json
import random

import huggingface_hub.constants
import pytest
from agent_helpers import make_tools, start_session
from fake_llm_server import FakeLLMServer, Reply, call, completion, generate

from image_interpreter.agent.context import Memory, extractive_summary
from image_interpreter.agent.llm import Backoff, llm_config, make_backend
from image_interpreter.agent.loop import Agent, AgentConfig
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

CHAT = "/v1/chat/completions"
SPLIT = {"interpret", "llm", "tools", "generation", "total"}


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def session():
    store = SessionStore.from_settings(load_settings())
    yield start_session(store)
    store.close()


@pytest.fixture
def server():
    with FakeLLMServer() as running:
        yield running


def make_agent(session, server, backend="openai", config=None, tools=None, **llm):
    url = server.url + "/v1" if backend == "openai" else server.url
    chosen = llm_config(None, backend=backend, base_url=url, model="m", timeout_s=2, **llm)
    backoff = Backoff(retries=chosen.max_retries, sleep=lambda _: None, rng=random.Random(1))
    tools = make_tools(session) if tools is None else tools
    return Agent(session, tools, make_backend(chosen), config, backoff=backoff)


def weight(value: float, ident: str = "call_1") -> Reply:
    return completion(
        None, [call("set_weight", json.dumps({"kind": "depth", "weight": value}), ident)]
    )


def test_the_fast_path_makes_no_llm_call_and_records_its_latency_split(session, server):
    agent = make_agent(session, server)
    result = agent.turn("set the depth weight to 0.5 and raise her left arm")
    assert server.requests == []  # the LLM was never asked
    assert result.path == "fast" and not result.used_llm and not result.fell_back
    assert session.current.depth.weight == 0.5 and session.current.version == 2
    assert set(result.timings) == SPLIT and result.timings["llm"] == 0.0
    assert result.timings["total"] >= result.timings["interpret"] + result.timings["tools"]
    assert result.tokens == {"prompt": 0, "completion": 0, "llm_calls": 0}
    assert [c["name"] for c in result.tool_calls] == ["set_weight", "pose_preset"]
    assert result.tool_calls[0] == {
        "name": "set_weight",
        "args": {"kind": "depth", "weight": 0.5},
        "source": "interpreter",
    }
    user, assistant = session.turns()
    assert user.role == "user" and set(user.timings) == {"interpret"}
    assert assistant.text == result.reply and set(assistant.timings) == SPLIT
    assert assistant.tokens["llm_calls"] == 0 and assistant.tool_calls == result.tool_calls


def test_a_dialogue_mixing_fast_and_llm_turns_shows_which_made_llm_calls(session, server):
    agent = make_agent(session, server)
    server.script(CHAT, weight(0.25), completion("The depth map now barely matters."))
    agent.turn("raise her left arm")
    agent.turn("the depth map matters too much")
    agent.turn("undo")
    replies = [t for t in session.turns() if t.role == "assistant"]
    assert [t.tokens["llm_calls"] for t in replies] == [0, 2, 0]
    assert [t.timings["llm"] > 0 for t in replies] == [False, True, False]
    assert replies[1].tokens["prompt"] == 100 and replies[1].tokens["completion"] == 20
    assert len(server.requests) == 2 and session.current.version == 2


def test_without_an_llm_the_interpreter_answers_everything(session):
    agent = Agent(session, make_tools(session))
    result = agent.turn("the depth map matters too much")
    assert result.path == "interpreter" and not result.used_llm
    assert "did not understand" in result.reply and session.current.version == 1
    assert result.tokens["llm_calls"] == 0


def test_a_generation_asked_on_the_fast_path_runs_the_generate_tool(session, server):
    agent = make_agent(session, server, tools=make_tools(session, generate_seconds=0.05))
    result = agent.turn("generate 2 candidates")
    assert server.requests == []
    assert "Generated 2 candidates" in result.reply and "no images were made" not in result.reply
    assert result.timings["generation"] >= 0.05 > result.timings["tools"]
    assert [c["name"] for c in result.tool_calls] == ["generate", "generate"]


def test_tool_time_and_generation_time_are_split_on_llm_turns(session, server):
    agent = make_agent(session, server, tools=make_tools(session, generate_seconds=0.05))
    server.script(
        CHAT,
        completion(None, [call("generate", json.dumps({"count": 2}))]),
        completion("Here are 2 candidates."),
    )
    result = agent.turn("surprise me with something nice")
    assert result.used_llm and result.timings["generation"] >= 0.05
    assert result.timings["llm"] > 0 and result.timings["tools"] < 0.05


def test_the_tool_call_bound_is_enforced(session, server):
    agent = make_agent(session, server, config=AgentConfig(max_tool_calls=3))
    looping = [completion(None, [call("show_priors", "{}", f"c{i}")]) for i in range(6)]
    server.script(CHAT, *looping)
    result = agent.turn("tell me everything about this picture, again and again")
    assert [c["name"] for c in result.tool_calls] == ["show_priors"] * 3
    assert len(server.requests) == 4  # the fourth asked for a fourth call, which was not run
    assert "I stopped after 3 tool calls, the most one message may use" in result.reply
    assert result.reply.startswith("Done so far:\n- show_priors:")


def test_the_bound_counts_parallel_calls_too(session, server):
    agent = make_agent(session, server, config=AgentConfig(max_tool_calls=2))
    calls = [
        call("set_weight", json.dumps({"kind": "depth", "weight": w}), f"c{i}")
        for i, w in enumerate([0.1, 0.2, 0.3, 0.4])
    ]
    server.script(CHAT, completion(None, calls))
    result = agent.turn("try a few depth weights")
    assert len(result.tool_calls) == 2 and session.current.depth.weight == 0.2
    assert "I stopped after 2 tool calls" in result.reply


def test_when_the_llm_is_lost_after_tools_ran_it_stops_instead_of_falling_back(session, server):
    agent = make_agent(session, server, config=AgentConfig(fast_path_confidence=0.95))
    server.script(CHAT, weight(0.5), *[Reply(status=503, body={"error": "busy"})] * 3)
    result = agent.turn("raise the arm")  # understood (0.9) but sent to the LLM here
    assert not result.fell_back and result.used_llm
    assert session.current.version == 2 and session.current.depth.weight == 0.5  # no arm raised
    assert "Then the language model could not be reached (HTTP 503" in result.reply
    assert "set_weight: The depth prior's weight is now 0.5" in result.reply


def test_the_priors_are_described_fresh_every_turn(session, server):
    seen: list[float] = []

    def describe(priors):
        seen.append(priors.depth.weight)
        return f"DEPTH WEIGHT {priors.depth.weight:g}"

    agent = make_agent(session, server)
    agent.describe_priors = describe
    server.script(CHAT, weight(0.5), completion("Done."), completion("It is 0.5 now."))
    agent.turn("the depth map matters too much")
    agent.turn("what is the depth weight now?")
    assert seen == [1.0, 0.5]
    system = server.requests[-1].body["messages"][0]["content"]
    assert "DEPTH WEIGHT 0.5" in system and "DEPTH WEIGHT 1" not in system


def _long_history(session, turns: int) -> None:
    for number in range(turns):
        session.add_turn("user", f"Request {number}: " + "please consider the lighting " * 12)
        session.add_turn("assistant", f"Answer {number}. " + "I looked at the lighting. " * 12)


def test_long_conversations_are_summarised_by_the_llm(session, server):
    _long_history(session, 20)
    agent = make_agent(
        session, server, backend="tgi", native_tools="off", context_tokens=2048, max_new_tokens=64
    )
    server.script(
        "/generate",
        generate("The user keeps asking about lighting; nothing was changed yet."),
        generate("Final Answer: Noted."),
    )
    result = agent.turn("and now what about the shadows?")
    assert result.reply == "Noted." and result.tokens["llm_calls"] == 2
    summary_request, turn_request = (r.body["inputs"] for r in server.requests)
    assert "Summarise this conversation" in summary_request and "Request 0:" in summary_request
    assert "Earlier in this conversation (a summary):\nThe user keeps asking about lighting" in (
        turn_request
    )
    assert "Request 0:" not in turn_request and "Request 19:" in turn_request
    assert agent.memory.upto > 0

    # folding goes down to half the budget: the next turn fits without summarising again
    server.script("/generate", generate("Final Answer: Sure."))
    agent.turn("and the highlights?")
    assert len(server.requests) == 3 and "Summarise" not in server.requests[2].body["inputs"]


def test_without_llm_summaries_older_turns_are_summarised_extractively(session, server):
    _long_history(session, 20)
    agent = make_agent(
        session,
        server,
        backend="tgi",
        native_tools="off",
        config=AgentConfig(summarise_with_llm=False),
        context_tokens=2048,
        max_new_tokens=64,
    )
    server.script("/generate", generate("Final Answer: Noted."))
    agent.turn("and now what about the shadows?")
    assert len(server.requests) == 1
    prompt = server.requests[0].body["inputs"]
    assert "Earlier in this conversation (a summary):\n" in prompt
    assert "User: Request" in prompt and "Assistant: Answer" in prompt


def test_a_failing_llm_summary_falls_back_to_the_extractive_one(session, server):
    _long_history(session, 20)
    agent = make_agent(
        session,
        server,
        backend="tgi",
        native_tools="off",
        context_tokens=2048,
        max_new_tokens=64,
        max_retries=0,
    )
    server.script("/generate", Reply(status=500, body={}), generate("Final Answer: Noted."))
    result = agent.turn("and now what about the shadows?")
    assert result.reply == "Noted." and "User: Request" in server.requests[1].body["inputs"]


def test_memory_window_keeps_the_newest_turns_and_starts_on_a_user_turn(session):
    _long_history(session, 6)
    turns = session.turns()
    memory = Memory(context_tokens=1000, reply_tokens=100, summary_words=40)
    window = memory.window(turns, fixed_tokens=300)
    assert window.messages and window.messages[0].type == "human"
    assert window.messages[-1].content == turns[-1].text
    assert window.folded > 0 and window.summarised_by == "extractive"
    assert len(window.summary.split()) <= 80


def test_extractive_summary_stays_within_its_word_budget(session):
    _long_history(session, 10)
    summary = extractive_summary("", session.turns(), words=30)
    assert summary.splitlines()[-1].startswith("Assistant: Answer 9.")
    assert len(summary.split()) <= 40


def test_a_turn_that_runs_out_of_time_stops(session, server):
    # the deadline cuts a request in flight too: the first answer (0.8 s) comes in time, the
    # second may or may not (depending on how long the prompt took), the third cannot
    agent = make_agent(session, server, config=AgentConfig(turn_timeout_s=2.0))
    slow = [Reply(delay=0.8, body=weight(0.1 * (i + 1), f"c{i}").body) for i in range(4)]
    server.script(CHAT, *slow)
    result = agent.turn("the depth map matters too much")
    assert 1 <= len(result.tool_calls) <= 2
    assert "took too long" in result.reply and result.error == "turn timeout"


def test_the_running_summary_is_kept_with_the_session_for_the_next_process(session, server):
    _long_history(session, 20)
    first = make_agent(
        session,
        server,
        backend="tgi",
        native_tools="off",
        config=AgentConfig(summarise_with_llm=False),
        context_tokens=2048,
        max_new_tokens=64,
    )
    server.script("/generate", generate("Final Answer: Noted."))
    first.turn("and now what about the shadows?")
    assert first.memory.upto > 0
    stored = [t for t in session.turns() if t.role == "system"]
    assert stored and stored[-1].text == first.memory.summary

    # a restart: a new agent on the same session starts from the stored summary, not afresh
    again = make_agent(
        session,
        server,
        backend="tgi",
        native_tools="off",
        config=AgentConfig(summarise_with_llm=False),
        context_tokens=2048,
        max_new_tokens=64,
    )
    assert (again.memory.summary, again.memory.upto) == (first.memory.summary, first.memory.upto)
    server.script("/generate", generate("Final Answer: Sure."))
    again.turn("and the highlights?")
    assert "Earlier in this conversation (a summary):\n" in server.requests[-1].body["inputs"]
