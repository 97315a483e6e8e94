"""The body vocabulary of issue 13, as a user would check it on the skeleton: every pose keeps
the bones' lengths and the joints' limits from the front, the back and in profile; a hand sent
somewhere lands there (or says it cannot); and each change is undone by its opposite."""

from __future__ import annotations

import math
from typing import get_args

import pytest
from test_kinematics import from_behind, priors_with, profile_person

from image_interpreter.priors.edits import PosePreset, apply, apply_all, describe, ik
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.pose import ONE_SIDE_PRESETS, PresetName
from image_interpreter.priors.examples import example_person, example_priorset

ASPECT = 512 / 768
DIAGONAL = math.hypot(ASPECT, 1.0)
OLD = {"raise_arm", "lower_arm", "arm_over_head", "arm_out", "bend_elbow", "straighten_elbow",
       "hands_on_hips", "wave", "bend_knee", "straighten_knee", "tilt_head"}  # fmt: skip
NEW = [p for p in get_args(PresetName) if p not in OLD]
VIEWS = {"front": example_person, "back": from_behind, "profile": profile_person}


def preset(name: str, **kw) -> PosePreset:
    side = "left" if name in ONE_SIDE_PRESETS else kw.pop("side", "both")
    return PosePreset(preset=name, side=side, **kw)


LIMB_BONES = [(limb.pivot, limb.end) for limb in kin.LIMBS.values()
              if limb.kind in ("shoulder", "elbow", "hip", "knee")]  # fmt: skip


def bones(person) -> list[float]:
    """The picture lengths of the arms' and legs' bones. (A head turned or a torso leaned
    towards the camera is foreshortened, as in a photograph; limbs keep their lengths.)"""
    return [math.dist(kin.point(person, a, ASPECT), kin.point(person, b, ASPECT))
            for a, b in LIMB_BONES]  # fmt: skip


def within_limits(person, aspect: float) -> list[str]:
    view = kin.view(person, aspect)
    out = []
    for name, limb in kin.LIMBS.items():
        angle = kin.joint_angle(person, limb, aspect)
        low, high = kin.limits(limb, view)
        if angle is not None and not low - 1e-6 <= angle <= high + 1e-6:
            out.append(f"{name} at {angle:.1f}° outside {low:g}..{high:g}")
    return out


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", NEW)
def test_every_new_pose_keeps_bone_lengths_and_joint_limits(name, view):
    priors = priors_with(VIEWS[view]())
    posed = apply(preset(name), priors)
    before, after = bones(priors.people.people[0]), bones(posed.people.people[0])
    assert after == pytest.approx(before, rel=1e-6), name
    assert not within_limits(posed.people.people[0], ASPECT), name


REACHABLE = ["head", "face", "mouth", "chest", "belly", "back", "right_shoulder", "right_hip",
             "left_hip", "neck"]  # fmt: skip


@pytest.mark.parametrize("part", REACHABLE)
def test_the_left_hand_lands_on_the_part_within_one_percent_of_the_diagonal(part):
    priors = example_priorset()
    person = priors.people.people[0]
    target = ik.body_target(person, part, "left", ASPECT, 1)
    posed = apply({"op": "reach", "side": "left", "to": part}, priors).people.people[0]
    wrist = kin.point(posed, "left_wrist", ASPECT)
    assert math.dist(wrist, target) <= 0.01 * DIAGONAL
    assert bones(posed) == pytest.approx(bones(person), rel=1e-6)
    assert not within_limits(posed, ASPECT)
    assert "cannot reach" not in describe({"op": "reach", "side": "left", "to": part}, priors)


def test_a_knee_too_far_to_reach_standing_up_is_said_and_the_arm_stretches_towards_it():
    priors = example_priorset()
    edit = {"op": "reach", "side": "right", "to": "left_knee"}
    text = describe(edit, priors)
    assert "cannot reach" in text and "short" in text
    before = kin.point(priors.people.people[0], "right_wrist", ASPECT)
    after = kin.point(apply(edit, priors).people.people[0], "right_wrist", ASPECT)
    knee = kin.point(priors.people.people[0], "left_knee", ASPECT)
    assert math.dist(after, knee) < math.dist(before, knee)


