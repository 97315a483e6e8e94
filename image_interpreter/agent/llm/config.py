"""Which LLM the agent talks to, and how: `LLMConfig`, read from `IMAGE_INTERPRETER_LLM__*`.

    IMAGE_INTERPRETER_LLM__BACKEND=tgi
    IMAGE_INTERPRETER_LLM__BASE_URL=http://localhost:8080
    IMAGE_INTERPRETER_LLM__MODEL=OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5

The default backend is the built-in interpreter: no LLM, no network.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from image_interpreter.errors import SettingsError

Backend = Literal["interpreter", "tgi", "openai"]
NativeTools = Literal["auto", "on", "off"]
ChatFormat = Literal["auto", "openassistant", "generic", "chatml"]

ENV_PREFIX = "IMAGE_INTERPRETER_LLM__"


class LLMConfig(BaseModel):
    """The LLM backend and its limits. `native_tools`: 'on' sends tools through the server's tool
    calling, 'off' uses the ReAct text protocol, 'auto' uses tool calling and switches to ReAct
    when the server refuses tools (and starts with ReAct for OpenAssistant models on TGI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = Field("interpreter", description="'interpreter' (no LLM), 'tgi', 'openai'.")
    base_url: str | None = Field(
        None,
        description="TGI: the server root (http://host:8080). OpenAI-compatible: the API root,"
        " usually ending in /v1 (vLLM http://host:8000/v1, Ollama http://host:11434/v1).",
    )
    model: str | None = Field(
        None, description="Model name sent to the server (required by most OpenAI servers)."
    )
    api_key: SecretStr | None = Field(None, description="Bearer token for the server, if any.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Per request, connect and read.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt.")
    backoff_s: float = Field(0.5, ge=0, le=60, description="First retry delay; doubles each time.")
    backoff_max_s: float = Field(8.0, ge=0, le=300, description="Largest retry delay.")
    context_tokens: int = Field(4096, ge=512, le=1_000_000, description="The model's context.")
    max_new_tokens: int = Field(512, ge=16, le=32_768, description="Longest reply generated.")
    native_tools: NativeTools = "auto"
    chat_format: ChatFormat = Field(
        "auto",
        description="Prompt format for TGI's /generate (ReAct without tool calling); 'auto':"
        " OpenAssistant for oasst models, else generic.",
    )
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    stream: bool = Field(False, description="Use the streaming endpoints (SSE).")

    @model_validator(mode="after")
    def _needs_a_server(self) -> LLMConfig:
        if self.backend != "interpreter" and not self.base_url:
            raise ValueError(
                f"backend '{self.backend}' needs a base_url (set {ENV_PREFIX}BASE_URL)"
            )
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https:// (got {self.base_url!r})"
            )
        return self

    @property
    def uses_llm(self) -> bool:
        return self.backend != "interpreter"

    def resolved_chat_format(self) -> Literal["openassistant", "generic", "chatml"]:
        if self.chat_format != "auto":
            return self.chat_format
        return "openassistant" if looks_like_openassistant(self.model) else "generic"

    def where(self) -> str:
        """For messages: 'TGI at http://...'."""
        names = {"tgi": "text-generation-inference", "openai": "the OpenAI-compatible server"}
        return f"{names.get(self.backend, self.backend)} at {self.base_url}"


def looks_like_openassistant(model: str | None) -> bool:
    name = (model or "").lower()
    return "oasst" in name or "openassistant" in name


def _env_settings_class() -> type[BaseSettings]:
    """A pydantic-settings class with LLMConfig's fields (all optional), so the environment is
    read by the library's rules (types, `true`/`1`, JSON) and LLMConfig alone sets defaults."""
    fields: dict[str, Any] = {
        name: (field.annotation | None, None) for name, field in LLMConfig.model_fields.items()
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        "LLMEnvSettings",
        __base__=BaseSettings,
        __config__=None,
        **fields,
    )


LLMEnvSettings = _env_settings_class()
LLMEnvSettings.model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")
LLMEnvSettings.model_rebuild(force=True)


def llm_config(settings: Any = None, **overrides: Any) -> LLMConfig:
    """The LLM configuration in force: `settings.llm` if the Settings object has one, else the
    `IMAGE_INTERPRETER_LLM__*` environment variables; `overrides` win. Invalid values raise one
    readable SettingsError."""
    try:
        found = getattr(settings, "llm", None)
        if isinstance(found, BaseModel):
            base = found.model_dump(exclude_unset=True)
        else:
            base = LLMEnvSettings().model_dump(exclude_unset=True)
        return LLMConfig(**{**base, **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'llm'}:"
            f" {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise SettingsError(
            f"Invalid LLM configuration ({problems}). Check the {ENV_PREFIX}* variables."
        ) from None
