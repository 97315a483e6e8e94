"""Whole-person geometry: translate, scale, mirror, place a copy, and fit another pose.

Translation and uniform scaling look the same in normalised and in picture units, so they work
on normalised coordinates; fitting a pose from a picture of another shape uses picture units."""

from __future__ import annotations

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.templates import FACE_FLIP
from image_interpreter.priors.joints import mirror_name
from image_interpreter.priors.schema import Box, Face, Hand, Keypoint, Person


def _placed(person: Person, box: tuple[float, float, float, float] | None, number: int) -> Person:
    """`person` with `box` (clipped to the picture), refused if nothing of them is left in it."""
    clipped = g.clip_box(*box) if box is not None else None
    if box is not None and clipped is None:
        raise EditError(
            f"That would move person {number} entirely out of the picture. Move them less, or"
            " remove them (remove_person)."
        )
    placed = person.model_copy(update={"box": clipped})
    if box is None and not g.in_picture(placed):
        raise EditError(
            f"That would move all of person {number}'s keypoints out of the picture. Move them"
            " less, or remove them (remove_person)."
        )
    return placed


def _box_through(box: Box | None, fn: g.PointMap) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    x0, y0 = fn(box.x0, box.y0)
    x1, y1 = fn(box.x1, box.y1)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def translate(person: Person, dx: float, dy: float, number: int) -> Person:
    shift = _shift(dx, dy)
    return _placed(g.map_person(person, shift), _box_through(person.box, shift), number)


def _centre(person: Person, number: int) -> tuple[float, float]:
    found = g.extent(person)
    if found is None:
        raise EditError(f"Person {number} has no box and no keypoints, so has no centre.")
    x0, y0, x1, y1 = found
    return (x0 + x1) / 2, (y0 + y1) / 2


def _feet(person: Person, number: int) -> tuple[float, float]:
    """Where the person stands: the lowest foot point, else the bottom of their box."""
    feet = [kp for side in ("left", "right") for name in (f"{side}_ankle", *kin.foot_points(side))
            if (kp := person.body.get(name)) is not None]  # type: ignore[call-overload]  # fmt: skip
    if feet:
        return sum(kp.x for kp in feet) / len(feet), max(kp.y for kp in feet)
    found = g.extent(person)
    if found is None:
        raise EditError(f"Person {number} has no box and no keypoints, so has no feet to keep.")
    return (found[0] + found[2]) / 2, found[3]


def scale(person: Person, factor: float, anchor: str, number: int) -> Person:
    ax, ay = _feet(person, number) if anchor == "feet" else _centre(person, number)

    def grow(x: float, y: float) -> tuple[float, float]:
        return ax + (x - ax) * factor, ay + (y - ay) * factor

    return _placed(g.map_person(person, grow), _box_through(person.box, grow), number)


def mirror(person: Person) -> Person:
    """Flip about the person's own centre, swapping left and right names; the box (symmetric
    about that centre) stays as it is, so mirroring twice gives the person back."""
    found = g.extent(person)
    if found is None:
        return person
    c2 = found[0] + found[2]

    def flip(x: float, y: float) -> tuple[float, float]:
        return c2 - x, y

    body = {mirror_name(n): g.map_keypoint(kp, flip) for n, kp in person.body.items()}
    hands: dict[str, Hand] = {
        ("right" if side == "left" else "left"): g.map_hand(hand, flip)
        for side, hand in person.hands.items()
    }
    face: Face | None = None
    if person.face is not None:
        landmarks = {
            FACE_FLIP[n]: g.map_keypoint(kp, flip) for n, kp in person.face.landmarks.items()
        }
        face = person.face.model_copy(update={"landmarks": landmarks})
    return person.model_copy(update={"body": body, "hands": hands, "face": face})


def beside(person: Person) -> float:
    """The shift that puts a copy next to `person`, on the side with more room."""
    found = g.extent(person)
    if found is None:
        return 0.25
    x0, _, x1, _ = found
    step = (x1 - x0) * 1.05 or 0.1
    if x1 + step <= 1.0 or 1.0 - x1 >= x0:
        return min(step, 1.0)
    return -min(step, 1.0)


