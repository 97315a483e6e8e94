"""Tiling: run an image model on overlapping tiles and blend them back without seams.

A tile's output is weighted by a ramp across each overlap it shares with a neighbour: zero over
the outer quarter of the overlap (where the tile lacks context and differs most from an untiled
run), rising linearly to one over the middle half, one beyond. Where two tiles overlap their
weights sum to one, so an overlap is a cross-fade; at the image's own borders there is no ramp.
With all tiles the same size, the callable can take several at once (one batched call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Tile:
    """A tile in input coordinates: rows y0:y1, columns x0:x1."""

    y0: int
    y1: int
    x0: int
    x1: int


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Start offsets of tiles of `tile` covering `length`, neighbours overlapping by at least
    `overlap`; the last tile ends at `length`. Starts are multiples of `multiple` when `length`
    and `tile` are."""
    if tile >= length:
        return [0]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def plan_tiles(
    height: int, width: int, tile: int | None, overlap: int, multiple: int = 1
) -> list[Tile]:
    """The tiles covering a height x width image (one tile if `tile` is None or large enough)."""
    if tile is None:
        return [Tile(0, height, 0, width)]
    check_tiling(tile, overlap)
    th, tw = min(tile, height), min(tile, width)
    return [
        Tile(y, y + th, x, x + tw)
        for y in tile_starts(height, th, overlap, multiple)
        for x in tile_starts(width, tw, overlap, multiple)
    ]


def check_tiling(tile: int, overlap: int) -> None:
    if tile < 8:
        raise ValueError(f"A tile must be at least 8 pixels wide, not {tile}.")
    if overlap < 0 or 2 * overlap > tile:
        raise ValueError(
            f"The tile overlap must be between 0 and half the tile size ({tile // 2}), not"
            f" {overlap}."
        )


def ramp(start: int, size: int, total: int, overlap: int, scale: int) -> torch.Tensor:
    """Blend weights along one axis for a tile at `start` of `size` (input units) in an image
    of `total`, sampled at the output's `scale`: a ramp at each edge that is not the image's."""
    import torch

    n = size * scale
    if overlap <= 0:
        return torch.ones(n)
    pos = (torch.arange(n, dtype=torch.float64) + 0.5) / scale
    weight = torch.ones(n, dtype=torch.float64)
    quarter, half = overlap / 4, overlap / 2
    if start > 0:
        weight *= ((pos - quarter) / half).clamp(0, 1)
    if start + size < total:
        weight *= ((size - pos - quarter) / half).clamp(0, 1)
    return weight.float()


def run_tiled(
    fn: Callable[[Sequence[Tile]], torch.Tensor],
    tiles: Sequence[Tile],
    height: int,
    width: int,
    *,
    scale: int,
    overlap: int,
    batch: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Blend `fn(tiles) -> (len(tiles), C, h*scale, w*scale)` outputs into (1, C, H*scale,
    W*scale). A single tile is returned as `fn` made it, untouched."""
    import torch

    if len(tiles) == 1 and (tiles[0].y1 - tiles[0].y0, tiles[0].x1 - tiles[0].x0) == (
        height,
        width,
    ):
        out = fn(tiles)
        if progress is not None:
            progress(1, 1)
        return out
    total: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    done = 0
    for first in range(0, len(tiles), max(1, batch)):
        group = tiles[first : first + max(1, batch)]
        outputs = fn(group)
        if total is None:
            channels = outputs.shape[1]
            shape = (1, channels, height * scale, width * scale)
            total = torch.zeros(shape, dtype=torch.float32, device=outputs.device)
            weights = torch.zeros((1, 1, *shape[2:]), dtype=torch.float32, device=outputs.device)
        assert weights is not None
        for tile, output in zip(group, outputs, strict=True):
            wy = ramp(tile.y0, tile.y1 - tile.y0, height, overlap, scale)
            wx = ramp(tile.x0, tile.x1 - tile.x0, width, overlap, scale)
            w = (wy[:, None] * wx[None, :]).to(output.device)
            rows = slice(tile.y0 * scale, tile.y1 * scale)
            cols = slice(tile.x0 * scale, tile.x1 * scale)
            total[0, :, rows, cols] += output.float() * w
            weights[0, 0, rows, cols] += w
        done += len(group)
        if progress is not None:
            progress(done, len(tiles))
    assert total is not None and weights is not None
    return total / weights
