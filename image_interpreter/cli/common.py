"""What every subcommand shares: the consoles and the settings in force for a command.

Kept apart from `cli.main` (which discovers and registers the subcommands) so that a command
module can be imported on its own without importing every other command first."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from image_interpreter.settings import Settings

# C0 controls but tab and newline, DEL, and C1 controls (0x9b is a one-byte CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` without control characters: a session title, photo name or reply holding escape
    sequences is printed as its visible characters, never run by the terminal."""
    return _CONTROL.sub("", text)


class TerminalConsole(Console):
    """A rich Console that strips control characters from every string it renders (printed text,
    table cells, tree labels), so no caller has to remember to."""

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Text:
        return super().render_str(terminal_safe(text), *args, **kwargs)


console = TerminalConsole()
err_console = TerminalConsole(stderr=True)


def settings_from(ctx: typer.Context) -> Settings:
    """Settings for a command: environment + TOML + the global options (pydantic-settings is
    imported here, when a command runs, not for `--help`)."""
    from image_interpreter.settings import load_settings

    root = ctx.find_root()
    return load_settings(**(root.obj or {}))
