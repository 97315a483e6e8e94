"""LLM configuration from the environment, backoff timing, chat formats and error kinds."""

from __future__ import annotations

import random

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from image_interpreter.agent.llm import (
    Attempts,
    Backoff,
    LLMConfig,
    LLMRequestError,
    LLMUnavailable,
    ToolsUnsupported,
    call_with_retries,
    classify,
    llm_config,
    make_backend,
)
from image_interpreter.agent.llm.formats import FORMATS
from image_interpreter.errors import SettingsError
from image_interpreter.settings import load_settings


def test_the_default_is_the_interpreter_without_any_llm():
    config = llm_config(load_settings())
    assert config.backend == "interpreter" and not config.uses_llm
    assert make_backend(config) is None


def test_environment_variables_choose_and_configure_the_backend(monkeypatch):
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__BACKEND", "tgi")
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__BASE_URL", "http://gpu-box:8080")
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__MODEL", "OpenAssistant/oasst-sft-4-pythia-12b")
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__API_KEY", "s3cret")
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__TIMEOUT_S", "12.5")
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__STREAM", "true")
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__NATIVE_TOOLS", "off")
    config = llm_config(load_settings())  # the main settings do not mind the LLM variables
    assert (config.backend, config.base_url, config.timeout_s) == (
        "tgi",
        "http://gpu-box:8080",
        12.5,
    )
    assert config.stream is True and config.native_tools == "off"
    assert config.api_key.get_secret_value() == "s3cret" and "s3cret" not in repr(config)
    assert config.resolved_chat_format() == "openassistant"
    assert config.max_retries == 2 and config.context_tokens == 4096  # defaults kept
    assert llm_config(None, timeout_s=3).timeout_s == 3  # overrides win


def test_a_settings_object_with_an_llm_section_is_used_first(monkeypatch):
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__BACKEND", "tgi")

    class WithLLM:
        llm = LLMConfig(backend="openai", base_url="http://localhost:11434/v1", model="llama3.1")

    config = llm_config(WithLLM())
    assert config.backend == "openai" and config.model == "llama3.1"


@pytest.mark.parametrize(
    "variables,problem",
    [
        ({"BACKEND": "tgi"}, "needs a base_url"),
        ({"BACKEND": "vllm"}, "backend"),
        ({"BACKEND": "openai", "BASE_URL": "localhost:8000"}, "must start with http"),
        ({"TIMEOUT_S": "-1"}, "timeout_s"),
        ({"NATIVE_TOOLS": "maybe"}, "native_tools"),
    ],
)
def test_invalid_configuration_is_one_readable_error(monkeypatch, variables, problem):
    for name, value in variables.items():
        monkeypatch.setenv(f"IMAGE_INTERPRETER_LLM__{name}", value)
    with pytest.raises(SettingsError, match=problem) as caught:
        llm_config(None)
    assert "IMAGE_INTERPRETER_LLM__" in str(caught.value)


def test_backends_are_built_from_the_config():
    tgi = make_backend(LLMConfig(backend="tgi", base_url="http://h:8080/", model="mistral"))
    assert tgi.name == "tgi" and tgi.native_tools and tgi.root == "http://h:8080"
    oasst = make_backend(LLMConfig(backend="tgi", base_url="http://h:8080", model="oasst-sft-1"))
    assert not oasst.native_tools  # OpenAssistant: ReAct from the start
    forced = make_backend(
        LLMConfig(backend="tgi", base_url="http://h:8080", model="oasst", native_tools="on")
    )
    assert forced.native_tools
    openai = make_backend(LLMConfig(backend="openai", base_url="http://h:8000/v1", model="q"))
    assert openai.name == "openai" and openai.model.max_retries == 0


def test_backoff_doubles_with_jitter_and_a_cap():
    backoff = Backoff(retries=6, base_s=0.5, max_s=3.0, rng=random.Random(3))
    delays = [backoff.delay(n) for n in range(6)]
    nominal = [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True))
    assert len({round(d, 6) for d in delays[3:]}) == 3  # jittered, not equal


def test_retries_stop_at_the_deadline():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def down():
        raise httpx.ConnectError("[Errno 111] Connection refused")

    backoff = Backoff(
        retries=5, base_s=1.0, max_s=8.0, sleep=sleep, rng=random.Random(0), clock=lambda: now[0]
    )
    attempts = Attempts()
    with pytest.raises(LLMUnavailable, match="connection refused"):
        call_with_retries(down, backoff, deadline=2.5, attempts=attempts)
    assert sum(slept) <= 2.5 and attempts.calls == len(slept) + 1 < 6


def test_errors_are_classified_by_what_the_loop_should_do():
    request = httpx.Request("POST", "http://h/v1/chat/completions")

    def status(code: int, text: str = "") -> httpx.HTTPStatusError:
        response = httpx.Response(code, text=text, request=request)
        return httpx.HTTPStatusError("x", request=request, response=response)

    assert isinstance(classify(httpx.ConnectError("Connection refused")), LLMUnavailable)
    assert isinstance(classify(httpx.ReadTimeout("slow")), LLMUnavailable)
    assert isinstance(classify(status(503)), LLMUnavailable)
    assert isinstance(classify(status(429)), LLMUnavailable)
    assert type(classify(status(401, "bad key"))) is LLMRequestError
    assert isinstance(
        classify(status(400, "tools not supported"), with_tools=True), ToolsUnsupported
    )
    assert type(classify(status(400, "tools not supported"))) is LLMRequestError


def test_chat_formats_render_a_conversation_for_generate():
    messages = [
        SystemMessage("Be brief."),
        HumanMessage("hi"),
        AIMessage("hello"),
        HumanMessage("raise her arm"),
    ]
    assert FORMATS["openassistant"].render(messages) == (
        "<|system|>Be brief.<|endoftext|><|prompter|>hi<|endoftext|><|assistant|>hello"
        "<|endoftext|><|prompter|>raise her arm<|endoftext|><|assistant|>"
    )
    assert FORMATS["generic"].render(messages).endswith("User: raise her arm\n\nAssistant:")
    assert FORMATS["chatml"].render(messages).endswith("<|im_start|>assistant\n")
    assert FORMATS["openassistant"].clean("Sure.<|endoftext|><|prompter|>more") == "Sure."
