"""Settings: one object, read from `IMAGE_INTERPRETER_*` environment variables and an optional TOML
file, so the CLI, web app, Slack bot and tests configure the same things the same way.

The TOML file is `$IMAGE_INTERPRETER_CONFIG` if set, else `image-interpreter.toml` in the working
directory if present. Environment variables win over the file. Nested values use `__`:
`IMAGE_INTERPRETER_LIMITS__MAX_PIXELS=20000000`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from image_interpreter.errors import SettingsError

Profile = Literal["sd15", "sdxl", "tiny"]
DType = Literal["auto", "float32", "float16", "bfloat16"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "image-interpreter"


class Limits(BaseModel):
    """Input limits; the defaults let any phone photo in and keep decompression bombs out."""

    max_pixels: int = Field(40_000_000, gt=0, description="Largest image accepted, in pixels.")
    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest upload accepted, in bytes.")
    max_aspect_ratio: float = Field(
        20.0,
        ge=1.0,
        le=10_000.0,
        description="Longest side over shortest accepted (20: a 1:20 strip). Extreme strips are"
        " refused at load; every resize bounds its output anyway.",
    )


# --- the LLM behind the agent ------------------------------------------------------------------

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
    tokenizer: str | None = Field(
        None,
        description="The model's tokenizer (hub id or local folder) for counting the prompt;"
        " default: `model` when it is a local folder or cached; else a conservative estimate.",
    )
    api_key: SecretStr | None = Field(None, description="Bearer token for the server, if any.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Per request, connect and read.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt.")
    backoff_s: float = Field(0.5, ge=0, le=60, description="First retry delay; doubles each time.")
    backoff_max_s: float = Field(8.0, ge=0, le=300, description="Largest retry delay.")
    context_tokens: int = Field(4096, ge=512, le=1_000_000, description="The model's context.")
    max_new_tokens: int = Field(512, ge=16, le=32_768, description="Longest reply generated.")
    max_answer_chars: int = Field(
        8000,
        ge=100,
        le=1_000_000,
        description="Longest answer kept from the model (a server may ignore max_new_tokens):"
        " a stream stops being read there, and the reply says the answer was clipped.",
    )
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
                f"{ENV_PREFIX}BASE_URL must start with http:// or https:// (got {self.base_url!r})"
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


# --- generation ---------------------------------------------------------------------------------


class ComputeConfig(BaseModel):
    """Where models run (`IMAGE_INTERPRETER_COMPUTE__*`): in this process on the per-device
    queue ('local', nothing to start), or as Ray Serve deployments shared by every app process
    ('ray'; see README "Running for a team")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "ray"] = Field("local", description="'local' or 'ray'.")
    address: str | None = Field(
        None,
        description="The Ray cluster (ray://host:10001 or 'auto'); default: the cluster this"
        " process is connected to, else a new local one.",
    )
    app_name: str = Field("image-interpreter", description="The Serve application's name.")
    generator_gpus: float = Field(1.0, ge=0, description="GPUs per generator replica.")
    extractor_gpus: float = Field(0.25, ge=0, description="GPUs per extractor replica.")
    ranker_gpus: float = Field(0.25, ge=0, description="GPUs per ranker (CLIP score) replica.")
    cpus_per_replica: float = Field(1.0, gt=0, description="CPUs per replica.")
    min_generator_replicas: int = Field(1, ge=0, description="Autoscaling lower bound.")
    max_generator_replicas: int = Field(1, ge=1, description="Autoscaling upper bound.")
    min_extractor_replicas: int = Field(1, ge=0, description="Autoscaling lower bound.")
    max_extractor_replicas: int = Field(1, ge=1, description="Autoscaling upper bound.")
    min_ranker_replicas: int = Field(1, ge=0, description="Autoscaling lower bound.")
    max_ranker_replicas: int = Field(1, ge=1, description="Autoscaling upper bound.")
    models_per_extractor_replica: int = Field(
        4, ge=1, description="Extractor models one replica keeps loaded (model multiplexing)."
    )
    retries: int = Field(
        1, ge=0, description="A request whose replica died is sent again this many times."
    )
    batch_wait_s: float = Field(
        0.05,
        ge=0,
        le=10,
        description="How long a generator replica waits for other sessions' compatible requests"
        " to draw them in one pipeline call (serve.batch); 0: no batching across sessions.",
    )
    max_batch_requests: int = Field(
        4, ge=1, le=64, description="Most requests a generator replica draws in one batch."
    )


