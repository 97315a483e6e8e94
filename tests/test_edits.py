"""Edits as a user sees them: the picture's geometry after "raise her left arm", errors that
say what to do, and inputs that never change."""

import json
import math

import pytest
from pydantic import TypeAdapter, ValidationError

from image_interpreter.errors import EditError
from image_interpreter.priors import Box, DetectedObject, Keypoint, ObjectsPrior, PriorSet
from image_interpreter.priors.edits import (
    EDIT_TYPES,
    AddStyle,
    AmendCaption,
    BlurDepth,
    CopyPose,
    DuplicatePerson,
    Edit,
    FlattenDepth,
    InvertDepth,
    JoinHands,
    MirrorPerson,
    MoveJoint,
    MovePerson,
    ObjectRef,
    PointAt,
    PosePreset,
    PushBackground,
    Reach,
    RemoveObject,
    RemovePerson,
    ReplaceObject,
    RotateLimb,
    ScaleDepth,
    ScalePerson,
    SetCandidates,
    SetCaption,
    SetEnabled,
    SetExpression,
    SetGesture,
    SetGuidance,
    SetGuide,
    SetNegativePrompt,
    SetSeed,
    SetSize,
    SetStepRange,
    SetSteps,
    SetStrength,
    SetTimeOfDay,
    SetWeight,
    apply,
    apply_all,
    describe,
    parse_edit,
)
from image_interpreter.priors.examples import example_person, example_priorset
from image_interpreter.priors.joints import BODY_LIMBS

RIGHT_AND_LEGS = (
    "right_shoulder", "right_elbow", "right_wrist", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle", "left_heel", "right_heel", "neck", "nose",
)  # fmt: skip


def aspect(priors: PriorSet) -> float:
    return priors.source.width / priors.source.height


def dist(a: Keypoint, b: Keypoint, k: float) -> float:
    """Distance as seen in the picture (x scaled by the aspect ratio)."""
    return math.hypot((a.x - b.x) * k, a.y - b.y)


def bones(priors: PriorSet, number: int = 1) -> dict[tuple[str, str], float]:
    body, k = priors.people.people[number - 1].body, aspect(priors)
    return {(a, b): dist(body[a], body[b], k) for a, b in BODY_LIMBS if a in body and b in body}


def hand_shape(priors: PriorSet, side: str, number: int = 1) -> list[float]:
    points = list(priors.people.people[number - 1].hands[side].keypoints.values())
    k = aspect(priors)
    return [dist(a, b, k) for i, a in enumerate(points) for b in points[i + 1 :]]


def person(priors: PriorSet, number: int = 1):
    return priors.people.people[number - 1]


# One of every edit type, valid for example_priorset(people=2).
EXAMPLES = [
    RotateLimb(limb="left_forearm", degrees=30),
    PosePreset(preset="raise_arm", side="left"),
    MoveJoint(joint="left_wrist", by={"x": 0.02, "y": -0.05}),
    Reach(side="left", to="head"),
    PointAt(side="right", target=ObjectRef(label="umbrella")),
    JoinHands(person=1, other=2, how="shake"),
    MovePerson(person=2, dx=-0.05, dy=0.02),
    ScalePerson(factor=0.8, anchor="feet"),
    MirrorPerson(person=2),
    RemovePerson(person=2),
    DuplicatePerson(),
    CopyPose(person=2, pose=example_person(label="the dancer")),
    SetGesture(side="right", gesture="victory"),
    SetExpression(expression="smile", amount=0.5),
    SetEnabled(kind="segmentation", enabled=True),
    SetWeight(kind="depth", weight=0.4),
    SetStepRange(kind="edges", start=0.1, end=0.7),
    SetGuide(kind="depth", weight=2.0, every=2),
    SetCaption(text="two dancers on a stage"),
    AmendCaption(text="under a spotlight"),
    AddStyle(style="oil painting"),
    SetTimeOfDay(time="dusk"),
    SetNegativePrompt(text="blurry, extra fingers"),
    ReplaceObject(target=ObjectRef(label="umbrella"), text="a yellow balloon"),
    RemoveObject(target=ObjectRef(point={"x": 0.6, "y": 0.3})),
    ScaleDepth(factor=1.5),
    FlattenDepth(amount=0.3),
    InvertDepth(),
    BlurDepth(radius=0.02),
    PushBackground(amount=0.5),
    SetSize(aspect="16:9"),
    SetSeed(seed=1234),
    SetCandidates(n=2),
    SetSteps(n=30),
    SetGuidance(value=5.5),
    SetStrength(value=0.6),
]


