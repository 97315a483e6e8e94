"""Pairing targets with what a candidate shows (people, objects) by the best total agreement."""

from __future__ import annotations

import numpy as np


def best_pairs(agreement: np.ndarray) -> dict[int, int]:
    """Row -> column pairs maximising the summed `agreement` (Hungarian method, scipy's); an
    empty table pairs nothing. scipy is imported on first use, not with the package."""
    if not agreement.size:
        return {}
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-agreement)
    return {int(i): int(j) for i, j in zip(rows, cols, strict=True)}
