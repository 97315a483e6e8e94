"""`image-interpreter models`: which model fills each role, and whether it is on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from image_interpreter.cli.common import console, settings_from

if TYPE_CHECKING:
    from image_interpreter.settings import Settings

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
    from image_interpreter.models.hub import hub_cache_dir, offline_mode, offline_reason
    from image_interpreter.models.registry import load_role_modules, model_id, roles

    settings = settings_from(ctx)
    load_role_modules()  # extractors, upscalers, ... register their roles when imported
    offline = offline_mode(settings)
    rows = [(name, model_id(name, settings)) for name in sorted(roles())]
    rows3 = [(name, _status(name, ident, settings, offline), ident) for name, ident in rows]
    header = ("role", "status", "model")
    if console.is_terminal:
        table = Table(*header, title=f"Models for profile '{settings.profile}'",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      title_justify="left", title_style="bold")  # fmt: skip
        table.columns[0].no_wrap = table.columns[1].no_wrap = True
        table.columns[2].overflow = "fold"
        for row in rows3:
            table.add_row(*row)
        console.print(table)
    else:  # piped: one plain line per role, never wrapped or cut, for grep and awk
        typer.echo(f"Models for profile '{settings.profile}'")
        widths = [max(len(row[i]) for row in [header, *rows3]) for i in (0, 1)]
        for row in [header, *rows3]:
            typer.echo(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}")
    notes = [_LEGEND, f"Hugging Face cache: {hub_cache_dir(settings)}"]
    if offline:
        notes.append(f"offline: will not download ({offline_reason(settings)})")
    for note in notes:
        console.print(note, highlight=False, soft_wrap=not console.is_terminal)


_LEGEND = (
    "status: cached/local: here; download: fetched on first use; missing: not here and offline;"
    " built/build: tiny, built here on first use; other: a URL, torchvision or torch.hub model"
    " (their own caches)"
)


def _status(role: str, ident: str, settings: Settings, offline: bool) -> str:
    from image_interpreter.models.hub import in_hub_cache, on_hf_hub
    from image_interpreter.models.tiny import is_tiny, tiny_path

    if is_tiny(ident):
        return "built" if tiny_path(ident, settings).is_dir() else "build"
    if Path(ident).expanduser().exists():
        return "local"
    if not on_hf_hub(role, settings):
        return "other"
    if in_hub_cache(ident, settings):
        return "cached"
    return "missing" if offline else "download"


@models_app.command("build-tiny")
def build_tiny(
    ctx: typer.Context,
    role: Annotated[str | None, typer.Argument(help="Only this role's model.")] = None,
) -> None:
    """Build the tiny random-weight models now (they are otherwise built on first use).

    Example: image-interpreter models build-tiny
    """
    from image_interpreter.models.registry import load_role_modules, model_id, roles
    from image_interpreter.models.tiny import ensure_tiny

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
