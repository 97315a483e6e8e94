"""OpenPose skeletons drawn exactly as controlnet-aux draws them, which is what the OpenPose
ControlNets were trained on.

Every limb order, colour, stick width, ellipse, radius and quirk below mirrors
`controlnet_aux.open_pose.draw_poses` and `util.draw_bodypose/draw_handpose/draw_facepose`
(0.0.10), down to the float arithmetic, so the output is pixel-identical (tests/test_render.py
compares them). Their quirks kept on purpose: body points are drawn wherever they are, but hand
and face points only where their truncated pixel x and y are both >= 1; pixel coordinates are
truncated (`int(x * W)`), not rounded. One departure: a point more than one canvas outside the
frame (normalised < -1 or > 2) is treated as missing, because OpenCV's fixed-point coordinates
would overflow, where controlnet-aux would fail or draw garbage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np
from PIL import Image

from image_interpreter.priors.joints import BODY_LIMBS, FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.render.registry import ReadArtifact, Size, renderer
from image_interpreter.priors.schema import Keypoint, PeoplePrior, Person

_BODY_INDEX = {name: index for index, name in enumerate(OPENPOSE_BODY_18)}
_LIMBS = tuple((_BODY_INDEX[a], _BODY_INDEX[b]) for a, b in BODY_LIMBS)

# One colour per body point; limb i takes colour i at 60 % (controlnet-aux's `colors`).
_BODY_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
_LIMB_COLORS = tuple(tuple(int(float(c) * 0.6) for c in color) for color in _BODY_COLORS)
_STICK_WIDTH = 4
_BODY_RADIUS = 4

_HAND_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
    (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19),
    (19, 20),
)  # fmt: skip
_HAND_THICKNESS = 2
_HAND_RADIUS = 4
_HAND_POINT_COLOR = (0, 0, 255)
_FACE_RADIUS = 3
_FACE_COLOR = (255, 255, 255)
_LOW, _HIGH = -1.0, 2.0  # beyond these (normalised) a point is treated as missing


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    """matplotlib.colors.hsv_to_rgb for one colour, with the same float operations in the same
    order (controlnet-aux colours hand bones with it; OpenCV rounds the floats it gets)."""
    i = int(h * 6.0)
    f = (h * 6.0) - i
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    if s == 0:
        return v, v, v
    return ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))[i % 6]


# controlnet-aux: hsv_to_rgb([ie / float(len(edges)), 1.0, 1.0]) * 255, floats handed to OpenCV.
_HAND_COLORS: tuple[tuple[float, float, float], ...] = tuple(
    tuple(c * 255 for c in _hsv_to_rgb(ie / float(len(_HAND_EDGES)), 1.0, 1.0))
    for ie in range(len(_HAND_EDGES))
)


def draw_openpose(
    people: Iterable[Person],
    width: int,
    height: int,
    *,
    draw_body: bool = True,
    draw_hands: bool = True,
    draw_face: bool = True,
) -> np.ndarray:
    """People -> an RGB uint8 array (height, width, 3): each person's body, left hand, right hand
    and face, in that order, on black."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for person in people:
        if draw_body:
            _draw_body(canvas, person.body, width, height)
        if draw_hands:
            for side in ("left", "right"):
                hand = person.hands.get(side)
                if hand is not None:
                    _draw_hand(canvas, hand.keypoints, width, height)
        if draw_face and person.face is not None:
            _draw_face(canvas, person.face.landmarks, width, height)
    return canvas


@renderer("people")
def render_people(
    prior: PeoplePrior,
    size: Size,
    read_artifact: ReadArtifact,
    *,
    draw_body: bool = True,
    draw_hands: bool = True,
    draw_face: bool = True,
) -> Image.Image:
    """The OpenPose control image of every person in the prior."""
    width, height = size
    canvas = draw_openpose(
        prior.people,
        width,
        height,
        draw_body=draw_body,
        draw_hands=draw_hands,
        draw_face=draw_face,
    )
    return Image.fromarray(canvas)


def _usable(point: Keypoint | None) -> Keypoint | None:
    if point is None or not (_LOW <= point.x <= _HIGH and _LOW <= point.y <= _HIGH):
        return None
    return point


def _draw_body(canvas: np.ndarray, body: dict[str, Keypoint], w: int, h: int) -> None:
    points = [_usable(body.get(name)) for name in OPENPOSE_BODY_18]
    fw, fh = float(w), float(h)
    for (i, j), color in zip(_LIMBS, _LIMB_COLORS, strict=False):
        a, b = points[i], points[j]
        if a is None or b is None:
            continue
        ax, bx = a.x * fw, b.x * fw
        ay, by = a.y * fh, b.y * fh
        # controlnet-aux calls the y coordinates X and the x coordinates Y; same operations here.
        length = ((ay - by) ** 2 + (ax - bx) ** 2) ** 0.5
        angle = math.degrees(math.atan2(ay - by, ax - bx))
        polygon = cv2.ellipse2Poly(
            (int((ax + bx) / 2), int((ay + by) / 2)),
            (int(length / 2), _STICK_WIDTH),
            int(angle),
            0,
            360,
            1,
        )
        cv2.fillConvexPoly(canvas, polygon, color)
    for point, color in zip(points, _BODY_COLORS, strict=True):
        if point is not None:
            cv2.circle(canvas, (int(point.x * w), int(point.y * h)), _BODY_RADIUS, color, -1)


def _visible(
    points: dict[str, Keypoint], order: tuple[str, ...], w: int, h: int
) -> list[tuple[int, int] | None]:
    """Pixel positions in `order`; None where missing or where controlnet-aux would skip it."""
    out: list[tuple[int, int] | None] = []
    for name in order:
        point = _usable(points.get(name))
        if point is None:
            out.append(None)
            continue
        x, y = int(point.x * w), int(point.y * h)
        out.append((x, y) if x > 0 and y > 0 else None)  # controlnet-aux: x > eps and y > eps
    return out


def _draw_hand(canvas: np.ndarray, keypoints: dict[str, Keypoint], w: int, h: int) -> None:
    if not keypoints:
        return
    pixels = _visible(keypoints, HAND_21, w, h)
    for (i, j), color in zip(_HAND_EDGES, _HAND_COLORS, strict=True):
        a, b = pixels[i], pixels[j]
        if a is not None and b is not None:
            cv2.line(canvas, a, b, color, thickness=_HAND_THICKNESS)
    for pixel in pixels:
        if pixel is not None:
            cv2.circle(canvas, pixel, _HAND_RADIUS, _HAND_POINT_COLOR, -1)


def _draw_face(canvas: np.ndarray, landmarks: dict[str, Keypoint], w: int, h: int) -> None:
    for pixel in _visible(landmarks, FACE_70, w, h):
        if pixel is not None:
            cv2.circle(canvas, pixel, _FACE_RADIUS, _FACE_COLOR, -1)