def test_the_solver_picks_the_elbow_the_limits_allow_in_profile():
    priors = priors_with(profile_person())
    posed = apply({"op": "reach", "side": "right", "to": "chest"}, priors).people.people[0]
    assert not within_limits(posed, ASPECT)
    assert kin.joint_angle(posed, kin.LIMBS["right_forearm"], ASPECT) >= 0  # never backwards


@pytest.mark.parametrize("how", ["hold", "shake"])
def test_two_peoples_hands_meet(how):
    priors = example_priorset(2)
    after = apply({"op": "join_hands", "how": how}, priors).people.people
    if how == "shake":
        hands = [kin.point(p, "right_wrist", ASPECT) for p in after]
    else:  # person 1 stands on the left: their left hand (on our right) takes the other's right
        hands = [kin.point(after[0], "left_wrist", ASPECT),
                 kin.point(after[1], "right_wrist", ASPECT)]  # fmt: skip
    assert math.dist(*hands) <= 0.02 * DIAGONAL


def test_people_too_far_apart_to_hold_hands_are_told_so():
    far = priors_with(example_person(dx=-0.3), example_person(dx=0.3), width=1536, height=768)
    text = describe({"op": "join_hands"}, far)
    assert "cannot reach" in text


def test_pointing_at_an_object_aims_the_straight_arm_at_its_box():
    priors = example_priorset()
    box = priors.objects.objects[0].box
    goal = ((box.x0 + box.x1) / 2 * ASPECT, (box.y0 + box.y1) / 2)
    posed = apply({"op": "point_at", "side": "left", "target": {"index": 1}}, priors)
    person = posed.people.people[0]
    shoulder, wrist = (kin.point(person, f"left_{j}", ASPECT) for j in ("shoulder", "wrist"))
    aim = math.degrees(math.atan2(wrist[1] - shoulder[1], wrist[0] - shoulder[0]))
    want = math.degrees(math.atan2(goal[1] - shoulder[1], goal[0] - shoulder[0]))
    assert abs(aim - want) < 1.0
    assert person.hands["left"].gestures == {"point": 1.0}


OPPOSITES = [
    (preset("turn_head", amount=40), PosePreset(preset="turn_head", side="right", amount=40)),
    (preset("look_up"), preset("look_down")),
    (preset("lean", amount=20), PosePreset(preset="lean", side="right", amount=20)),
    (preset("lean_forward", amount=25), preset("lean_back", amount=25)),
    (preset("turn_shoulders"), PosePreset(preset="turn_shoulders", side="right")),
    (preset("raise_leg", side="left"), preset("lower_leg", side="left")),
    (preset("kick", side="right"), preset("lower_leg", side="right")),
    (preset("sit"), preset("stand")),
    (preset("squat"), preset("stand")),
    (preset("kneel"), preset("stand")),
]


@pytest.mark.parametrize("view", ["front", "profile"])
@pytest.mark.parametrize(("there", "back"), OPPOSITES, ids=lambda e: e.preset)
def test_a_change_and_its_opposite_cancel(there, back, view):
    person = VIEWS[view]()
    body = {n: kp.model_copy(update={"x": kp.x}) for n, kp in person.body.items()}
    # straight legs along an upright torso, so standing up again is exact
    body["neck"] = body["neck"].model_copy(
        update={"x": (body["left_hip"].x + body["right_hip"].x) / 2}
    )
    for side in ("left", "right"):
        for j in ("knee", "ankle"):
            hip = body[f"{side}_hip"]
            body[f"{side}_{j}"] = body[f"{side}_{j}"].model_copy(update={"x": hip.x})
    priors = priors_with(person.model_copy(update={"body": body}))
    again = apply(back, apply(there, priors)).people.people[0]
    start = priors.people.people[0]
    for name, kp in start.body.items():
        assert (again.body[name].x, again.body[name].y) == pytest.approx((kp.x, kp.y), abs=1e-9)


def test_turning_the_head_moves_nose_eyes_ears_and_face_together_towards_that_side():
    priors = example_priorset()
    start = priors.people.people[0]
    turned = apply(preset("turn_head", amount=30), priors).people.people[0]
    # facing the camera, the subject's left is the picture's right
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        assert turned.body[name].x > start.body[name].x, name
        assert turned.body[name].y == pytest.approx(start.body[name].y)
    moved = [turned.face.landmarks[n].x - kp.x for n, kp in start.face.landmarks.items()]
    assert min(moved) > 0
    assert turned.body["neck"] == start.body["neck"]


