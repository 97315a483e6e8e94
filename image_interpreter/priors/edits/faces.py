"""Expressions on face landmarks, in the face's own frame (so a tilted head smiles along its
own mouth, not the picture's horizontal)."""

from __future__ import annotations

from dataclasses import dataclass

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits.geometry import Vec
from image_interpreter.priors.edits.templates import (
    EXPRESSIONS,
    FACE_HEIGHT_PER_WIDTH,
    NEUTRAL_FACE,
    OPPOSITES,
    PUPIL_DISTANCE,
)
from image_interpreter.priors.joints import FACE_70
from image_interpreter.priors.schema import Face, Keypoint, Person

_RIGHT_EYE = tuple(f"right_eye_{i}" for i in range(6))
_LEFT_EYE = tuple(f"left_eye_{i}" for i in range(6))
_TEMPLATE_X = (min(x for x, _ in NEUTRAL_FACE.values()), max(x for x, _ in NEUTRAL_FACE.values()))
_TEMPLATE_Y = (min(y for _, y in NEUTRAL_FACE.values()), max(y for _, y in NEUTRAL_FACE.values()))


@dataclass(frozen=True)
class FaceFrame:
    """A face's box in its own axes: `across` runs from the subject's right to left, `down`
    from brow to chin; template unit box (0..1, 0..1) maps onto (x0..x1, y0..y1)."""

    origin: Vec
    across: Vec
    down: Vec
    x0: float
    y0: float
    x1: float
    y1: float

    def place(self, tx: float, ty: float) -> Vec:
        """A template point (unit-box coordinates) in picture units."""
        u = (tx - _TEMPLATE_X[0]) / (_TEMPLATE_X[1] - _TEMPLATE_X[0])
        v = (ty - _TEMPLATE_Y[0]) / (_TEMPLATE_Y[1] - _TEMPLATE_Y[0])
        lx, ly = self.x0 + u * (self.x1 - self.x0), self.y0 + v * (self.y1 - self.y0)
        return g.add(self.origin, g.add(g.mul(self.across, lx), g.mul(self.down, ly)))

    def shift(self, dx: float, dy: float) -> Vec:
        """A template displacement in picture units."""
        sx = (self.x1 - self.x0) / (_TEMPLATE_X[1] - _TEMPLATE_X[0])
        sy = (self.y1 - self.y0) / (_TEMPLATE_Y[1] - _TEMPLATE_Y[0])
        return g.add(g.mul(self.across, dx * sx), g.mul(self.down, dy * sy))


def _centre(points: list[Vec]) -> Vec:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def _axes(person: Person, pts: dict[str, Vec], aspect: float) -> tuple[Vec, Vec]:
    """(across, down): along the eye line, from the subject's right eye to their left."""
    right = [pts[n] for n in _RIGHT_EYE if n in pts] or [
        pts[n] for n in ("right_pupil",) if n in pts
    ]
    left = [pts[n] for n in _LEFT_EYE if n in pts] or [pts[n] for n in ("left_pupil",) if n in pts]
    across: Vec | None = g.sub(_centre(left), _centre(right)) if right and left else None
    eye_r, eye_l = person.body.get("right_eye"), person.body.get("left_eye")
    if eye_r is not None and eye_l is not None:
        body = g.sub(g.pic(eye_l, aspect), g.pic(eye_r, aspect))
        if across is None or abs(g.angle_between(across, body)) > 45.0:  # trust the body's eyes
            across = body
    if across is None or g.length(across) == 0:
        across = (1.0, 0.0)
    across = g.unit(across)
    # A quarter turn clockwise as seen: a face seen from the front always has the subject's right
    # eye on the picture's left when upright, so this points to the chin even upside down.
    down = (-across[1], across[0])
    return across, down


def frame_of(person: Person, pts: dict[str, Vec], aspect: float) -> FaceFrame:
    across, down = _axes(person, pts, aspect)
    origin = _centre(list(pts.values()))
    xs = [g.dot(g.sub(p, origin), across) for p in pts.values()]
    ys = [g.dot(g.sub(p, origin), down) for p in pts.values()]
    return FaceFrame(origin, across, down, min(xs), min(ys), max(xs), max(ys))


def _new_face(person: Person, aspect: float, number: int) -> dict[str, Vec]:
    """A neutral face placed on the body's eyes, for a person whose face was not landmarked."""
    eye_r, eye_l = person.body.get("right_eye"), person.body.get("left_eye")
    if eye_r is None or eye_l is None:
        raise EditError(
            f"Person {number} has no face landmarks and no eyes to place a face on, so their"
            " expression cannot be changed. Extract the face first (pose with face landmarks)."
        )
    right, left = g.pic(eye_r, aspect), g.pic(eye_l, aspect)
    width = g.length(g.sub(left, right)) / PUPIL_DISTANCE
    across = g.unit(g.sub(left, right)) if width > 0 else (1.0, 0.0)
    height = width * FACE_HEIGHT_PER_WIDTH
    # the template's pupils' midpoint, in the unit box, goes on the eyes' midpoint
    px = (NEUTRAL_FACE["right_pupil"][0] + NEUTRAL_FACE["left_pupil"][0]) / 2
    py = NEUTRAL_FACE["right_pupil"][1]
    u = (px - _TEMPLATE_X[0]) / (_TEMPLATE_X[1] - _TEMPLATE_X[0])
    v = (py - _TEMPLATE_Y[0]) / (_TEMPLATE_Y[1] - _TEMPLATE_Y[0])
    frame = FaceFrame(
        g.mid(right, left), across, (-across[1], across[0]),
        -u * width, -v * height, (1 - u) * width, (1 - v) * height,
    )  # fmt: skip
    return {name: frame.place(*NEUTRAL_FACE[name]) for name in FACE_70}


def set_expression(
    person: Person, expression: str, amount: float, aspect: float, number: int
) -> Person:
    """`person` with `expression` at strength `amount`; see `expressions` for the rules."""
    face = person.face
    old = face.landmarks if face is not None else {}
    pts = {n: g.pic(kp, aspect) for n, kp in old.items()} or _new_face(person, aspect, number)
    frame = frame_of(person, pts, aspect)
    scores = dict(person.expression)

    if expression == "neutral":
        for name, p in pts.items():
            target = frame.place(*NEUTRAL_FACE[name])
            pts[name] = g.add(g.mul(p, 1 - amount), g.mul(target, amount))
        scores = {
            k: v * (1 - amount)
            for k, v in scores.items()
            if k != "neutral" and v * (1 - amount) > 0
        }
        scores["neutral"] = amount
    else:
        changes = {expression: amount - scores.get(expression, 0.0)}
        opposite = OPPOSITES.get(expression)
        if opposite is not None and amount > 0:
            changes[opposite] = -scores.pop(opposite, 0.0)
        for name_, k in changes.items():
            for name, (dx, dy) in EXPRESSIONS[name_].items():
                if name in pts and k != 0:
                    pts[name] = g.add(pts[name], g.mul(frame.shift(dx, dy), k))
        scores[expression] = amount
        if amount > 0:
            scores.pop("neutral", None)

    landmarks = {
        name: Keypoint(
            x=p[0] / aspect, y=p[1], confidence=old[name].confidence if name in old else 1.0
        )
        for name, p in pts.items()
    }
    new_face = (face or Face()).model_copy(update={"landmarks": landmarks})
    return g.grow_box(person.model_copy(update={"face": new_face, "expression": scores}))
