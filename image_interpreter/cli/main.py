"""The root Typer app: global options, settings, error display, and command discovery."""

from __future__ import annotations

import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from image_interpreter.cli.common import console, err_console, settings_from
from image_interpreter.errors import ImageInterpreterError
from image_interpreter.models.tiny import on_first_build

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
    _unwrap_help(app)


def _unwrap_help(typer_app: typer.Typer) -> None:
    """Docstrings are wrapped for the source, not the terminal: join the lines of each paragraph
    (typer's rich help keeps them, so help breaks mid-sentence), and let the terminal wrap."""
    for command in typer_app.registered_commands:
        text = command.help or (command.callback.__doc__ if command.callback else None)
        if text:
            command.help = unwrap(text)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            info = group.typer_instance.info
            callback = info.callback
            text = group.help or info.help or (callback.__doc__ if callback else None)
            if isinstance(text, str):
                info.help = unwrap(text)
            _unwrap_help(group.typer_instance)


def unwrap(text: str) -> str:
    """Each paragraph of `text` on one line (a paragraph starting with \\b is kept as it is)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def _conventional_help() -> None:
    """Usage and options as command lines write them: a flag is `--list`, not `--list <bool>`
    (it takes no value); a required argument is `PRIORS`, not `{PRIORS}`."""
    from typer import core

    option, argument = core.TyperOption, core.TyperArgument
    if hasattr(option, "display_type_rich"):
        shown = option.display_type_rich

        def display_type_rich(self, ctx):  # type: ignore[no-untyped-def]
            return None if self.is_flag else shown(self, ctx)

        option.display_type_rich = display_type_rich
    if hasattr(argument, "_usage_display_name"):

        def usage_name(self) -> str:  # type: ignore[no-untyped-def]
            name = self.display_name_raw.upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        argument._usage_display_name = usage_name


def run() -> None:
    """Console entry point: user-facing errors print as one line, not a traceback."""
    try:
        app()
    except ImageInterpreterError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(1)


_conventional_help()
_register_commands()
on_first_build(lambda message: err_console.print(message, highlight=False, soft_wrap=True))
