"""Hand gestures from the 21 hand keypoints.

Each finger gets an extension in [0, 1] from two measurements that do not change with the hand's
size, position, rotation, or with left versus right (a mirror image):

- reach: wrist-to-tip over wrist-to-knuckle (the finger's own MCP). A straight finger reaches
  about 1.7-2 times as far as its knuckle, one curled into the palm about 0.9: 0 at 1.15, 1 at 1.55.
- bend: the angle between the first phalanx (MCP -> PIP) and the last (DIP -> tip); about 0
  degrees straight, 180 curled: 1 up to 40 degrees, 0 from 100.

The thumb has no knuckle to compare with, so its reach is tip-to-little-finger-knuckle over the
palm's width (index to little-finger knuckle): 0 at 1.0 (folded across the palm), 1 from 1.4;
its bend is CMC -> MCP against IP -> tip, 1 up to 30 degrees, 0 from 75.

A gesture is a pattern of extended (1) and curled (0) fingers, scored as the product of each
finger's agreement (extension, or 1 - extension), so one finger out of place rules it out:

    open_palm  all five extended          fist    all five curled
    point      index only (thumb free)    victory index and middle (thumb free)
    thumbs_up / thumbs_down  thumb only, split by where the thumb points in the picture
    ok         thumb and index tips touching (within 0.35 palm lengths, fully at 0.15),
               middle, ring and little finger extended

thumbs_up and thumbs_down are the one exception to rotation invariance, by their meaning: the
thumb counts as down when it points within about 60 degrees of straight down in the picture.
"""

from __future__ import annotations

from image_interpreter.extract.rules.geometry import Vec, angle, dist, points, ramp, sub
from image_interpreter.priors.schema import Hand

GESTURE_LABELS = ("open_palm", "fist", "point", "victory", "thumbs_up", "thumbs_down", "ok")
FINGERS = ("thumb", "index", "middle", "ring", "pinky")

# Extended (1), curled (0) or either (None), thumb first.
_PATTERNS: dict[str, tuple[int | None, ...]] = {
    "open_palm": (1, 1, 1, 1, 1),
    "fist": (0, 0, 0, 0, 0),
    "point": (None, 1, 0, 0, 0),
    "victory": (None, 1, 1, 0, 0),
    "thumb_only": (1, 0, 0, 0, 0),
}


def finger_extension(p: dict[str, Vec], finger: str) -> float | None:
    """How straight and outstretched a finger is, in [0, 1]; None without its keypoints."""
    if finger == "thumb":
        needed = ("thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "pinky_mcp")
        if any(n not in p for n in needed):
            return None
        palm = dist(p["index_mcp"], p["pinky_mcp"])
        if palm == 0:
            return None
        reach = ramp(dist(p["thumb_tip"], p["pinky_mcp"]) / palm, 1.0, 1.4)
        bent = angle(sub(p["thumb_mcp"], p["thumb_cmc"]), sub(p["thumb_tip"], p["thumb_ip"]))
        return (reach + ramp(bent, 75.0, 30.0)) / 2
    mcp, pip, dip, tip = (f"{finger}_{j}" for j in ("mcp", "pip", "dip", "tip"))
    if any(n not in p for n in ("wrist", mcp, pip, dip, tip)):
        return None
    knuckle = dist(p["wrist"], p[mcp])
    if knuckle == 0:
        return None
    reach = ramp(dist(p["wrist"], p[tip]) / knuckle, 1.15, 1.55)
    bent = angle(sub(p[pip], p[mcp]), sub(p[tip], p[dip]))
    return (reach + ramp(bent, 100.0, 40.0)) / 2


def gesture_scores(
    hand: Hand, aspect: float = 1.0, min_confidence: float = 0.1
) -> dict[str, float]:
    """Gesture label -> score in [0, 1] for the gestures its keypoints can decide."""
    p = points(hand.keypoints, aspect, min_confidence)
    extension = {finger: finger_extension(p, finger) for finger in FINGERS}
    scores: dict[str, float] = {}
    for label, pattern in _PATTERNS.items():
        score = _match(extension, pattern)
        if score is not None:
            scores[label] = score
    thumb_only = scores.pop("thumb_only", None)
    if thumb_only is not None:
        down = _thumb_down(p)
        scores["thumbs_up"] = thumb_only * (1 - down)
        scores["thumbs_down"] = thumb_only * down
    ok = _ok(p, extension)
    if ok is not None:
        scores["ok"] = ok
    return {label: round(score, 4) for label, score in scores.items()}


def _match(extension: dict[str, float | None], pattern: tuple[int | None, ...]) -> float | None:
    score = 1.0
    for finger, wanted in zip(FINGERS, pattern, strict=True):
        if wanted is None:
            continue
        value = extension[finger]
        if value is None:
            return None
        score *= value if wanted else 1.0 - value
    return score


def _thumb_down(p: dict[str, Vec]) -> float:
    """How far the thumb (MCP -> tip) points down the picture: 0 at 75 degrees or more from
    straight down, 1 within 45 degrees."""
    return ramp(angle(sub(p["thumb_tip"], p["thumb_mcp"]), (0.0, 1.0)), 75.0, 45.0)


def _ok(p: dict[str, Vec], extension: dict[str, float | None]) -> float | None:
    others = [extension[f] for f in ("middle", "ring", "pinky")]
    needed = ("wrist", "middle_mcp", "thumb_tip", "index_tip")
    if any(value is None for value in others) or any(n not in p for n in needed):
        return None
    palm = dist(p["wrist"], p["middle_mcp"])
    if palm == 0:
        return None
    touching = ramp(dist(p["thumb_tip"], p["index_tip"]) / palm, 0.35, 0.15)
    score = touching
    for value in others:
        score *= value
    return score
