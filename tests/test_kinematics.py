"""Body kinematics in the picture's plane: which way a person faces decides which way their
joints bend, lengths are kept as the user sees them, and limits hold from every view."""

import math

import pytest

from image_interpreter.priors import Keypoint, Person
from image_interpreter.priors.edits import MoveJoint, PosePreset, RotateLimb, apply, describe
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.examples import example_person, example_priorset
from image_interpreter.priors.joints import BODY_LIMBS, mirror_name

# Someone walking to the picture's right, seen from the side (both sides nearly overlap).
PROFILE = {
    "nose": (0.56, 0.16), "neck": (0.50, 0.26), "right_ear": (0.49, 0.15), "left_ear": (0.49, 0.15),
    "right_eye": (0.54, 0.14), "left_eye": (0.54, 0.14),
    "right_shoulder": (0.50, 0.27), "right_elbow": (0.50, 0.40), "right_wrist": (0.51, 0.52),
    "left_shoulder": (0.505, 0.27), "left_elbow": (0.505, 0.40), "left_wrist": (0.515, 0.52),
    "right_hip": (0.50, 0.55), "right_knee": (0.50, 0.72), "right_ankle": (0.50, 0.90),
    "left_hip": (0.505, 0.55), "left_knee": (0.505, 0.72), "left_ankle": (0.505, 0.90),
}  # fmt: skip


def priors_with(*people: Person, width: int = 512, height: int = 768):
    priors = example_priorset()
    source = priors.source.model_copy(update={"width": width, "height": height})
    people_prior = priors.people.model_copy(update={"people": list(people)})
    return priors.model_copy(update={"source": source, "people": people_prior})


def profile_person() -> Person:
    return Person(body={n: Keypoint(x=x, y=y) for n, (x, y) in PROFILE.items()})


def from_behind() -> Person:
    """The example person seen from the back: the same places, left and right swapped."""
    front = example_person()
    body = {mirror_name(n): kp for n, kp in front.body.items()}
    return Person(body=body, box=front.box)


def lengths(priors, aspect: float):
    body = priors.people.people[0].body
    return {
        (a, b): math.hypot((body[a].x - body[b].x) * aspect, body[a].y - body[b].y)
        for a, b in BODY_LIMBS
        if a in body and b in body
    }


def test_views():
    assert kin.view(example_person(), 512 / 768) == "camera"
    assert kin.view(from_behind(), 512 / 768) == "away"
    assert kin.view(profile_person(), 512 / 768) == "right"


def test_raising_the_left_arm_of_someone_seen_from_behind_raises_the_arm_on_our_left():
    priors = priors_with(from_behind())
    body = apply(PosePreset(preset="raise_arm", side="left"), priors).people.people[0].body
    old = priors.people.people[0].body
    assert old["left_shoulder"].x < old["neck"].x
    assert body["left_wrist"].y < body["left_shoulder"].y
    assert body["left_wrist"].x < body["left_shoulder"].x  # out to their side, our left


def test_in_profile_the_knee_bends_backwards_only():
    priors = priors_with(profile_person())
    forwards = RotateLimb(limb="left_shin", degrees=40)  # counter-clockwise: forwards here
    assert apply(forwards, priors).people.people[0].body == priors.people.people[0].body
    assert "limit of 0°" in describe(forwards, priors)
    bent = apply(PosePreset(preset="bend_knee", side="left"), priors).people.people[0].body
    assert bent["left_ankle"].x < bent["left_knee"].x  # the foot goes behind
    assert bent["left_knee"].x > priors.people.people[0].body["left_knee"].x  # the thigh forwards
    raised = apply(PosePreset(preset="raise_arm", side="right"), priors).people.people[0].body
    assert raised["right_wrist"].x > raised["right_shoulder"].x  # forwards and up
    assert raised["right_wrist"].y < raised["right_shoulder"].y


def test_in_profile_the_elbow_does_not_bend_backwards():
    priors = priors_with(profile_person())
    backwards = RotateLimb(limb="right_forearm", degrees=-90)
    body = apply(backwards, priors).people.people[0].body
    assert body["right_wrist"].x == pytest.approx(body["right_elbow"].x)  # straight, no further
    assert body["right_wrist"].y > body["right_elbow"].y
    assert "the right elbow stopped at its limit of 0°" in describe(backwards, priors)


@pytest.mark.parametrize(("width", "height"), [(512, 768), (1024, 512), (300, 300)])
def test_rotations_keep_lengths_as_seen_whatever_the_aspect(width, height):
    priors = priors_with(example_person(), width=width, height=height)
    aspect = width / height
    result = apply(RotateLimb(limb="right_upper_arm", degrees=-70), priors)
    for bone, size in lengths(priors, aspect).items():
        assert lengths(result, aspect)[bone] == pytest.approx(size, abs=1e-9)
    body = result.people.people[0].body
    old = priors.people.people[0].body
    before = math.atan2(old["right_elbow"].y - old["right_shoulder"].y,
                        (old["right_elbow"].x - old["right_shoulder"].x) * aspect)  # fmt: skip
    after = math.atan2(body["right_elbow"].y - body["right_shoulder"].y,
                       (body["right_elbow"].x - body["right_shoulder"].x) * aspect)  # fmt: skip
    assert math.degrees(after - before) % 360 == pytest.approx(
        70.0
    )  # clockwise seen = +angle, y down


def test_head_tilt_carries_the_face_rigidly_about_the_neck():
    priors = example_priorset()
    aspect = priors.source.width / priors.source.height
    result = apply(RotateLimb(limb="head", degrees=20), priors)
    old, new = priors.people.people[0], result.people.people[0]
    neck = old.body["neck"]
    for name, kp in old.face.landmarks.items():
        moved = new.face.landmarks[name]
        r0 = math.hypot((kp.x - neck.x) * aspect, kp.y - neck.y)
        r1 = math.hypot((moved.x - neck.x) * aspect, moved.y - neck.y)
        assert r1 == pytest.approx(r0, abs=1e-12)
    assert new.body["nose"].x < old.body["nose"].x  # counter-clockwise: the head leans left
    assert new.body["left_shoulder"] == old.body["left_shoulder"]
    too_far = RotateLimb(limb="head", degrees=120)
    assert "the neck stopped at its limit of 70°" in describe(too_far, priors)


def test_turning_the_hand_about_the_wrist_keeps_the_wrist():
    priors = example_priorset()
    result = apply(RotateLimb(limb="left_hand", degrees=45), priors)
    old, new = priors.people.people[0], result.people.people[0]
    assert new.body["left_wrist"] == old.body["left_wrist"]
    assert new.hands["left"] != old.hands["left"]
    assert new.hands["right"] == old.hands["right"]


def test_move_joint_can_place_an_unseen_joint():
    priors = example_priorset()
    result = apply(MoveJoint(joint="left_big_toe", to={"x": 0.58, "y": 0.93}), priors)
    toe = result.people.people[0].body["left_big_toe"]
    assert (toe.x, toe.y, toe.confidence) == (0.58, 0.93, 1.0)


def test_a_limb_that_was_not_seen_cannot_be_posed():
    person = example_person()
    body = {n: kp for n, kp in person.body.items() if n != "left_elbow"}
    priors = priors_with(person.model_copy(update={"body": body}))
    with pytest.raises(Exception, match="left elbow was not seen"):
        apply(PosePreset(preset="raise_arm", side="left"), priors)
