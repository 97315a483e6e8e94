"""Expressions and gestures read from keypoints: canonical hands and faces built here, with
known answers, stay the same however big, turned, placed, mirrored or stretched they are."""

import math

import pytest

from image_interpreter.extract.rules import annotate, expression_scores, gesture_scores
from image_interpreter.priors.edits.templates import EXPRESSIONS, FACE_FLIP, GESTURES, NEUTRAL_FACE
from image_interpreter.priors.joints import FACE_70
from image_interpreter.priors.schema import Face, Hand, Keypoint, Person

# --- a hand, built finger by finger ------------------------------------------------------------
# Wrist at the origin, fingers up (y down as in pictures), lengths in palm lengths.
KNUCKLES = {"index": (0.3, -1.0), "middle": (0.0, -1.05), "ring": (-0.25, -1.0),
            "pinky": (-0.45, -0.9)}  # fmt: skip


def _finger(name, pose):
    x, y = KNUCKLES[name]
    if pose == "straight":  # three phalanges straight on from the knuckle
        return {f"{name}_pip": (x * 1.1, y - 0.45), f"{name}_dip": (x * 1.15, y - 0.72),
                f"{name}_tip": (x * 1.2, y - 0.95)}  # fmt: skip
    # curled: up a little, then folded back down into the palm
    return {f"{name}_pip": (x, y - 0.25), f"{name}_dip": (x, y - 0.1), f"{name}_tip": (x, y + 0.15)}


def _thumb(pose):
    if pose == "out":  # away from the palm, to the side
        return {"thumb_cmc": (0.3, -0.3), "thumb_mcp": (0.6, -0.5), "thumb_ip": (0.85, -0.65),
                "thumb_tip": (1.05, -0.8)}  # fmt: skip
    if pose == "up":  # out of a sideways fist, along the fingers' knuckle line
        return {"thumb_cmc": (0.3, -0.3), "thumb_mcp": (0.45, -0.65), "thumb_ip": (0.55, -1.0),
                "thumb_tip": (0.62, -1.3)}  # fmt: skip
    # folded across the palm
    return {"thumb_cmc": (0.3, -0.3), "thumb_mcp": (0.4, -0.55), "thumb_ip": (0.2, -0.7),
            "thumb_tip": (0.0, -0.75)}  # fmt: skip


def hand(thumb="in", **fingers):
    points = {"wrist": (0.0, 0.0), **{f"{n}_mcp": xy for n, xy in KNUCKLES.items()}}
    points.update(_thumb(thumb))
    for name in KNUCKLES:
        points.update(_finger(name, fingers.get(name, "curled")))
    return points


def ok_hand():
    points = hand("out", middle="straight", ring="straight", pinky="straight")
    points.update({"index_pip": (0.45, -1.3), "index_dip": (0.7, -1.25), "index_tip": (0.75, -1.0)})
    points["thumb_tip"] = (0.78, -0.97)  # touching the index tip: a ring
    points["thumb_ip"] = (0.7, -0.75)
    return points


OPEN = {f: "straight" for f in KNUCKLES}
HANDS = {
    "open_palm": hand("out", **OPEN),
    "fist": hand("in"),
    "point": hand("in", index="straight"),
    "victory": hand("in", index="straight", middle="straight"),
    "thumbs_up": hand("up"),
    "ok": ok_hand(),
}


def to_hand(points, angle=0.0, scale=0.1, at=(0.5, 0.5), mirror=False, aspect=1.0):
    """Place a hand in a picture: scaled, turned, mirrored, then squashed to normalised x."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    keypoints = {}
    for name, (x, y) in points.items():
        x = -x if mirror else x
        px, py = (c * x - s * y) * scale, (s * x + c * y) * scale
        keypoints[name] = Keypoint(x=at[0] + px / aspect, y=at[1] + py)
    return Hand(keypoints=keypoints)


def top(scores):
    return max(scores, key=scores.get)


@pytest.mark.parametrize("gesture", list(HANDS))
def test_each_canonical_hand_reads_as_its_gesture(gesture):
    scores = gesture_scores(to_hand(HANDS[gesture]))
    assert top(scores) == gesture
    assert scores[gesture] > 0.8
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert sorted(scores.values())[-2] < 0.3, scores  # and clearly nothing else


@pytest.mark.parametrize("gesture", list(HANDS))
@pytest.mark.parametrize(
    "placement",
    [dict(angle=35, scale=0.03), dict(angle=-80, scale=0.3, at=(0.2, 0.7)),
     dict(angle=15, mirror=True), dict(angle=-20, aspect=16 / 9), dict(angle=10, aspect=0.5)],
)  # fmt: skip
def test_gestures_do_not_change_with_size_turn_place_side_or_picture_shape(gesture, placement):
    upright = gesture_scores(to_hand(HANDS[gesture]))
    moved = gesture_scores(to_hand(HANDS[gesture], **placement), placement.get("aspect", 1.0))
    thumbs = ("thumbs_up", "thumbs_down")
    for label in upright:
        if label not in thumbs:
            assert moved[label] == pytest.approx(upright[label], abs=1e-3), label
    assert sum(moved[t] for t in thumbs) == pytest.approx(sum(upright[t] for t in thumbs), abs=1e-3)


def test_thumbs_up_turned_upside_down_is_thumbs_down():
    scores = gesture_scores(to_hand(HANDS["thumbs_up"], angle=180))
    assert top(scores) == "thumbs_down" and scores["thumbs_up"] < 0.1


def test_a_hand_missing_points_scores_only_what_it_can_decide():
    points = {k: v for k, v in HANDS["open_palm"].items() if not k.startswith("pinky")}
    scores = gesture_scores(to_hand(points))
    assert scores == {}  # every pattern needs the little finger
    faint = to_hand(HANDS["open_palm"])
    faint.keypoints["thumb_tip"] = faint.keypoints["thumb_tip"].model_copy(
        update={"confidence": 0.05}
    )
    assert "open_palm" not in gesture_scores(faint) and "point" in gesture_scores(faint)


def test_the_hand_shapes_edits_make_are_read_back_as_the_same_gesture():
    for gesture, points in GESTURES.items():
        assert top(gesture_scores(to_hand(points))) == gesture


# --- faces ------------------------------------------------------------------------------------


def face_points(**moves):
    """The edits' neutral face, with landmarks moved (by iBUG index) in face-box units."""
    points = dict(NEUTRAL_FACE)
    for index, (dx, dy) in moves.get("by_index", {}).items():
        x, y = points[FACE_70[index]]
        points[FACE_70[index]] = (x + dx, y + dy)
    return points


