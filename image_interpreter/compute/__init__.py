"""Where models run: one interface, two implementations, chosen once by `compute.backend`.

- `local` (the default, nothing to start): models load in this process and run on its
  per-device queue (`generate/queue.py`).
- `ray`: the generator and the extractors are Ray Serve deployments shared by every app process
  (`deployments.py`); this process calls them through deployment handles (`remote.py`), with
  per-step progress streamed back, cancellation, and a retry when a replica dies.

The conversation core and the tools see the same `Services` either way (`tools/context.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from image_interpreter.settings import Settings


def is_remote(settings: Settings) -> bool:
    return settings.compute.backend == "ray"
