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

from pydantic import BaseModel, Field, ValidationError
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
    profile: Profile = Field("sd15", description="Which group of model ids to use.")
    models: dict[str, str] = Field(
        default_factory=dict, description="Per-role model id overrides, e.g. {'base': 'my/model'}."
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', 'mps'.")
    dtype: DType = Field("auto", description="'auto' picks float16 on CUDA, float32 elsewhere.")
    hf_cache_dir: Path | None = Field(None, description="Hugging Face cache; default: HF_HOME's.")
    offline: bool = Field(False, description="Never try to download; only use cached weights.")
    tiny_dir: Path | None = Field(None, description="Tiny models folder; default in data_dir.")
    limits: Limits = Field(default_factory=Limits)
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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(
            f"Invalid configuration ({problems}). Check IMAGE_INTERPRETER_* variables"
            " and the TOML file."
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests build their own with `load_settings`."""
    return load_settings()
