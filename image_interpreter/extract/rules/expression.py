"""Facial expression from the 70 OpenPose face landmarks (iBUG 68 + pupils).

Everything is measured in the face's own frame: x along the line between the eye centres, y
perpendicular to it towards the mouth, lengths in inter-ocular distances (IOD, eye centre to eye
centre). A tilted, small, or mirrored face therefore scores like an upright, large one.

- open_mouth: mouth aspect ratio (MAR), the inner lips' opening over the inner mouth width;
  0 below 0.15 (closed, relaxed), 1 from 0.35.
- closed_eyes: eye aspect ratio (EAR, Soukupova & Cech 2016), the lids' opening over the eye's
  width, both eyes averaged; 1 below 0.10, 0 from 0.20 (open eyes are about 0.25-0.35).
- smile / frown: how far the mouth corners sit above (+) or below (-) the line where the lips
  meet, in IOD. That line is a quarter of the way from the upper inner lip to the lower one, which
  allows for the jaw: opening the mouth drops the corners about a quarter as far as the lower lip.
  Smile from +0.03 to +0.08; frown from -0.03 to -0.06.
- frown also counts lowered inner brows (inner brow to inner eye corner below 0.37 IOD, fully at
  0.32): the larger of the two.
- raised_brows: mean height of the brows above the eye centres, in IOD; 0 at 0.45 (relaxed brows
  sit about 0.4 above), 1 from 0.52.
- neutral: 1 minus the strongest of the others.

The thresholds are for adult faces seen from the front; a face turned far to one side shortens
the widths and tends to read as open-mouthed and wide-eyed.
"""

from __future__ import annotations

from image_interpreter.extract.rules.geometry import Vec, dist, mean, points, ramp, sub
from image_interpreter.priors.schema import Face

EXPRESSION_LABELS = ("smile", "open_mouth", "closed_eyes", "raised_brows", "frown", "neutral")

_RIGHT_EYE = [f"right_eye_{i}" for i in range(6)]  # outer, upper x2, inner, lower x2
_LEFT_EYE = [f"left_eye_{i}" for i in range(6)]  # inner, upper x2, outer, lower x2
_BROWS = [f"right_brow_{i}" for i in range(5)] + [f"left_brow_{i}" for i in range(5)]
_INNER_BROWS = (("right_brow_4", "right_eye_3"), ("left_brow_0", "left_eye_0"))
_INNER_LIPS = (("mouth_inner_1", "mouth_inner_7"), ("mouth_inner_2", "mouth_inner_6"),
               ("mouth_inner_3", "mouth_inner_5"))  # fmt: skip


class _Frame:
    """The face's frame: origin between the eyes, x towards the subject's left eye, y towards
    the mouth, unit = inter-ocular distance."""

    def __init__(self, right_eye: Vec, left_eye: Vec, mouth: Vec | None):
        self.origin = mean([right_eye, left_eye])
        self.iod = dist(right_eye, left_eye)
        ax, ay = sub(left_eye, right_eye)
        self.x = (ax / self.iod, ay / self.iod)
        self.y = (-self.x[1], self.x[0])
        if mouth is not None:
            to_mouth = sub(mouth, self.origin)
            if to_mouth[0] * self.y[0] + to_mouth[1] * self.y[1] < 0:
                self.y = (-self.y[0], -self.y[1])  # a mirrored face: keep y towards the mouth

    def __call__(self, p: Vec) -> Vec:
        d = sub(p, self.origin)
        return (
            (d[0] * self.x[0] + d[1] * self.x[1]) / self.iod,
            (d[0] * self.y[0] + d[1] * self.y[1]) / self.iod,
        )


def eye_aspect_ratio(eye: list[Vec]) -> float:
    """(|upper1 - lower2| + |upper2 - lower1|) / (2 |corner - corner|), iBUG order."""
    width = dist(eye[0], eye[3])
    if width == 0:
        return 0.0
    return (dist(eye[1], eye[5]) + dist(eye[2], eye[4])) / (2 * width)


def mouth_aspect_ratio(p: dict[str, Vec]) -> float | None:
    """The inner lips' mean opening over the inner mouth width; None without those landmarks."""
    needed = ["mouth_inner_0", "mouth_inner_4", *(n for pair in _INNER_LIPS for n in pair)]
    if any(n not in p for n in needed):
        return None
    width = dist(p["mouth_inner_0"], p["mouth_inner_4"])
    if width == 0:
        return None
    return sum(dist(p[a], p[b]) for a, b in _INNER_LIPS) / len(_INNER_LIPS) / width


def expression_scores(
    face: Face, aspect: float = 1.0, min_confidence: float = 0.1
) -> dict[str, float]:
    """Expression label -> score in [0, 1] for the landmarks present; {} without both eyes."""
    p = points(face.landmarks, aspect, min_confidence)
    if any(n not in p for n in _RIGHT_EYE + _LEFT_EYE):
        return {}
    right = [p[n] for n in _RIGHT_EYE]
    left = [p[n] for n in _LEFT_EYE]
    mouth_points = [p[n] for n in p if n.startswith("mouth_")]
    frame = _Frame(mean(right), mean(left), mean(mouth_points) if mouth_points else None)
    if frame.iod == 0:
        return {}
    f = {name: frame(xy) for name, xy in p.items()}
    scores: dict[str, float] = {}

    ear = (eye_aspect_ratio([f[n] for n in _RIGHT_EYE]) +
           eye_aspect_ratio([f[n] for n in _LEFT_EYE])) / 2  # fmt: skip
    scores["closed_eyes"] = ramp(ear, 0.20, 0.10)

    mar = mouth_aspect_ratio(f)
    if mar is not None:
        scores["open_mouth"] = ramp(mar, 0.15, 0.35)

    lift = _corner_lift(f)
    brows_down = _inner_brows_lowered(f)
    if lift is not None:
        scores["smile"] = ramp(lift, 0.03, 0.08)
        scores["frown"] = ramp(-lift, 0.03, 0.06)
    if brows_down is not None:
        scores["frown"] = max(scores.get("frown", 0.0), brows_down)

    brows = [f[n] for n in _BROWS if n in f]
    if brows:
        eyes_y = (mean([f[n] for n in _RIGHT_EYE])[1] + mean([f[n] for n in _LEFT_EYE])[1]) / 2
        height = eyes_y - mean(brows)[1]
        scores["raised_brows"] = ramp(height, 0.45, 0.52)

    scores["neutral"] = 1.0 - max(scores.values(), default=0.0)
    return {label: round(score, 4) for label, score in scores.items()}


def _corner_lift(f: dict[str, Vec]) -> float | None:
    """Mouth corners above (+) the line where the lips meet, in IOD (see the module notes)."""
    needed = ("mouth_outer_0", "mouth_outer_6", "mouth_inner_2", "mouth_inner_6")
    if any(n not in f for n in needed):
        return None
    upper, lower = f["mouth_inner_2"][1], f["mouth_inner_6"][1]
    meet = upper + 0.25 * (lower - upper)
    corners = (f["mouth_outer_0"][1] + f["mouth_outer_6"][1]) / 2
    return meet - corners


def _inner_brows_lowered(f: dict[str, Vec]) -> float | None:
    gaps = [f[eye][1] - f[brow][1] for brow, eye in _INNER_BROWS if brow in f and eye in f]
    if not gaps:
        return None
    return ramp(sum(gaps) / len(gaps), 0.37, 0.32)