def test_examples_cover_every_edit_type():
    assert {e.op for e in EXAMPLES} == set(EDIT_TYPES)
    for op, cls in EDIT_TYPES.items():
        assert cls.model_fields["op"].default == op


@pytest.mark.parametrize("edit", EXAMPLES, ids=lambda e: e.op)
def test_json_round_trip_through_the_union(edit):
    adapter = TypeAdapter(Edit)
    again = adapter.validate_json(edit.model_dump_json())
    assert type(again) is type(edit)
    assert again == edit
    assert adapter.validate_python(json.loads(adapter.dump_json(edit))) == edit


@pytest.mark.parametrize("edit", EXAMPLES, ids=lambda e: e.op)
def test_every_edit_applies_purely_and_yields_valid_priors(edit):
    priors = example_priorset(people=2)
    before = priors.model_dump()
    result = apply(edit, priors)
    assert priors.model_dump() == before  # the input is never changed
    assert result is not priors
    assert result.model_dump() != before or edit.op == "set_enabled"
    assert PriorSet.model_validate(result.model_dump()) == result  # still valid priors
    sentence = describe(edit, priors)
    assert sentence and "\n" not in sentence and len(sentence) < 160


def test_raise_left_arm_over_the_head():
    priors = example_priorset()
    result = apply(PosePreset(preset="arm_over_head", side="left"), priors)
    old, new = person(priors), person(result)
    head_top = min(
        [kp.y for n, kp in old.body.items() if n in ("nose", "left_eye", "right_eye")]
        + [kp.y for kp in old.face.landmarks.values()]
    )
    assert new.body["left_wrist"].y < head_top
    for name in RIGHT_AND_LEGS:
        assert new.body[name] == old.body[name]
    assert new.hands["right"] == old.hands["right"]
    assert new.face == old.face
    for bone, size in bones(priors).items():
        assert bones(result)[bone] == pytest.approx(size, abs=1e-9)
    assert hand_shape(result, "left") == pytest.approx(hand_shape(priors, "left"), abs=1e-9)
    new_hand_wrist = new.hands["left"].keypoints["wrist"]
    assert dist(new_hand_wrist, new.body["left_wrist"], aspect(priors)) == pytest.approx(
        dist(old.hands["left"].keypoints["wrist"], old.body["left_wrist"], aspect(priors))
    )
    box = new.box
    assert box.y0 <= new.body["left_wrist"].y  # the box grew to hold the raised arm


def test_raise_the_left_arm_raises_the_one_on_the_pictures_right():
    priors = example_priorset()
    result = apply(PosePreset(preset="raise_arm", side="left"), priors)
    old, new = person(priors).body, person(result).body
    assert old["left_wrist"].x > old["neck"].x  # facing the camera: their left is our right
    assert new["left_wrist"].y < old["left_wrist"].y
    assert new["left_wrist"].y < new["left_shoulder"].y
    assert new["left_wrist"].x > new["left_shoulder"].x  # out to their side, not across
    assert new["right_wrist"] == old["right_wrist"]
    # raising an arm that is already up still raises it
    again = apply(PosePreset(preset="raise_arm", side="left"), result)
    assert person(again).body["left_wrist"].y < new["left_wrist"].y


@pytest.mark.parametrize(
    "preset",
    ["raise_arm", "lower_arm", "arm_over_head", "arm_out", "bend_elbow", "straighten_elbow",
     "hands_on_hips", "wave", "bend_knee", "straighten_knee"],
)  # fmt: skip
def test_presets_keep_every_bone_and_hand_rigid(preset):
    priors = example_priorset(people=3)
    result = apply(PosePreset(person=2, preset=preset, side="both"), priors)
    for bone, size in bones(priors, 2).items():
        assert bones(result, 2)[bone] == pytest.approx(size, abs=1e-9), bone
    for side in ("left", "right"):
        assert hand_shape(result, side, 2) == pytest.approx(hand_shape(priors, side, 2), abs=1e-9)
    assert person(result, 1) == person(priors, 1) and person(result, 3) == person(priors, 3)


