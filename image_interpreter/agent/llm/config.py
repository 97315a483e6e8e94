"""Which LLM the agent talks to, and how: `LLMConfig`, read from `IMAGE_INTERPRETER_LLM__*`.

    IMAGE_INTERPRETER_LLM__BACKEND=tgi
    IMAGE_INTERPRETER_LLM__BASE_URL=http://localhost:8080
    IMAGE_INTERPRETER_LLM__MODEL=OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5

The default backend is the built-in interpreter: no LLM, no network.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from image_interpreter.errors import SettingsError
from image_interpreter.settings import (  # LLMConfig lives with the other settings
    ENV_PREFIX,
    Backend,
    ChatFormat,
    LLMConfig,
    NativeTools,
    Settings,
    load_settings,
    looks_like_openassistant,
)

__all__ = [
    "ENV_PREFIX",
    "Backend",
    "ChatFormat",
    "LLMConfig",
    "NativeTools",
    "llm_config",
    "looks_like_openassistant",
]


def llm_config(settings: Settings | None = None, **overrides: Any) -> LLMConfig:
    """The LLM configuration in force: `settings.llm` (environment `IMAGE_INTERPRETER_LLM__*` or
    the TOML file's `[llm]` table), with `overrides` winning. Invalid values raise one readable
    SettingsError."""
    settings = settings if settings is not None else load_settings()
    try:
        return LLMConfig(**{**settings.llm.model_dump(exclude_unset=True), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'llm'}:"
            f" {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise SettingsError(
            f"Invalid LLM configuration ({problems}). Check the {ENV_PREFIX}* variables."
        ) from None