def copy_pose(
    person: Person, pose: Person, fit: bool, aspect: float, pose_aspect: float | None,
    number: int,
) -> Person:  # fmt: skip
    """`person` posed like `pose`: its body, and its hands and face where it has them (else the
    person's own, carried along with their wrist and head)."""
    if not pose.body:
        raise EditError("The pose to copy has no body keypoints; pick a person with a pose.")
    src_aspect = pose_aspect or aspect
    if fit:
        place = _fit(person, pose, aspect, src_aspect, number)
    else:

        def place(x: float, y: float) -> tuple[float, float]:
            return x * src_aspect / aspect, y

    body = {n: g.map_keypoint(kp, place) for n, kp in pose.body.items()}
    hands: dict[str, Hand] = {}
    for side in ("left", "right"):
        theirs, mine = pose.hands.get(side), person.hands.get(side)  # type: ignore[call-overload]
        if theirs is not None and theirs.keypoints:
            hands[side] = g.map_hand(theirs, place)
        elif mine is not None:
            wrist = f"{side}_wrist"
            carried = _carry(person.body.get(wrist), body.get(wrist), mine)  # type: ignore[call-overload]
            if carried is not None:
                hands[side] = carried
    face, expression = person.face, person.expression
    if pose.face is not None and pose.face.landmarks:
        face, expression = g.map_face(pose.face, place), dict(pose.expression)
    elif person.face is not None:
        for joint in ("nose", "neck"):
            old, new = person.body.get(joint), body.get(joint)  # type: ignore[call-overload]
            if old is not None and new is not None:
                face = g.map_face(person.face, _shift(new.x - old.x, new.y - old.y))
                break
    posed = person.model_copy(update={"body": body, "hands": hands, "face": face,
                                      "expression": expression})  # fmt: skip
    box = None
    if person.box is not None:
        x0, y0, x1, y1 = g.bounds(posed) or (0.0, 0.0, 1.0, 1.0)
        pad = 0.05 * max(x1 - x0, y1 - y0)
        box = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    return _placed(posed, box, number)


def _shift(dx: float, dy: float) -> g.PointMap:
    def shift(x: float, y: float) -> tuple[float, float]:
        return x + dx, y + dy

    return shift


def _carry(old: Keypoint | None, new: Keypoint | None, hand: Hand) -> Hand | None:
    """`hand` moved with its wrist from `old` to `new`; None when either is unknown."""
    if old is None or new is None:
        return None
    return g.map_hand(hand, _shift(new.x - old.x, new.y - old.y))


def _fit(person: Person, pose: Person, aspect: float, src_aspect: float, number: int) -> g.PointMap:
    """Map from the pose's normalised coordinates onto `person`: scaled to their torso (or
    height) and placed at their neck (or centre)."""
    src_torso = kin.torso_length(pose, src_aspect)
    dst_torso = kin.torso_length(person, aspect)
    src_neck, dst_neck = kin.point(pose, "neck", src_aspect), kin.point(person, "neck", aspect)
    if src_torso and dst_torso and src_neck is not None and dst_neck is not None:
        k, src_at, dst_at = dst_torso / src_torso, src_neck, dst_neck
    else:
        src_box, dst_box = g.bounds(pose), g.extent(person)
        if dst_box is None:
            raise EditError(
                f"Person {number} has no keypoints and no box to fit the pose to; copy it with"
                " fit=false to use its coordinates as they are."
            )
        assert src_box is not None
        src_h, dst_h = src_box[3] - src_box[1], dst_box[3] - dst_box[1]
        k = dst_h / src_h if src_h > 0 else 1.0
        src_at = ((src_box[0] + src_box[2]) / 2 * src_aspect, (src_box[1] + src_box[3]) / 2)
        dst_at = ((dst_box[0] + dst_box[2]) / 2 * aspect, (dst_box[1] + dst_box[3]) / 2)

    def place(x: float, y: float) -> tuple[float, float]:
        px = dst_at[0] + k * (x * src_aspect - src_at[0])
        py = dst_at[1] + k * (y - src_at[1])
        return px / aspect, py

    return place
