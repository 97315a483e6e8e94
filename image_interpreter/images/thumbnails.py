"""Small PNG copies of stored pictures, for chat replies and tool results."""

from __future__ import annotations

import io

from PIL import Image


def png_thumbnail(data: bytes, size: int) -> bytes:
    """PNG bytes of the picture with its longest side at most `size` (the same bytes when they
    are already a PNG that small)."""
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= size and image.format == "PNG":
            return data
        picture = image.convert("RGB")
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