def test_presets_do_what_they_say():
    priors = example_priorset()
    k = aspect(priors)

    def body(preset, **kw):
        return person(apply(PosePreset(preset=preset, side="left", **kw), priors)).body

    out = body("arm_out")
    assert out["left_wrist"].y == pytest.approx(out["left_shoulder"].y, abs=1e-9)
    assert out["left_wrist"].x > out["left_elbow"].x > out["left_shoulder"].x
    wave = body("wave")
    assert wave["left_wrist"].x == pytest.approx(wave["left_elbow"].x, abs=1e-9)
    assert wave["left_wrist"].y < wave["left_elbow"].y
    hips = body("hands_on_hips")
    assert dist(hips["left_wrist"], hips["left_hip"], k) < 0.1
    assert hips["left_elbow"].x > hips["left_shoulder"].x  # elbow out to the side
    lowered = body("lower_arm")
    assert lowered["left_wrist"].y > lowered["left_elbow"].y > lowered["left_shoulder"].y
    tilted = person(apply(PosePreset(preset="tilt_head", side="left"), priors)).body
    assert tilted["nose"].x > priors.people.people[0].body["nose"].x  # towards our right
    knees = person(apply(PosePreset(preset="bend_knee", side="both"), priors)).body
    old = person(priors).body
    assert max(knees["left_heel"].y, knees["right_heel"].y) == pytest.approx(
        max(old["left_heel"].y, old["right_heel"].y)
    )  # a squat: the feet stay on the ground, the body comes down
    assert knees["neck"].y > old["neck"].y


def test_knee_bends_only_backwards_and_stops_at_its_limit():
    priors = example_priorset()
    k = aspect(priors)
    too_far = RotateLimb(limb="left_shin", degrees=-200)
    body = person(apply(too_far, priors)).body
    thigh = (body["left_knee"].x - body["left_hip"].x, body["left_knee"].y - body["left_hip"].y)
    shin = (body["left_ankle"].x - body["left_knee"].x, body["left_ankle"].y - body["left_knee"].y)
    cos = (thigh[0] * shin[0] * k * k + thigh[1] * shin[1]) / (
        math.hypot(thigh[0] * k, thigh[1]) * math.hypot(shin[0] * k, shin[1])
    )
    assert math.degrees(math.acos(cos)) == pytest.approx(160.0)
    assert "limit of 160°" in describe(too_far, priors)
    assert "limit" not in describe(too_far)  # without priors it cannot know
    wrong_way = RotateLimb(limb="left_shin", degrees=30)
    assert person(apply(wrong_way, priors)).body == person(priors).body
    assert "limit of 0°" in describe(wrong_way, priors)


def test_mirror_swaps_sides_and_twice_is_identity():
    priors = example_priorset()
    once = apply(MirrorPerson(), priors)
    old, new = person(priors), person(once)
    centre = (old.box.x0 + old.box.x1) / 2
    assert new.body["left_wrist"].x == pytest.approx(2 * centre - old.body["right_wrist"].x)
    assert new.body["left_wrist"].y == old.body["right_wrist"].y
    assert new.face.landmarks["mouth_outer_0"].x == pytest.approx(
        2 * centre - old.face.landmarks["mouth_outer_6"].x
    )
    twice = person(apply(MirrorPerson(), once))
    assert_close(twice, old)


def assert_close(a, b) -> None:
    """The same person, up to float rounding."""
    for name, kp in a.body.items():
        assert kp.x == pytest.approx(b.body[name].x, abs=1e-12) and kp.y == b.body[name].y
    for side, hand in a.hands.items():
        for name, kp in hand.keypoints.items():
            assert kp.x == pytest.approx(b.hands[side].keypoints[name].x, abs=1e-12)
    for name, kp in a.face.landmarks.items():
        assert kp.x == pytest.approx(b.face.landmarks[name].x, abs=1e-12)
    assert a.box == b.box and a.expression == b.expression


