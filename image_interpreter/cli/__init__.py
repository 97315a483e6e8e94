"""The `image-interpreter` command line: one subcommand per capability.

Subcommands register themselves through the `image_interpreter.commands` entry-point group (see
pyproject.toml), the way plugins extend simonw/llm: each part of the package (and any third-party
package) adds its own commands in one `register(app)` function, and this module never lists them.
"""

from image_interpreter.cli.main import app

__all__ = ["app"]
