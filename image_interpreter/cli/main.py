"""The root Typer app: global options, settings, error display, and command discovery."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from image_interpreter.cli.common import console, err_console, settings_from
from image_interpreter.errors import ImageInterpreterError

__all__ = ["app", "console", "err_console", "run", "settings_from"]

app = typer.Typer(
    name="image-interpreter",
    help=(
        "Edit pictures by talking about their structure: extract priors (pose, depth, objects,"
        " captions) from a photo, change them, generate new images from them.\n\n"
        "Examples:\n\n"
        "  image-interpreter session new photo.jpg\n\n"
        "  image-interpreter session list\n\n"
        "  image-interpreter schema > priorset.schema.json"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str | None, typer.Option(help="Model profile: sd15, sdxl or tiny (no download).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder for sessions and artifacts.")
    ] = None,
) -> None:
    """Global options override IMAGE_INTERPRETER_* variables and the TOML file."""
    overrides: dict[str, object] = {}
    if profile is not None:
        overrides["profile"] = profile
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    ctx.obj = overrides


def _register_commands() -> None:
    for entry in sorted(entry_points(group="image_interpreter.commands"), key=lambda e: e.name):
        entry.load()(app)


def run() -> None:
    """Console entry point: user-facing errors print as one line, not a traceback."""
    try:
        app()
    except ImageInterpreterError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(1)


_register_commands()