def test_duplicate_and_remove_count_people():
    priors = example_priorset(people=2)
    more = apply(DuplicatePerson(person=1), priors)
    assert len(more.people.people) == 3
    copy = person(more, 3)
    assert bones(more, 3) == pytest.approx(bones(priors, 1))
    assert copy.box.x0 >= person(priors, 1).box.x1 or copy.box.x1 <= person(priors, 1).box.x0
    assert "person 3" in describe(DuplicatePerson(person=1), priors)
    fewer = apply(RemovePerson(person=1), priors)
    assert fewer.people.people == [person(priors, 2)]
    assert apply(RemovePerson(), apply(RemovePerson(), priors)).people.people == []


def test_move_and_scale_keep_the_person_in_the_picture():
    priors = example_priorset()
    moved = person(apply(MovePerson(dx=0.1, dy=-0.02), priors))
    assert moved.body["nose"].x == pytest.approx(person(priors).body["nose"].x + 0.1)
    with pytest.raises(EditError, match="out of the picture"):
        apply(MovePerson(dx=0.9), priors)
    big = person(apply(ScalePerson(factor=0.5, anchor="feet"), priors))
    old = person(priors)
    assert big.body["left_heel"].y == pytest.approx(old.body["left_heel"].y)
    assert bones(apply(ScalePerson(factor=0.5), priors))[("neck", "nose")] == pytest.approx(
        0.5 * bones(priors)[("neck", "nose")]
    )


def test_move_joint_carries_the_hand_with_the_wrist():
    priors = example_priorset()
    result = apply(MoveJoint(joint="left_wrist", by={"x": 0.05, "y": -0.1}), priors)
    old, new = person(priors), person(result)
    assert new.body["left_wrist"].x == pytest.approx(old.body["left_wrist"].x + 0.05)
    for name, kp in new.hands["left"].keypoints.items():
        assert kp.x == pytest.approx(old.hands["left"].keypoints[name].x + 0.05)
        assert kp.y == pytest.approx(old.hands["left"].keypoints[name].y - 0.1)
    assert new.body["left_elbow"] == old.body["left_elbow"]  # only that joint (and its hand)


@pytest.mark.parametrize("gesture", ["fist", "open_palm", "point", "victory", "thumbs_up", "ok"])
def test_gesture_fits_the_hand_where_it_is(gesture):
    priors = example_priorset()
    k = aspect(priors)
    result = apply(SetGesture(side="left", gesture=gesture), priors)
    old, new = person(priors).hands["left"], person(result).hands["left"]
    assert new.keypoints["wrist"] == old.keypoints["wrist"]
    assert dist(new.keypoints["wrist"], new.keypoints["middle_mcp"], k) == pytest.approx(
        dist(old.keypoints["wrist"], old.keypoints["middle_mcp"], k), abs=1e-12
    )
    assert len(new.keypoints) == 21
    assert new.gestures == {gesture: 1.0}
    assert person(result).hands["right"] == person(priors).hands["right"]


def test_gesture_builds_a_missing_hand_along_the_forearm():
    priors = example_priorset()
    bare = person(priors).model_copy(update={"hands": {}})
    priors = priors.model_copy(
        update={"people": priors.people.model_copy(update={"people": [bare]})}
    )
    k = aspect(priors)
    hand = person(apply(SetGesture(side="right", gesture="fist"), priors)).hands["right"]
    body = bare.body
    assert hand.keypoints["wrist"].x == pytest.approx(body["right_wrist"].x)
    forearm = dist(body["right_elbow"], body["right_wrist"], k)
    palm = dist(hand.keypoints["wrist"], hand.keypoints["middle_mcp"], k)
    assert 0.2 * forearm < palm < 0.6 * forearm
    assert hand.keypoints["middle_mcp"].y > body["right_wrist"].y  # continues the hanging arm


