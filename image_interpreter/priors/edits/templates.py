"""Canonical shapes: hand gestures (21 keypoints) and a neutral face (70 landmarks), plus the
landmark displacements that make each expression, and the face's left/right flip map."""

from __future__ import annotations

import math
from typing import Literal, get_args

from image_interpreter.priors.joints import FACE_70, HAND_21

GestureName = Literal["fist", "open_palm", "point", "victory", "thumbs_up", "ok"]
ExpressionName = Literal["smile", "open_mouth", "closed_eyes", "raised_brows", "frown", "neutral"]

# --- the face's left/right flip map (iBUG 68 + pupils) ----------------------------------------

_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)),  # jaw
    *((17 + i, 26 - i) for i in range(5)),  # brows
    (31, 35), (32, 34),  # nostrils
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),  # eyes
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),  # outer lips
    (60, 64), (61, 63), (65, 67),  # inner lips
    (68, 69),  # pupils
)  # fmt: skip
_FLIP = {i: i for i in range(70)}
for _a, _b in _FLIP_PAIRS:
    _FLIP[_a], _FLIP[_b] = _b, _a
FACE_FLIP: dict[str, str] = {FACE_70[i]: FACE_70[j] for i, j in _FLIP.items()}

# --- hands -------------------------------------------------------------------------------------
# A right hand, palm towards the viewer, fingers up, in units of the wrist-to-middle-knuckle
# distance: wrist at (0, 0), middle_mcp at (0, -1), x towards the thumb, y down (as in pictures).
# A left hand, or a hand seen from the back, is the mirror image (x -> -x).

_KNUCKLES = {"index": (0.30, -0.95), "middle": (0.0, -1.0), "ring": (-0.26, -0.93),
             "pinky": (-0.48, -0.82)}  # fmt: skip
_PHALANGES = {"index": (0.42, 0.25, 0.20), "middle": (0.47, 0.29, 0.22),
              "ring": (0.43, 0.27, 0.21), "pinky": (0.33, 0.20, 0.18)}  # fmt: skip
_FAN = {"index": 10.0, "middle": 0.0, "ring": -10.0, "pinky": -20.0}
_THUMB_CMC = (0.28, -0.25)


def _step(at: tuple[float, float], degrees: float, size: float) -> tuple[float, float]:
    """`size` along a direction `degrees` from straight up, positive towards the thumb."""
    t = math.radians(degrees)
    return at[0] + size * math.sin(t), at[1] - size * math.cos(t)


def _straight(finger: str, spread: float = 0.0) -> dict[str, tuple[float, float]]:
    joints = ("pip", "dip", "tip")
    at, points = _KNUCKLES[finger], {}
    for joint, size in zip(joints, _PHALANGES[finger], strict=True):
        at = _step(at, _FAN[finger] + spread, size)
        points[f"{finger}_{joint}"] = at
    return points


def _curled(finger: str) -> dict[str, tuple[float, float]]:
    """Folded into the palm, seen from the palm side: the middle joint just above the knuckle,
    the tip tucked below it."""
    base, angle = _KNUCKLES[finger], _FAN[finger] / 2
    return {
        f"{finger}_pip": _step(base, angle, 0.22),
        f"{finger}_dip": _step(base, angle, 0.12),
        f"{finger}_tip": _step(base, angle + 180.0, 0.12),
    }


def _thumb(*steps: tuple[float, float]) -> dict[str, tuple[float, float]]:
    at, points = _THUMB_CMC, {"thumb_cmc": _THUMB_CMC}
    for joint, (degrees, size) in zip(("mcp", "ip", "tip"), steps, strict=True):
        at = _step(at, degrees, size)
        points[f"thumb_{joint}"] = at
    return points


_THUMB_OUT = _thumb((45.0, 0.35), (55.0, 0.30), (60.0, 0.25))
_THUMB_IN = _thumb((15.0, 0.30), (-40.0, 0.22), (-75.0, 0.20))  # folded across the fingers
_THUMB_UP = _thumb((70.0, 0.35), (80.0, 0.30), (85.0, 0.25))  # out to the side of a fist


