"""Finding extractors by what users call them: an extractor name, a short alias, or a prior kind.

Built-in extractors are the modules of `image_interpreter.extract.extractors`, imported on first
lookup (each registers itself; none imports torch at module level, so this is cheap). Other
packages add extractors through the `image_interpreter.extractors` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from importlib.metadata import entry_points

from image_interpreter.errors import ExtractionError
from image_interpreter.extract import extractors as builtin_package
from image_interpreter.extract.base import Extractor, registered

_loaded = False
_lock = threading.Lock()


def load_extractors() -> dict[str, type[Extractor]]:
    """Import every built-in and plugin extractor module once; return the registry."""
    global _loaded
    if not _loaded:
        with _lock:
            if not _loaded:
                for module in pkgutil.iter_modules(builtin_package.__path__):
                    importlib.import_module(f"{builtin_package.__name__}.{module.name}")
                for entry in entry_points(group="image_interpreter.extractors"):
                    entry.load()
                _loaded = True
    return registered()


def find_extractor(name: str) -> type[Extractor]:
    """The extractor for `name`: an exact name ("depth.midas"), an alias ("pose", "tags"), or a
    prior kind ("depth"), the last two meaning the default extractor."""
    table = load_extractors()
    key = name.strip().lower()
    if key in table:
        return table[key]
    matches = [cls for cls in table.values() if key in cls.aliases or key == cls.kind]
    defaults = [cls for cls in matches if cls.default]
    if len(defaults) == 1:
        return defaults[0]
    if len(matches) == 1:
        return matches[0]
    raise ExtractionError(
        f"Unknown extractor or kind '{name}'. Choose from: {', '.join(extractor_choices())}."
        if not matches
        else f"'{name}' is ambiguous: {', '.join(sorted(c.name for c in matches))}."
        " Name one of them."
    )


def extractor_choices() -> list[str]:
    """Everything a user may type: aliases and kinds first, then full names."""
    table = load_extractors()
    short = {alias for cls in table.values() for alias in cls.aliases}
    short |= {cls.kind for cls in table.values()}
    return sorted(short) + sorted(table)
