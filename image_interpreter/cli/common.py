"""What every subcommand shares: the consoles and the settings in force for a command.

Kept apart from `cli.main` (which discovers and registers the subcommands) so that a command
module can be imported on its own without importing every other command first."""

from __future__ import annotations

import typer
from rich.console import Console

from image_interpreter.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def settings_from(ctx: typer.Context) -> Settings:
    """Settings for a command: environment + TOML + the global options."""
    root = ctx.find_root()
    return load_settings(**(root.obj or {}))
