"""The LLM backends end to end over loopback HTTP: TGI's /generate and /generate_stream, the
Messages API /v1/chat/completions (TGI through huggingface_hub, any OpenAI-compatible server
through langchain-openai), with tool calls and streaming; and the server slow, down, failing or
answering with malformed tool calls."""

from __future__ import annotations

import json
import random

import huggingface_hub.constants
import pytest
from agent_helpers import make_tools, start_session
from fake_llm_server import (
    FakeLLMServer,
    Reply,
    call,
    completion,
    completion_stream,
    free_port,
    generate,
    generate_stream,
)

from image_interpreter.agent.llm import Backoff, llm_config, make_backend
from image_interpreter.agent.loop import Agent, AgentConfig
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

NOT_UNDERSTOOD = "the depth map matters too much"  # the interpreter cannot read this: LLM
CHAT = "/v1/chat/completions"
REACT_CALL = (
    'Thought: weaken it\nAction: set_weight\nAction Input: {"kind": "depth", "weight": 0.5}'
)


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    # The tests' environment sets HF_HUB_OFFLINE; the TGI server here is ours, not the Hub.
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


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def agent(session, server, sleeps):
    def make(backend="tgi", *, url=None, config=None, **llm):
        base = url or (server.url + "/v1" if backend == "openai" else server.url)
        settings = {"timeout_s": 2.0, "max_retries": 2, "model": "test-model", **llm}
        chosen = llm_config(None, backend=backend, base_url=base, **settings)
        backoff = Backoff(
            retries=chosen.max_retries,
            base_s=0.5,
            max_s=4.0,
            sleep=sleeps.append,
            rng=random.Random(7),
        )
        return Agent(session, make_tools(session), make_backend(chosen), config, backoff=backoff)

    return make


def usage(result) -> dict[str, int]:
    """What the server reported (the budget and its parts are in the record too)."""
    return {k: result.tokens[k] for k in ("prompt", "completion", "llm_calls")}


def depth_weight(session) -> float:
    return session.current.depth.weight


# --- TGI /generate (ReAct, OpenAssistant format) ----------------------------------------------


def test_tgi_generate_runs_a_react_tool_call_in_the_openassistant_format(agent, server, session):
    server.script(
        "/generate", generate(REACT_CALL, tokens=21), generate("Final Answer: Halved it.")
    )
    bot = agent("tgi", model="OpenAssistant/oasst-sft-4-pythia-12b")
    result = bot.turn(NOT_UNDERSTOOD)

    assert result.reply == "Halved it." and result.used_llm and not result.fell_back
    assert depth_weight(session) == 0.5
    assert server.paths() == ["/generate", "/generate"]
    first, second = (r.body for r in server.requests)
    prompt = first["inputs"]
    assert prompt.startswith("<|system|>") and prompt.endswith(
        f"<|prompter|>{NOT_UNDERSTOOD}<|endoftext|><|assistant|>"
    )
    assert (
        'set_weight(kind: "caption"|"people"|"depth", weight: number 0-2): Set how strongly'
        in prompt
    )
    assert "depth (on, weight 1" in prompt  # the priors, fresh
    parameters = first["parameters"]
    assert parameters["stop"] == ["Observation:", "<|endoftext|>", "<|prompter|>"]
    assert parameters["details"] is True and parameters["max_new_tokens"] == 512
    assert "<|prompter|>Observation: The depth prior's weight is now 0.5" in second["inputs"]
    assert result.tool_calls[0]["name"] == "set_weight" and result.tool_calls[0]["source"] == "llm"
    assert result.tokens["completion"] == 21 + 4 and result.tokens["llm_calls"] == 2
    assert result.tokens["prompt_estimated"] == 1  # /generate does not report the prompt's size


