"""Plane geometry for the rules: points in the picture's true proportions, distances, angles,
and soft thresholds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from image_interpreter.priors.schema import Keypoint

Vec = tuple[float, float]


def points(
    keypoints: Mapping[str, Keypoint], aspect: float, min_confidence: float
) -> dict[str, Vec]:
    """Confident keypoints, x stretched by width/height so angles and distances are true."""
    return {
        name: (point.x * aspect, point.y)
        for name, point in keypoints.items()
        if point.confidence >= min_confidence
    }


def sub(a: Vec, b: Vec) -> Vec:
    return a[0] - b[0], a[1] - b[1]


def dist(a: Vec, b: Vec) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def mean(vectors: Sequence[Vec]) -> Vec:
    return (
        sum(v[0] for v in vectors) / len(vectors),
        sum(v[1] for v in vectors) / len(vectors),
    )


def angle(u: Vec, v: Vec) -> float:
    """The unsigned angle between two directions, in degrees (0 = same way, 180 = opposite)."""
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu == 0 or nv == 0:
        return 0.0
    cosine = (u[0] * v[0] + u[1] * v[1]) / (nu * nv)
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def ramp(value: float, zero: float, one: float) -> float:
    """0 at `zero`, 1 at `one`, linear between and clipped: a threshold with a soft edge."""
    return max(0.0, min(1.0, (value - zero) / (one - zero)))