def test_looking_up_raises_the_face_and_a_nod_lowers_it():
    priors = example_priorset()
    start = priors.people.people[0].body["nose"].y
    assert apply(preset("look_up"), priors).people.people[0].body["nose"].y < start
    nod = PosePreset(preset="look_down", amount=15)
    assert apply(nod, priors).people.people[0].body["nose"].y > start


def test_leaning_left_seen_from_the_front_moves_the_head_to_the_pictures_right():
    priors = example_priorset()
    nose = priors.people.people[0].body["nose"].x
    leaned = apply(preset("lean"), priors).people.people[0]
    assert leaned.body["nose"].x > nose
    assert leaned.body["left_ankle"] == priors.people.people[0].body["left_ankle"]


def test_sitting_keeps_the_feet_on_the_ground_and_lowers_the_hips():
    priors = priors_with(profile_person())
    start = priors.people.people[0].body
    sat = apply(preset("sit"), priors).people.people[0].body
    feet = max(start["left_ankle"].y, start["right_ankle"].y)
    assert max(sat["left_ankle"].y, sat["right_ankle"].y) == pytest.approx(feet)
    assert sat["right_hip"].y > start["right_hip"].y + 0.1


def test_a_jump_leaves_the_ground():
    priors = example_priorset()
    feet = priors.people.people[0].body["left_ankle"].y
    jumped = apply(preset("jump"), priors).people.people[0].body
    assert max(jumped["left_ankle"].y, jumped["right_ankle"].y) < feet - 0.05


def test_a_head_turn_needs_a_side_and_an_amount_in_range():
    with pytest.raises(ValueError, match="needs side"):
        PosePreset(preset="turn_head", side="both")
    with pytest.raises(ValueError, match="from 1 to 90"):
        PosePreset(preset="turn_head", side="left", amount=120)


# --- the editor's words are the user's words --------------------------------------------------

SAID_AND_SHOWN = [
    ("raise the left leg", "left leg raised, knee bent"),
    ("turn her head to the right", "head turned to their right"),
    ("kneel", "kneeling"),
    ("cross the arms", "arms crossed"),
    ("put the left hand on the head", "left hand on the head"),
    ("lean to the left", "leaning to their left"),
    ("hands behind the head", "hands behind the head"),
    ("kick sideways with the right leg", "right leg kicked out to the side"),
    ("squat", "squatting"),
    ("clap", "hands together"),
]


@pytest.mark.parametrize(("said", "shown"), SAID_AND_SHOWN)
def test_the_priors_are_described_in_the_words_that_made_them(said, shown):
    from image_interpreter.agent.interpreter import interpret
    from image_interpreter.tools.describe import describe_kinds, pose_summary

    priors = example_priorset()
    assert pose_summary(priors.people.people[0], ASPECT) == ""  # standing at ease
    posed = apply_all(interpret(said, priors).actions, priors)
    assert shown in pose_summary(posed.people.people[0], ASPECT)
    table_line = describe_kinds(posed, ["people"])[0]  # the web chat's priors table row
    assert table_line.startswith("people (on, weight 1): 1 person — ") and shown in table_line


def test_sitting_in_profile_is_described_as_sitting():
    from image_interpreter.tools.describe import pose_summary

    posed = apply(preset("sit"), priors_with(profile_person())).people.people[0]
    assert pose_summary(posed, ASPECT).split("; ")[0] == "sitting"


def test_a_foot_reaches_the_other_knee_bending_its_own_knee_the_way_knees_bend():
    priors = priors_with(profile_person())
    edit = {"op": "reach", "side": "right", "to": "left_knee", "limb": "leg"}
    posed = apply(edit, priors).people.people[0]
    knee = kin.point(posed, "left_knee", ASPECT)
    assert math.dist(kin.point(posed, "right_ankle", ASPECT), knee) <= 0.01 * DIAGONAL
    assert bones(posed) == pytest.approx(bones(priors.people.people[0]), rel=1e-6)
    assert not within_limits(posed, ASPECT)
    assert "cannot reach" not in describe(edit, priors)
