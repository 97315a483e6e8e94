"""LLM backends for the agent, chosen by `LLMConfig.backend`:

- `interpreter` (the default): no LLM; `make_backend` returns None and the agent uses only the
  built-in command interpreter;
- `tgi`: text-generation-inference through huggingface_hub's InferenceClient (`/generate`,
  `/generate_stream` for the ReAct protocol; the Messages API for native tool calling);
- `openai`: any OpenAI-compatible server through langchain-openai's ChatOpenAI.
"""

from __future__ import annotations

from image_interpreter.agent.llm.base import LLMBackend, LLMReply, OnToken
from image_interpreter.agent.llm.config import LLMConfig, llm_config
from image_interpreter.agent.llm.errors import (
    LLMError,
    LLMRequestError,
    LLMUnavailable,
    ToolsUnsupported,
    classify,
)
from image_interpreter.agent.llm.retry import Attempts, Backoff, call_with_retries


def make_backend(config: LLMConfig) -> LLMBackend | None:
    """The backend `config` names; None for the built-in interpreter."""
    if config.backend == "tgi":
        from image_interpreter.agent.llm.tgi import TGIBackend

        return TGIBackend(config)
    if config.backend == "openai":
        from image_interpreter.agent.llm.openai_compat import OpenAIBackend

        return OpenAIBackend(config)
    return None


__all__ = [
    "Attempts",
    "Backoff",
    "LLMBackend",
    "LLMConfig",
    "LLMError",
    "LLMReply",
    "LLMRequestError",
    "LLMUnavailable",
    "OnToken",
    "ToolsUnsupported",
    "call_with_retries",
    "classify",
    "llm_config",
    "make_backend",
]