def test_tgi_sends_no_hugging_face_token_unless_configured(agent, server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_of_this_machine")
    server.script("/generate", generate("Final Answer: ok"), generate("Final Answer: ok"))
    agent("tgi", native_tools="off").turn(NOT_UNDERSTOOD)
    assert "authorization" not in server.requests[0].headers
    agent("tgi", native_tools="off", api_key="tgi-key").turn(NOT_UNDERSTOOD)
    assert server.requests[1].headers["authorization"] == "Bearer tgi-key"


def test_tgi_generate_stream_streams_only_the_final_answer(agent, server, session):
    server.script(
        "/generate_stream",
        generate_stream(
            [
                "Thought: weaken it\n",
                "Action: set_weight\n",
                'Action Input: {"kind": "depth", ',
                '"weight": 0.5}',
            ]
        ),
        generate_stream(["Thought: done\n", "Final Answer:", " Halved", " it."]),
    )
    seen: list[str] = []
    result = agent("tgi", native_tools="off").turn(NOT_UNDERSTOOD, on_token=seen.append)
    assert server.paths() == ["/generate_stream", "/generate_stream"]
    assert server.requests[0].body["stream"] is True
    assert "".join(seen).strip() == "Halved it." == result.reply
    assert depth_weight(session) == 0.5 and result.tokens["completion"] == 4 + 4


# --- TGI Messages API (native tools) ------------------------------------------------------------


def test_tgi_messages_api_tool_call_with_object_arguments(agent, server, session):
    server.script(
        CHAT,
        completion(None, [call("set_weight", {"kind": "depth", "weight": 0.5})], usage=(300, 20)),
        completion("Done: the depth map now counts half.", usage=(350, 12)),
    )
    result = agent("tgi", native_tools="on").turn(NOT_UNDERSTOOD)
    assert result.reply == "Done: the depth map now counts half." and depth_weight(session) == 0.5
    request = server.requests[0].body
    assert request["model"] == "test-model" and request["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in request["tools"]] == [
        "set_weight",
        "show_priors",
        "generate",
    ]
    assert request["messages"][0]["role"] == "system"
    assert "depth (on, weight 1" in request["messages"][0]["content"]
    followup = server.requests[1].body["messages"]
    assert followup[-2]["tool_calls"][0]["function"]["name"] == "set_weight"
    assert followup[-1]["role"] == "tool" and "weight is now 0.5" in followup[-1]["content"]
    assert usage(result) == {"prompt": 650, "completion": 32, "llm_calls": 2}


def test_tgi_messages_api_streaming_tool_call_pieces(agent, server, session):
    server.script(
        CHAT,
        completion_stream([], [("set_weight", ['{"kind": "dep', 'th", "wei', 'ght": 0.5}'])]),
        completion_stream(["Halved ", "the depth ", "weight."], usage=(60, 5)),
    )
    seen: list[str] = []
    result = agent("tgi", native_tools="on", stream=True).turn(NOT_UNDERSTOOD, on_token=seen.append)
    assert depth_weight(session) == 0.5
    assert "".join(seen) == "Halved the depth weight." == result.reply
    assert server.requests[0].body["stream"] is True
    assert result.tokens["prompt"] == 40 + 60


def test_tgi_auto_switches_to_react_when_the_messages_api_refuses_tools(agent, server, session):
    server.script(
        CHAT,
        Reply(
            status=422,
            body={
                "error": "Template error: tools are not supported",
                "error_type": "template_error",
            },
        ),
    )
    server.script("/generate", generate(REACT_CALL), generate("Final Answer: Halved."))
    bot = agent("tgi", native_tools="auto")
    result = bot.turn(NOT_UNDERSTOOD)
    assert server.paths() == [CHAT, "/generate", "/generate"]
    assert result.reply == "Halved." and depth_weight(session) == 0.5
    assert bot.backend.native_tools is False and "422" in bot.backend.switch_reason
    server.script("/generate", generate("Final Answer: still ReAct"))
    assert bot.turn("what now?").reply == "still ReAct"
    assert server.paths()[-1] == "/generate"


def test_tgi_under_hf_hub_offline_still_reaches_its_own_server(agent, server, monkeypatch):
    # HF_HUB_OFFLINE keeps huggingface_hub off the hub; the TGI server is the operator's own
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    server.script("/generate", generate("Final Answer: Understood."))
    result = agent("tgi", native_tools="off").turn(NOT_UNDERSTOOD)
    assert not result.fell_back and result.reply == "Understood."
    assert server.paths() == ["/generate"]


# --- OpenAI-compatible servers through langchain-openai -------------------------------------


def test_openai_compatible_tool_call_and_usage(agent, server, session, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-meant-for-openai-only")
    arguments = json.dumps({"kind": "depth", "weight": 0.5})
    server.script(
        CHAT,
        completion("", [call("set_weight", arguments, "call_abc")], usage=(120, 15)),
        completion("The depth map now counts half.", usage=(160, 9)),
    )
    result = agent("openai").turn(NOT_UNDERSTOOD)
    assert result.reply == "The depth map now counts half." and depth_weight(session) == 0.5
    assert server.paths() == [CHAT, CHAT]
    assert server.requests[0].headers["authorization"] == "Bearer no-key"  # not OPENAI_API_KEY
    sent = server.requests[1].body["messages"]
    assert sent[-1] == {
        "role": "tool",
        "tool_call_id": "call_abc",
        "content": "The depth prior's weight is now 0.5 (version 2).",
    }
    assert result.tool_calls[0]["id"] == "call_abc"
    assert usage(result) == {"prompt": 280, "completion": 24, "llm_calls": 2}


def test_openai_compatible_streaming_chunks(agent, server, session):
    server.script(
        CHAT,
        completion_stream(["Let me "], [("set_weight", ['{"kind":', ' "depth", "weight": 0.5}'])]),
        completion_stream(["Done", "."]),
    )
    seen: list[str] = []
    result = agent("openai", stream=True).turn(NOT_UNDERSTOOD, on_token=seen.append)
    assert depth_weight(session) == 0.5 and result.reply == "Done."
    assert "".join(seen) == "Let me Done."
    assert server.requests[0].body["stream"] is True
    assert usage(result) == {"prompt": 80, "completion": 16, "llm_calls": 2}


def test_openai_compatible_without_tool_support_uses_react_over_chat(agent, server, session):
    refusal = {"error": {"message": "registry/llama2 does not support tools", "type": "api_error"}}
    server.script(
        CHAT,
        Reply(status=400, body=refusal),
        completion(REACT_CALL),
        completion("Final Answer: Halved."),
    )
    result = agent("openai").turn(NOT_UNDERSTOOD)
    assert result.reply == "Halved." and depth_weight(session) == 0.5
    retried = server.requests[1].body
    assert "tools" not in retried and retried["stop"] == ["Observation:"]
    assert "set_weight(kind: " in retried["messages"][0]["content"]  # the ReAct tool list


# --- failures -------------------------------------------------------------------------------


def test_a_slow_server_times_out_is_retried_with_backoff_then_falls_back(
    agent, server, session, sleeps
):
    server.script("/generate", *[Reply(delay=1.5, body={}) for _ in range(3)])
    bot = agent(
        "tgi",
        native_tools="off",
        timeout_s=0.2,
        max_retries=2,
        config=AgentConfig(fast_path_confidence=0.95),
    )
    result = bot.turn("raise the arm")  # 0.9: below this agent's fast path, fine for fallback

    assert len(server.requests) == 3  # the first try and two retries
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0
    assert result.fell_back and not result.tokens["completion"]
    assert "text-generation-inference" in result.reply and "timeout" in result.reply
    assert "after 3 attempts" in result.reply and "built-in interpreter" in result.reply
    assert "Raised person 1's right arm" in result.reply  # the interpreter did it
    assert session.current.version == 2
    assert result.timings["llm"] >= 0.6


def test_a_server_that_is_down_falls_back_to_the_interpreter_and_says_so(agent, session, sleeps):
    bot = agent(
        "openai",
        url=f"http://127.0.0.1:{free_port()}/v1",
        config=AgentConfig(fast_path_confidence=0.95),
    )
    result = bot.turn("raise the arm")
    assert result.fell_back and result.path == "fallback"
    assert "connection refused" in result.reply.lower() or "cannot connect" in result.reply.lower()
    assert result.reply.startswith("(The language model — the OpenAI-compatible server at")
    assert "built-in interpreter handled this message" in result.reply
    assert session.current.version == 2 and len(sleeps) == 2
    recorded = session.turns()[-1]
    assert recorded.text == result.reply and recorded.tool_calls[0]["source"] == "interpreter"


def test_a_500_then_success_is_retried(agent, server, session, sleeps):
    server.script(
        "/generate",
        Reply(status=500, body={"error": "CUDA out of memory", "error_type": "generation"}),
        generate(REACT_CALL),
        generate("Final Answer: Halved."),
    )
    result = agent("tgi", native_tools="off").turn(NOT_UNDERSTOOD)
    assert result.reply == "Halved." and not result.fell_back and depth_weight(session) == 0.5
    assert len(server.requests) == 3 and len(sleeps) == 1


def test_a_refusal_is_not_retried(agent, server, sleeps):
    server.script(CHAT, Reply(status=401, body={"error": {"message": "bad key"}}))
    result = agent("openai", native_tools="on").turn(NOT_UNDERSTOOD)
    assert len(server.requests) == 1 and sleeps == []
    assert result.fell_back and "refused the request: HTTP 401" in result.reply


def test_a_stream_that_stalls_midway_is_not_repeated_to_the_user(agent, server):
    stalled = generate_stream(["Final Answer:", " Half", "ed", " it"])
    stalled.stall_after, stalled.stall = 2, 1.0
    server.script("/generate_stream", stalled)
    seen: list[str] = []
    bot = agent("tgi", native_tools="off", timeout_s=0.3)
    result = bot.turn(NOT_UNDERSTOOD, on_token=seen.append)
    assert len(server.requests) == 1  # not retried: the user had seen part of it
    assert seen == ["Half"]
    assert result.fell_back and "timeout" in result.reply


def test_malformed_react_call_gets_one_repair_then_a_clear_message(agent, server, session):
    server.script(
        "/generate",
        generate('Action: set_weight\nAction Input: {"kind": "depth", "weight":'),
        generate("Action: set_weight\nAction Input: depth, half"),
    )
    result = agent("tgi", native_tools="off").turn(NOT_UNDERSTOOD)
    assert len(server.requests) == 2
    repair = server.requests[1].body["inputs"]
    assert (
        "Your last reply could not be used: The Action Input of set_weight could not be" in repair
    )
    assert "not closed" in repair
    assert 'Action: set_weight\nAction Input: {"kind": <one of "caption", "people",' in repair
    assert result.reply.startswith("I could not act on this: the language model's tool call was")
    assert "malformed again after one correction" in result.reply
    assert "Nothing was changed" in result.reply and session.current.version == 1
    assert result.error.startswith("malformed tool call") and not result.fell_back


def test_malformed_react_call_repaired(agent, server, session):
    server.script(
        "/generate",
        generate("Action: set_weigth\nAction Input: {'kind': 'depth', 'weight': 0.5}"),
        generate(REACT_CALL),
        generate("Final Answer: Halved."),
    )
    result = agent("tgi", native_tools="off").turn(NOT_UNDERSTOOD)
    assert "There is no tool named “set_weigth”" in server.requests[1].body["inputs"]
    assert result.reply == "Halved." and depth_weight(session) == 0.5


def test_malformed_native_arguments_get_one_repair(agent, server, session):
    server.script(
        CHAT,
        completion(None, [call("set_weight", '{"kind": "depth", "weight": 0.5')]),
        completion(None, [call("set_weight", json.dumps({"kind": "depth", "weight": 0.5}))]),
        completion("Halved."),
    )
    result = agent("openai").turn(NOT_UNDERSTOOD)
    assert result.reply == "Halved." and depth_weight(session) == 0.5
    repair = server.requests[1].body["messages"][-1]
    assert (
        repair["role"] == "user"
        and "could not be used: The call to set_weight" in repair["content"]
    )
    assert (
        '{"kind": <one of "caption", "people", "depth">, "weight": <number>}' in repair["content"]
    )


def test_malformed_native_arguments_twice_end_with_a_clear_message(agent, server, session):
    broken = completion(None, [call("set_weight", "{kind: depth")])
    server.script(CHAT, broken, completion(None, [call("paint", "{}")]))
    result = agent("openai").turn(NOT_UNDERSTOOD)
    assert len(server.requests) == 2 and session.current.version == 1
    assert (
        "There is no tool named “paint”" in result.reply and "Nothing was changed" in result.reply
    )


def test_invalid_arguments_come_back_to_the_model_as_an_observation(agent, server, session):
    too_big = json.dumps({"kind": "depth", "weight": 7})
    server.script(
        CHAT,
        completion(None, [call("set_weight", too_big)]),
        completion(None, [call("set_weight", json.dumps({"kind": "depth", "weight": 2}), "c2")]),
        completion("Set to the maximum, 2."),
    )
    result = agent("openai").turn(NOT_UNDERSTOOD)
    error = server.requests[1].body["messages"][-1]
    assert (
        error["role"] == "tool"
        and "weight: Input should be less than or equal to 2" in error["content"]
    )
    assert depth_weight(session) == 2 and result.reply == "Set to the maximum, 2."
    assert [("error" in c, "result" in c) for c in result.tool_calls] == [
        (True, False),
        (False, True),
    ]
