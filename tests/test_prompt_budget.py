"""Every request fits a small model's context, by design: the scripted dialogues played through
a loopback TGI that counts with a locally built tokenizer and refuses, as TGI does (422), any
request whose input plus `max_new_tokens` passes its limit. OpenAssistant's format (ReAct on
/generate) with 2,048 tokens, native tool calling (the Messages API) with 4,096. And the tool
descriptions stay small enough that every tool can be offered within those limits."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
import pytest
from tgi_server import LoopbackTGI, build_tokenizer

from image_interpreter.agent.budget import TOOLS_SHARE, Budget
from image_interpreter.agent.dialogue import Runtime, load_dialogue, run_dialogue
from image_interpreter.agent.llm import LLMConfig
from image_interpreter.agent.llm.tgi import TGIBackend
from image_interpreter.agent.llm.tokens import load_counter
from image_interpreter.agent.react import describe_tools
from image_interpreter.settings import load_settings
from image_interpreter.tools import Toolbox, make_tools
from image_interpreter.tools.compact import ALWAYS, compact_specs

HERE = Path(__file__).parent / "dialogues"
MAX_NEW = 512
SETUPS = {
    # name: (context tokens, LLM settings)
    "oasst-2048": (
        2048,
        {"model": "OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5", "native_tools": "off"},
    ),
    "tools-4096": (4096, {"model": "tgi", "native_tools": "on"}),
}


def _scripted(path: Path) -> bool:
    return "scripted" in load_dialogue(path).run_modes()


def _one_call_per_step(path: Path) -> bool:
    """ReAct says one action per step: a scripted reply with several tool calls (the tool-call
    bound's dialogue) is for native tool calling only."""
    return all(len(r.tool_calls) <= 1 for t in load_dialogue(path).turns for r in t.model)


CASES = [
    pytest.param(path, setup, id=f"{path.stem}-{setup}")
    for path in sorted(HERE.glob("*.yaml"))
    if _scripted(path)
    for setup in SETUPS
    if setup != "oasst-2048" or _one_call_per_step(path)
]


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    settings = load_settings(
        profile="tiny",
        device="cpu",
        data_dir=tmp_path_factory.mktemp("budget-dialogues"),
        tiny_dir=tmp_path_factory.getbasetemp() / "generate-tiny-models",
    )
    shared = Runtime.open(settings)
    yield shared
    shared.close()


def _llm(server: LoopbackTGI, tokenizer: Path, setup: str) -> LLMConfig:
    context, options = SETUPS[setup]
    return LLMConfig(
        backend="tgi",
        base_url=server.url,
        tokenizer=str(tokenizer),
        context_tokens=context,
        max_new_tokens=MAX_NEW,
        max_retries=0,
        timeout_s=20,
        **options,
    )


@pytest.mark.parametrize(("path", "setup"), CASES)
def test_the_dialogue_fits_the_context_through_a_tgi_that_enforces_it(
    path, setup, tokenizer, runtime
):
    context = SETUPS[setup][0]
    servers: list[LoopbackTGI] = []

    def connect(dialogue):
        server = LoopbackTGI(tokenizer=tokenizer, max_total_tokens=context).start()
        servers.append(server)
        return server, TGIBackend(_llm(server, tokenizer, setup))

    try:
        report = run_dialogue(load_dialogue(path), "scripted", runtime, connect=connect)
    finally:
        for server in servers:
            server.stop()
    (server,) = servers
    assert server.refused == [], server.refused  # TGI would have answered these with 422
    assert report.passed, "\n".join(report.failures())
    largest = max(server.largest.values(), default=0)
    assert largest + MAX_NEW <= context


@pytest.mark.parametrize("setup", SETUPS)
def test_every_tool_can_be_offered_within_its_share_of_the_budget(setup, tokenizer, runtime):
    """Fails when a tool's description or schema grows past what the 2,048 / 4,096-token
    budgets give tools: the always-offered ones together, and each other tool beside them."""
    context, options = SETUPS[setup]
    native = options["native_tools"] == "on"
    count = load_counter(str(tokenizer))
    assert count.exact
    share = int(Budget.for_model(context, MAX_NEW, exact=True).tokens * TOOLS_SHARE)
    session = runtime.store.create(title="tool sizes")
    specs = compact_specs(make_tools(Toolbox(session, runtime.store, runtime.services)))

    def cost(chosen):
        if native:
            return count(json.dumps([s.openai() for s in chosen]))
        return count(describe_tools(chosen))

    always = [s for s in specs if s.name in ALWAYS]
    assert cost(always) <= share, (cost(always), share)
    for spec in specs:
        if spec.name not in ALWAYS:
            assert cost([*always, spec]) <= share, (spec.name, cost([*always, spec]), share)