def test_smile_raises_the_mouth_corners():
    priors = apply(SetExpression(expression="neutral"), example_priorset())
    result = apply(SetExpression(expression="smile"), priors)

    def corners_above_centre(p):
        face = person(p).face.landmarks
        centre = (face["mouth_outer_3"].y + face["mouth_outer_9"].y) / 2
        return [centre - face[n].y for n in ("mouth_outer_0", "mouth_outer_6")]

    before, after = corners_above_centre(priors), corners_above_centre(result)
    assert all(a > b + 1e-4 for a, b in zip(after, before, strict=True))
    assert person(result).expression == {"smile": 1.0}
    assert apply(SetExpression(expression="smile"), result) == result  # idempotent
    undone = apply(SetExpression(expression="smile", amount=0.0), result)
    assert corners_above_centre(undone) == pytest.approx(before, abs=1e-12)


def test_other_expressions_move_the_right_landmarks():
    priors = apply(SetExpression(expression="neutral"), example_priorset())
    face = person(priors).face.landmarks

    def after(expression):
        return person(apply(SetExpression(expression=expression), priors)).face.landmarks

    shut = after("closed_eyes")
    gap = face["right_eye_5"].y - face["right_eye_1"].y
    assert shut["right_eye_5"].y - shut["right_eye_1"].y < 0.2 * gap
    opened = after("open_mouth")
    assert opened["mouth_inner_6"].y - opened["mouth_inner_2"].y > (
        face["mouth_inner_6"].y - face["mouth_inner_2"].y
    )
    assert after("raised_brows")["left_brow_2"].y < face["left_brow_2"].y
    assert after("frown")["mouth_outer_0"].y > face["mouth_outer_0"].y


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"op": "rotate_limb", "person": 5, "limb": "head", "degrees": 10}, "no person 5"),
        ({"op": "move_joint", "joint": "left_wing", "to": {"x": 0.5, "y": 0.5}}, "joint"),
        ({"op": "set_weight", "kind": "depth", "weight": 3}, "less than or equal to 2"),
        ({"op": "set_enabled", "kind": "people", "enabled": False}, "priors it has: caption"),
        ({"op": "spin_person"}, "Known ops"),
        ({"op": "move_joint", "joint": "left_big_toe", "by": {"x": 0.1, "y": 0}}, "not seen"),
        ({"op": "scale_depth", "factor": 3}, "most it can be scaled by now is 1.33"),
        ({"op": "pose_preset", "preset": "tilt_head"}, "left' or 'right'"),
        ({"op": "pose_preset", "preset": "wave", "amount": 3}, "takes no amount"),
    ],
)
def test_invalid_edits_raise_edit_error_and_change_nothing(edit, match):
    priors = example_priorset()
    priors = priors.model_copy(update={"people": None}) if edit.get("kind") == "people" else priors
    priors = apply(ScaleDepth(factor=3), priors) if edit["op"] == "scale_depth" else priors
    before = priors.model_dump()
    with pytest.raises(EditError, match=match):
        apply(edit, priors)
    assert priors.model_dump() == before


def test_models_refuse_bad_fields_at_construction():
    with pytest.raises(ValidationError):
        SetWeight(kind="depth", weight=3)
    with pytest.raises(ValidationError):
        MoveJoint(joint="left_wrist")  # neither to nor by
    with pytest.raises(EditError, match="Invalid edit 'set_size'"):
        parse_edit('{"op": "set_size", "aspect": "wide-ish"}')


def test_apply_all_is_all_or_nothing():
    priors = example_priorset()
    good = [SetCaption(text="a dancer"), PosePreset(preset="raise_arm", side="both")]
    result = apply_all(good, priors)
    assert result.caption.text == "a dancer"
    assert person(result).body["right_wrist"].y < person(priors).body["right_wrist"].y
    before = priors.model_dump()
    with pytest.raises(EditError, match=r"Edit 3 of 3 .* none were applied: There is no person 2"):
        apply_all([*good, RemovePerson(person=2)], priors)
    assert priors.model_dump() == before


