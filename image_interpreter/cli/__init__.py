"""The `image-interpreter` command line: one subcommand per capability.

Subcommands register themselves through the `image_interpreter.commands` entry-point group (see
pyproject.toml), the way plugins extend simonw/llm: each part of the package (and any third-party
package) adds its own commands in one `register(app)` function, and this package never lists them.
`app` is built on first access, so a command module importing `cli.common` does not import every
other command.
"""

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from image_interpreter.cli.main import app

        return app
    raise AttributeError(name)