class GenerationConfig(BaseModel):
    """How the generator uses memory and time (`IMAGE_INTERPRETER_GENERATION__*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_offload: bool = Field(
        False,
        description="Keep models in CPU memory and move each to the GPU only while it runs"
        " (slower, far less GPU memory). Has no effect on a CPU.",
    )
    vae_slicing: bool | None = Field(
        None, description="Decode a batch one image at a time. None: when the batch is large."
    )
    vae_tiling: bool | None = Field(
        None, description="Decode large images in tiles. None: above `vae_tiling_pixels`."
    )
    vae_slicing_pixels: int = Field(
        2 * 1024 * 1024, gt=0, description="Batch pixels (images x width x height) for slicing."
    )
    vae_tiling_pixels: int = Field(
        1536 * 1536, gt=0, description="Pixels of one image above which the VAE decodes in tiles."
    )
    channels_last: bool | None = Field(
        None, description="Channels-last memory format for UNet and ControlNets. None: on CUDA."
    )
    compile_unet: bool = Field(
        False, description="torch.compile the UNet (slow first call, faster afterwards)."
    )
    max_batch: int = Field(8, ge=1, le=64, description="Most images in one pipeline call.")
    oom_fallback: bool = Field(
        True, description="On out-of-memory, retry with half the batch, then with CPU offload."
    )
    text_cache_size: int = Field(64, ge=0, description="Text embeddings kept (0: no cache).")
    inpaint_grow: float = Field(
        1 / 64, ge=0.0, le=0.25, description="Grow inpainting masks by this part of the long side."
    )
    guidance_decoder: Literal["vae", "tiny"] = Field(
        "vae",
        description="Decoder of the predicted clean latent for prior guidance: the full VAE, or"
        " a tiny autoencoder (TAESD, role 'guidance.decoder'): much faster, a little blurrier.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IMAGE_INTERPRETER_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir, description="Sessions and artifacts.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite in data_dir. PostgreSQL URLs work too."
    )
    artifacts_url: str | None = Field(
        None,
        description="Where artifacts live: a folder (default data_dir/artifacts) or"
        " s3://bucket/prefix on S3-compatible storage (endpoint and credentials from the usual"
        " AWS variables, e.g. AWS_ENDPOINT_URL_S3).",
    )
    profile: Profile = Field("sd15", description="Which group of model ids to use.")
    models: dict[str, str] = Field(
        default_factory=dict,
        description="Per-role model id overrides, e.g. {'sd.base': 'my/model'}.",
    )
    controlnet_plus_plus: Path | None = Field(
        None,
        description="Folder holding the ControlNet++ checkpoints (`hf download"
        " limingcv/ControlNet-Plus-Plus --repo-type space --include 'checkpoints/*'`): on"
        " sd15 the segmentation, depth, canny, lineart and soft-edge roles use them.",
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', 'mps'.")
    dtype: DType = Field("auto", description="'auto' picks float16 on CUDA, float32 elsewhere.")
    hf_cache_dir: Path | None = Field(None, description="Hugging Face cache; default: HF_HOME's.")
    offline: bool = Field(False, description="Never try to download; only use cached weights.")
    tiny_dir: Path | None = Field(None, description="Tiny models folder; default in data_dir.")
    limits: Limits = Field(default_factory=Limits)
    llm: LLMConfig = Field(
        default_factory=LLMConfig, description="The agent's LLM; default: no LLM (interpreter)."
    )
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    compute: ComputeConfig = Field(
        default_factory=ComputeConfig, description="Where models run: this process or Ray Serve."
    )
    trusted_hub_repos: list[str] = Field(
        default_factory=list,
        description="torch.hub repositories allowed to run their code (e.g. 'ultralytics/yolov5').",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sessions.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def tiny_models_dir(self) -> Path:
        return self.tiny_dir or (self.data_dir / "tiny-models")


def config_file_path() -> Path | None:
    """The TOML file in force, or None. A named file that does not exist is an error."""
    named = os.environ.get("IMAGE_INTERPRETER_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(
                f"IMAGE_INTERPRETER_CONFIG points to {path}, which does not exist. "
                "Create it or unset the variable."
            )
        return path
    local = Path("image-interpreter.toml")
    return local if local.is_file() else None


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one readable SettingsError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise SettingsError(
            f"Invalid configuration ({problems}). Check IMAGE_INTERPRETER_* variables"
            " and the TOML file."
        ) from None


def _problem(err: dict) -> str:
    """One validation error, named both as a setting and as its environment variable."""
    path = [str(p) for p in err["loc"] if not isinstance(p, int)]
    message = str(err["msg"]).removeprefix("Value error, ")
    if not path:
        return message
    variable = "IMAGE_INTERPRETER_" + "__".join(part.upper() for part in path)
    return f"{'.'.join(path)} ({variable}): {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests build their own with `load_settings`."""
    return load_settings()