def test_objects_are_picked_helpfully():
    priors = example_priorset()
    second = DetectedObject(label="umbrella", box=Box(x0=0.1, y0=0.1, x1=0.2, y1=0.3))
    big = DetectedObject(label="tree", box=Box(x0=0.0, y0=0.0, x1=1.0, y1=0.6))
    objects = ObjectsPrior(objects=[*priors.objects.objects, second, big])
    priors = priors.model_copy(update={"objects": objects})
    with pytest.raises(EditError, match=r"2 objects labelled 'umbrella'.*index from 1 to 2"):
        apply(RemoveObject(target=ObjectRef(label="umbrella")), priors)
    result = apply(
        ReplaceObject(target=ObjectRef(label="umbrella", index=2), text="a kite"), priors
    )
    assert result.objects.objects[1].action == "replace"
    assert result.objects.objects[1].replacement == "a kite"
    assert result.objects.objects[0].action == "keep"
    by_point = apply(RemoveObject(target=ObjectRef(point={"x": 0.6, "y": 0.3})), priors)
    assert [o.action for o in by_point.objects.objects] == ["remove", "keep", "keep"]
    assert by_point.objects.objects[0].mask == priors.objects.objects[0].mask
    with pytest.raises(EditError, match="labels found: tree, umbrella"):
        apply(RemoveObject(target=ObjectRef(label="dog")), priors)


def test_prior_text_depth_and_generation_edits():
    priors = example_priorset().model_copy(update={"caption": None})
    captioned = apply_all(
        [AmendCaption(text="a quiet street."), AddStyle(style="Watercolour"),
         AddStyle(style="watercolour"), SetTimeOfDay(time="night"), SetNegativePrompt(text="")],
        priors,
    )  # fmt: skip
    assert captioned.caption.text == "a quiet street."
    assert captioned.caption.style == ["Watercolour"]
    assert captioned.caption.time_of_day == "night" and captioned.caption.negative is None
    amended = apply(AmendCaption(text="in the rain"), captioned)
    assert amended.caption.text == "a quiet street, in the rain"
    depth = apply_all([InvertDepth(), InvertDepth(), ScaleDepth(factor=2)], priors)
    assert depth.depth.adjust.invert is False and depth.depth.adjust.scale == 2.0
    size = apply(SetSize(aspect="16:9"), priors).generation
    assert size.width % 8 == 0 and size.height % 8 == 0
    assert size.width / size.height == pytest.approx(16 / 9, rel=0.02)
    assert apply(SetSize(width=1001, height=499), priors).generation.width == 1000
    steps = apply(SetStepRange(kind="edges", start=0.2, end=0.5), priors)
    assert (steps.edges.start, steps.edges.end) == (0.2, 0.5)


def test_copy_pose_fits_the_pose_to_the_person():
    priors = example_priorset()
    dancer = person(apply(PosePreset(preset="arm_over_head", side="both"), priors))
    # the same pose, twice as big and elsewhere, as if from another picture
    big = dancer.model_copy(
        update={"body": {n: Keypoint(x=kp.x * 2 - 0.3, y=kp.y * 2 - 0.1) for n, kp in
                         dancer.body.items()}, "hands": {}, "face": None}
    )  # fmt: skip
    result = person(apply(CopyPose(pose=big), priors))
    target = person(priors)
    assert result.body["neck"].x == pytest.approx(target.body["neck"].x)
    assert result.body["neck"].y == pytest.approx(target.body["neck"].y)
    for name in ("left_wrist", "right_ankle"):
        assert result.body[name].x == pytest.approx(dancer.body[name].x)
        assert result.body[name].y == pytest.approx(dancer.body[name].y)
    # the person's own hands and face come along with their wrists and head
    assert hand_shape(apply(CopyPose(pose=big), priors), "left") == pytest.approx(
        hand_shape(priors, "left")
    )
    assert result.face is not None and result.expression == target.expression


def test_describe_is_a_short_sentence():
    assert describe(RotateLimb(limb="left_upper_arm", degrees=90)) == (
        "rotated person 1's left upper arm 90° counter-clockwise"
    )
    assert describe(PosePreset(person=2, preset="raise_arm", side="left")) == (
        "raised person 2's left arm"
    )
    assert describe({"op": "set_expression", "expression": "smile"}) == "made person 1 smile"
    assert describe(SetSize(width=1024, height=576)) == "set the output size to 1024×576"
