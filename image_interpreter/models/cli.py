"""`image-interpreter models`: which model fills each role, and whether it is on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from image_interpreter.cli.common import console, settings_from
from image_interpreter.models.loading import hub_cache_dir
from image_interpreter.models.registry import load_role_modules, model_id, roles
from image_interpreter.models.tiny import ensure_tiny, is_tiny, tiny_path

models_app = typer.Typer(help="Model ids per role for the profile in use.", no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def list_models(ctx: typer.Context) -> None:
    """List each role's model id and whether its weights are here.

    Example: image-interpreter --profile sdxl models
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_from(ctx)
    load_role_modules()  # extractors, upscalers, ... register their roles when imported
    cache = hub_cache_dir(settings)
    table = Table(title=f"Models for profile '{settings.profile}'")
    table.add_column("role", no_wrap=True)
    table.add_column("model id", overflow="fold", min_width=24)
    table.add_column("here?")
    for name in sorted(roles()):
        ident = model_id(name, settings)
        if is_tiny(ident):
            here = "built" if tiny_path(ident, settings).is_dir() else "built on first use"
        elif Path(ident).expanduser().exists():
            here = "local folder"
        else:
            folder = cache / ("models--" + ident.replace("/", "--"))
            here = "cached" if folder.is_dir() else "downloads on first use"
        table.add_row(name, ident, here)
    console.print(table)
    console.print(f"Hugging Face cache: {cache}", soft_wrap=True)


@models_app.command("build-tiny")
def build_tiny(
    ctx: typer.Context,
    role: Annotated[str | None, typer.Argument(help="Only this role's model.")] = None,
) -> None:
    """Build the tiny random-weight models now (they are otherwise built on first use).

    Example: image-interpreter models build-tiny
    """
    settings = settings_from(ctx).model_copy(update={"profile": "tiny", "models": {}})
    load_role_modules()
    wanted = [role] if role else sorted(roles())
    built: set[str] = set()
    for name in wanted:
        ident = model_id(name, settings)
        if ident in built:
            continue
        path = ensure_tiny(ident, settings)
        built.add(ident)
        console.print(f"{ident}: {path}", soft_wrap=True)
