"""Agreement of maps and masks, each a pure function on arrays of one size, in [0, 1].

- Depth. Our depth priors are relative (monocular models give depth up to an unknown scale and
  shift; stored bright = near), so the candidate's map is aligned to the target's by least squares,
  `s * candidate + t` with s >= 0 (MiDaS' scale-and-shift-invariant alignment; an inverted map
  gets s = 0 and scores 0), and the agreement is 1 - RMSE(aligned, target) / std(target): 1 for
  a map equal up to scale and shift, 0 for one that explains nothing. For metric (positive) depth
  there is Eigen et al.'s scale-invariant log error, mapped to exp(-sqrt(error)).
- Masks: intersection over union.
- Edges: F1 of edge pixels with a tolerance: a candidate edge pixel is right (precision) when a
  target edge pixel lies within `tolerance` pixels, and a target edge pixel is found (recall) when
  a candidate one does. The default tolerance is BSDS' 0.75% of the image diagonal.
- Segmentation: mean IoU over the classes in either map (and pixel accuracy beside it).
Two empty maps agree perfectly; an empty and a non-empty one not at all.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

BSDS_TOLERANCE = 0.0075  # of the image diagonal


def depth_agreement(candidate: np.ndarray, target: np.ndarray) -> float:
    """Scale-and-shift-invariant agreement of two relative depth maps, in [0, 1]."""
    c = np.asarray(candidate, dtype=np.float64).ravel()
    g = np.asarray(target, dtype=np.float64).ravel()
    _same_size(c, g)
    spread = g.std()
    if spread == 0:
        return 1.0 if c.std() == 0 else 0.0  # a flat target: only a flat candidate fits
    c_centred = c - c.mean()
    scale = max(0.0, float(c_centred @ (g - g.mean())) / max(float(c_centred @ c_centred), 1e-300))
    aligned = scale * c_centred + g.mean()
    rmse = math.sqrt(float(np.mean((aligned - g) ** 2)))
    return float(np.clip(1.0 - rmse / spread, 0.0, 1.0))


def scale_invariant_log_error(candidate: np.ndarray, target: np.ndarray) -> float:
    """Eigen et al. (2014), λ = 1: the variance of log(candidate / target) over pixels where both
    are positive. 0 when one is the other times a constant."""
    c = np.asarray(candidate, dtype=np.float64)
    g = np.asarray(target, dtype=np.float64)
    _same_size(c, g)
    valid = (c > 0) & (g > 0)
    if not valid.any():
        return math.inf
    d = np.log(c[valid]) - np.log(g[valid])
    return float(max(0.0, np.mean(d * d) - np.mean(d) ** 2))


def metric_depth_agreement(candidate: np.ndarray, target: np.ndarray) -> float:
    """exp(-sqrt(scale-invariant log error)): 1 up to scale; 0.5 when log ratios vary by 0.69."""
    return float(math.exp(-math.sqrt(scale_invariant_log_error(candidate, target))))


def mask_iou(candidate: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two boolean masks (both empty: 1)."""
    a, b = np.asarray(candidate, dtype=bool), np.asarray(target, dtype=bool)
    _same_size(a, b)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def edges_f1(candidate: np.ndarray, target: np.ndarray, tolerance: float | None = None) -> float:
    """F1 of edge pixels (non-zero) matched within `tolerance` pixels (default: 0.75% of the
    diagonal)."""
    a, b = np.asarray(candidate) > 0, np.asarray(target) > 0
    _same_size(a, b)
    if tolerance is None:
        tolerance = BSDS_TOLERANCE * math.hypot(*a.shape)
    found, wanted = np.count_nonzero(a), np.count_nonzero(b)
    if found == 0 or wanted == 0:
        return 1.0 if found == wanted else 0.0
    precision = np.count_nonzero(a & (_distance_to(b) <= tolerance)) / found
    recall = np.count_nonzero(b & (_distance_to(a) <= tolerance)) / wanted
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def segmentation_agreement(candidate: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(mean IoU over the classes present in either map, pixel accuracy) of class-index maps."""
    a, b = np.asarray(candidate), np.asarray(target)
    _same_size(a, b)
    classes = np.union1d(np.unique(a), np.unique(b))
    ious = [mask_iou(a == label, b == label) for label in classes]
    accuracy = float(np.mean(a == b)) if a.size else 1.0
    return (float(np.mean(ious)) if ious else 1.0), accuracy


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the Euclidean distance to the nearest True pixel of `mask`."""
    background = np.where(mask, 0, 255).astype(np.uint8)
    return cv2.distanceTransform(background, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _same_size(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.shape} and {b.shape}; resize one first")
