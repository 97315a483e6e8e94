"""A small thread-safe LRU of control images, so an edit re-renders only the priors it changed.

Keys are (kind, hash of what the prior draws, size, options): a new PriorSet version whose depth
map is the same hits the cache for depth while its edited skeleton misses. Images are copied on
the way out, so a caller drawing on its image cannot change what the next caller gets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from PIL import Image

RenderKey = tuple[str, str, tuple[int, int], tuple[tuple[str, Any], ...]]


class RenderCache:
    """The `maxsize` most recently used control images (a 1024x1024 one is 3 MiB)."""

    def __init__(self, maxsize: int = 16):
        if maxsize < 1:
            raise ValueError("A RenderCache holds at least one image.")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._images: OrderedDict[RenderKey, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: RenderKey) -> Image.Image | None:
        """A copy of the image stored under `key`, or None."""
        with self._lock:
            image = self._images.get(key)
            if image is None:
                self.misses += 1
                return None
            self._images.move_to_end(key)
            self.hits += 1
        return image.copy()

    def put(self, key: RenderKey, image: Image.Image) -> None:
        """Store `image` (not copied: hand over one nobody else holds); evicts the oldest."""
        with self._lock:
            self._images[key] = image
            self._images.move_to_end(key)
            while len(self._images) > self.maxsize:
                self._images.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._images.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._images)