def both_sides(moves):
    """iBUG moves for the subject's right side, mirrored onto the left."""
    out = dict(moves)
    for index, (dx, dy) in moves.items():
        out[FACE_70.index(FACE_FLIP[FACE_70[index]])] = (-dx, dy)
    return out


FACES = {
    "neutral": face_points(),
    # jaw dropped: the lower lips and chin well down, the corners a third as far
    "open_mouth": face_points(
        by_index={
            **{i: (0.0, 0.12) for i in (55, 56, 57, 58, 59, 65, 66, 67)},
            **{i: (0.0, 0.1) for i in (6, 7, 8, 9, 10)},
            **{i: (0.0, 0.04) for i in (48, 54, 60, 64)},
        }
    ),
    # lids met: upper lids down onto the lower ones
    "closed_eyes": face_points(by_index=both_sides({37: (0.0, 0.075), 38: (0.0, 0.075)})),
    # the mouth corners raised and drawn out
    "smile": face_points(by_index=both_sides({48: (-0.04, -0.06), 60: (-0.03, -0.04)})),
    # the corners pulled down
    "frown": face_points(by_index=both_sides({48: (0.0, 0.05), 60: (0.0, 0.04)})),
    # brows well up
    "raised_brows": face_points(
        by_index=both_sides(
            {17: (0, -0.07), 18: (0, -0.07), 19: (0, -0.07), 20: (0, -0.07), 21: (0, -0.07)}
        )
    ),
}


def to_face(points, angle=0.0, scale=0.2, at=(0.4, 0.3), aspect=1.0):
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    landmarks = {}
    for name, (x, y) in points.items():
        x, y = x - 0.5, y - 0.5
        px, py = (c * x - s * y) * scale, (s * x + c * y) * scale
        landmarks[name] = Keypoint(x=at[0] + px / aspect, y=at[1] + py)
    return Face(landmarks=landmarks)


@pytest.mark.parametrize("expression", list(FACES))
def test_each_canonical_face_reads_as_its_expression(expression):
    scores = expression_scores(to_face(FACES[expression]))
    assert top(scores) == expression and scores[expression] > 0.8
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    others = [v for k, v in scores.items() if k not in (expression, "neutral")]
    assert max(others) < 0.3, scores


def test_an_open_mouth_is_not_mistaken_for_a_smile_but_a_laugh_is_both():
    scores = expression_scores(to_face(FACES["open_mouth"]))
    assert scores["smile"] == 0.0 and scores["frown"] == 0.0
    # the jaw drops but the corners stay up: a laugh
    lower = (55, 56, 57, 58, 59, 65, 66, 67)
    laugh = expression_scores(to_face(face_points(by_index={i: (0.0, 0.12) for i in lower})))
    assert laugh["open_mouth"] == 1.0 and laugh["smile"] > 0.5


@pytest.mark.parametrize("expression", list(FACES))
@pytest.mark.parametrize(
    "placement",
    [dict(angle=25, scale=0.05), dict(angle=-40, scale=0.6, at=(0.5, 0.5)),
     dict(angle=170), dict(angle=-10, aspect=16 / 9)],
)  # fmt: skip
def test_expressions_do_not_change_with_size_tilt_or_picture_shape(expression, placement):
    upright = expression_scores(to_face(FACES[expression]))
    moved = expression_scores(to_face(FACES[expression], **placement), placement.get("aspect", 1))
    assert moved == pytest.approx(upright, abs=1e-3)


def test_the_expressions_edits_make_are_read_back():
    for expression, moves in EXPRESSIONS.items():
        points = {k: (x + moves.get(k, (0, 0))[0], y + moves.get(k, (0, 0))[1])
                  for k, (x, y) in NEUTRAL_FACE.items()}  # fmt: skip
        assert top(expression_scores(to_face(points))) == expression


def test_a_face_without_both_eyes_has_no_expression():
    points = {k: v for k, v in FACES["smile"].items() if not k.startswith("left_eye")}
    assert expression_scores(to_face(points)) == {}


def test_a_person_gets_expression_and_gestures_and_model_scores_win():
    person = Person(
        face=to_face(FACES["smile"]),
        hands={"left": to_hand(HANDS["fist"]), "right": to_hand(HANDS["victory"])},
        expression={"smile": 0.25},  # what a model said
    )
    read = annotate(person)
    assert read.expression["smile"] == 0.25 and read.expression["frown"] < 0.1
    assert top(read.gestures["left"]) == "fist" and top(read.gestures["right"]) == "victory"
