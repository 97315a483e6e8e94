"""Prompts live here as text files, shipped with the package, so they can be read, diffed and
reviewed as text rather than hunted for inside code."""

from __future__ import annotations

from importlib.resources import files
from string import Template

from image_interpreter.errors import ImageInterpreterError


def load_prompt(name: str, **values: str) -> str:
    """The prompt `name` (a file `name.txt` here) with `$placeholders` filled from `values`.

    A placeholder left unfilled is an error: a prompt with a literal `$priors` in it would mislead
    the model silently."""
    resource = files(__package__).joinpath(f"{name}.txt")
    if not resource.is_file():
        known = sorted(p.name.removesuffix(".txt") for p in files(__package__).iterdir()
                       if p.name.endswith(".txt"))  # fmt: skip
        raise ImageInterpreterError(f"No prompt '{name}'. Prompts: {', '.join(known)}.")
    try:
        return Template(resource.read_text(encoding="utf-8")).substitute(values)
    except KeyError as exc:
        raise ImageInterpreterError(f"Prompt '{name}' needs a value for ${exc.args[0]}.") from None