def _hand(*parts: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    points = {"wrist": (0.0, 0.0), **{f"{f}_mcp": xy for f, xy in _KNUCKLES.items()}}
    for part in parts:
        points.update(part)
    assert set(points) == set(HAND_21), sorted(set(HAND_21) - set(points))
    return points


def _ok() -> dict[str, tuple[float, float]]:
    """Index and thumb tips touching in a ring; the other fingers straight."""
    index = {"index_pip": _step(_KNUCKLES["index"], 25.0, 0.30)}
    index["index_dip"] = _step(index["index_pip"], 115.0, 0.20)
    index["index_tip"] = _step(index["index_dip"], 170.0, 0.18)
    tip = index["index_tip"]
    thumb = {"thumb_cmc": _THUMB_CMC, "thumb_mcp": _step(_THUMB_CMC, 40.0, 0.30)}
    thumb["thumb_ip"] = ((thumb["thumb_mcp"][0] + tip[0]) / 2 + 0.06,
                         (thumb["thumb_mcp"][1] + tip[1]) / 2)  # fmt: skip
    thumb["thumb_tip"] = (tip[0] + 0.02, tip[1] + 0.02)
    return _hand(index, thumb, _straight("middle"), _straight("ring"), _straight("pinky"))


GESTURES: dict[str, dict[str, tuple[float, float]]] = {
    "open_palm": _hand(_THUMB_OUT, *(_straight(f) for f in _KNUCKLES)),
    "fist": _hand(_THUMB_IN, *(_curled(f) for f in _KNUCKLES)),
    "point": _hand(_THUMB_IN, _straight("index", -10.0), _curled("middle"), _curled("ring"),
                   _curled("pinky")),
    "victory": _hand(_THUMB_IN, _straight("index", 2.0), _straight("middle", -8.0),
                     _curled("ring"), _curled("pinky")),
    "thumbs_up": _hand(_THUMB_UP, *(_curled(f) for f in _KNUCKLES)),
    "ok": _ok(),
}  # fmt: skip
assert set(GESTURES) == set(get_args(GestureName))

HAND_TO_FOREARM = 0.38  # wrist-to-middle-knuckle over elbow-to-wrist, for an adult

# --- faces -------------------------------------------------------------------------------------
# A neutral frontal face in a unit box: x to the subject's left (the picture's right), y down.
# The subject's right eye and brow are on the left of the picture, as in iBUG.

_JAW = [(0.5 - 0.5 * math.cos(math.pi * i / 16), 0.2 + 0.8 * math.sin(math.pi * i / 16))
        for i in range(17)]  # fmt: skip
_BROW = [(0.10, 0.08), (0.18, 0.03), (0.27, 0.01), (0.35, 0.02), (0.42, 0.05)]
_EYE = [(0.17, 0.22), (0.23, 0.18), (0.31, 0.18), (0.37, 0.23), (0.31, 0.26), (0.23, 0.26)]
_FACE_POINTS: list[tuple[float, float]] = [
    *_JAW,
    *_BROW,
    *((1 - x, y) for x, y in reversed(_BROW)),
    (0.5, 0.20), (0.5, 0.30), (0.5, 0.40), (0.5, 0.50),  # nose bridge
    (0.40, 0.57), (0.45, 0.59), (0.5, 0.60), (0.55, 0.59), (0.60, 0.57),  # nostrils
    *_EYE,
    (0.63, 0.23), (0.69, 0.18), (0.77, 0.18), (0.83, 0.22), (0.77, 0.26), (0.69, 0.26),
    (0.33, 0.77), (0.39, 0.73), (0.45, 0.71), (0.50, 0.72), (0.55, 0.71), (0.61, 0.73),
    (0.67, 0.77), (0.61, 0.82), (0.55, 0.85), (0.50, 0.855), (0.45, 0.85), (0.39, 0.82),
    (0.36, 0.77), (0.45, 0.76), (0.50, 0.765), (0.55, 0.76),
    (0.64, 0.77), (0.55, 0.78), (0.50, 0.785), (0.45, 0.78),  # inner lips
    (0.27, 0.22), (0.73, 0.22),  # pupils
]  # fmt: skip
NEUTRAL_FACE: dict[str, tuple[float, float]] = dict(zip(FACE_70, _FACE_POINTS, strict=True))
PUPIL_DISTANCE = NEUTRAL_FACE["left_pupil"][0] - NEUTRAL_FACE["right_pupil"][0]
FACE_HEIGHT_PER_WIDTH = 1.1  # a real face's landmark box, taller than this unit box


def _by_index(moves: dict[int, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    return {FACE_70[i]: move for i, move in moves.items()}


def _both(moves: dict[int, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """`moves` for the subject's right side, plus their mirror image on the left."""
    mirrored = {}
    for i, (dx, dy) in moves.items():
        other = FACE_70.index(FACE_FLIP[FACE_70[i]])
        mirrored[other] = (-dx, dy)
    return _by_index({**moves, **mirrored})


# Landmark displacements of each full expression (amount 1), in face-box units, same axes.
EXPRESSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "smile": _both({48: (-0.03, -0.05), 60: (-0.02, -0.035), 49: (-0.01, -0.02),
                    59: (-0.01, -0.025)}),
    "frown": _both({48: (0.01, 0.04), 60: (0.005, 0.03), 59: (0.0, 0.02), 21: (0.02, 0.03),
                    20: (0.01, 0.02), 19: (0.0, 0.01)}),
    "open_mouth": _both({65: (0.0, 0.08), 66: (0.0, 0.08), 56: (0.0, 0.08), 57: (0.0, 0.08),
                         55: (0.0, 0.06), 60: (0.0, 0.02), 48: (0.0, 0.02), 61: (0.0, -0.01),
                         62: (0.0, -0.01), 8: (0.0, 0.06), 7: (0.0, 0.05), 6: (0.0, 0.04),
                         5: (0.0, 0.02)}),
    "closed_eyes": _both({37: (0.0, 0.06), 38: (0.0, 0.06), 40: (0.0, -0.02),
                          41: (0.0, -0.02)}),
    "raised_brows": _both({17: (0.0, -0.05), 18: (0.0, -0.06), 19: (0.0, -0.06),
                           20: (0.0, -0.065), 21: (0.0, -0.07), 37: (0.0, -0.01),
                           38: (0.0, -0.01)}),
    "neutral": {},
}  # fmt: skip
assert set(EXPRESSIONS) == set(get_args(ExpressionName))
OPPOSITES = {"smile": "frown", "frown": "smile"}
