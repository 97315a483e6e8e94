"""Poses move to and from other tools' OpenPose editors without losing anything."""

import json
import math

import pytest

from image_interpreter.errors import PriorsError
from image_interpreter.priors.examples import example_person, example_priorset
from image_interpreter.priors.openpose import export_openpose, import_openpose


def _assert_people_equal(a, b):
    """Equal up to float rounding of x * width / width (1e-12 relative)."""
    assert len(a) == len(b)
    for pa, pb in zip(a, b, strict=True):
        da, db = pa.model_dump(), pb.model_dump()
        _close(da, db)


def _close(a, b, path="person"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), path
    else:
        assert a == b, path


def test_priors_to_openpose_json_and_back_loses_nothing():
    priors = example_priorset(people=2)
    people = priors.people.people
    data = export_openpose(people, priors.source.width, priors.source.height)
    back = import_openpose(json.dumps(data))
    assert (back.width, back.height) == (512, 768)
    _assert_people_equal(back.people, people)


def test_openpose_json_to_priors_and_back_is_identical():
    person = example_person()
    original = export_openpose([person], 640, 480)
    text = json.dumps(original)
    again = export_openpose(import_openpose(text).people, 640, 480)
    assert again.keys() == original.keys()
    for key in ("pose_keypoints_2d", "hand_left_keypoints_2d", "face_keypoints_2d"):
        assert len(again["people"][0][key]) == len(original["people"][0][key])
        for x, y in zip(again["people"][0][key], original["people"][0][key], strict=True):
            assert math.isclose(x, y, rel_tol=1e-12)


def test_export_uses_the_format_other_editors_read():
    priors = example_priorset()
    data = export_openpose(priors.people.people, 512, 768)
    person = data["people"][0]
    assert data["canvas_width"] == 512 and data["canvas_height"] == 768
    assert len(person["pose_keypoints_2d"]) == 18 * 3
    assert len(person["hand_left_keypoints_2d"]) == 21 * 3
    assert len(person["hand_right_keypoints_2d"]) == 21 * 3
    assert len(person["face_keypoints_2d"]) == 70 * 3
    # joint 1 is the neck, in pixels
    neck = priors.people.people[0].body["neck"]
    assert person["pose_keypoints_2d"][3:5] == [neck.x * 512, neck.y * 768]


def test_missing_joints_are_zero_triples_and_stay_missing():
    person = example_person()
    del person.body["left_knee"]
    data = export_openpose([person], 100, 100)
    assert data["people"][0]["pose_keypoints_2d"][12 * 3 : 12 * 3 + 3] == [0.0, 0.0, 0.0]
    back = import_openpose(data).people[0]
    assert "left_knee" not in back.body and "right_knee" in back.body


def test_a_joint_really_at_the_origin_with_zero_confidence_survives_our_round_trip():
    person = example_person()
    person.body["left_knee"] = person.body["left_knee"].model_copy(
        update={"x": 0.0, "y": 0.0, "confidence": 0.0}
    )
    back = import_openpose(export_openpose([person], 100, 100)).people[0]
    assert back.body["left_knee"].x == 0.0


def test_a_file_from_another_editor_imports():
    # As the sd-webui-controlnet OpenPose editor saves it: a list of frames, pixels, no hands.
    pose = [0.0] * 54
    pose[0:3] = [256.0, 100.0, 1.0]  # nose
    pose[3:6] = [256.0, 160.0, 1.0]  # neck
    pose[21:24] = [330.0, 300.0, 1.0]  # left_wrist (index 7)
    frames = [{"people": [{"pose_keypoints_2d": pose}], "canvas_width": 512, "canvas_height": 512}]
    imported = import_openpose(json.dumps(frames))
    person = imported.people[0]
    assert set(person.body) == {"nose", "neck", "left_wrist"}
    assert person.body["left_wrist"].x == pytest.approx(330 / 512)
    assert person.hands == {} and person.face is None


def test_body_25_files_import_with_their_feet():
    pose = [0.0] * 75
    pose[3:6] = [50.0, 20.0, 0.9]  # neck
    pose[8 * 3 : 8 * 3 + 3] = [50.0, 50.0, 0.9]  # mid hip: derivable, dropped
    pose[21 * 3 : 21 * 3 + 3] = [60.0, 95.0, 0.8]  # left heel
    person = import_openpose({"people": [{"pose_keypoints_2d": pose}]}, width=100, height=100)
    assert set(person.people[0].body) == {"neck", "left_heel"}


def test_normalised_coordinates_are_recognised():
    pose = [0.0] * 54
    pose[3:6] = [0.5, 0.25, 1.0]
    imported = import_openpose({"people": [{"pose_keypoints_2d": pose}]}, width=640, height=480)
    assert imported.people[0].body["neck"].x == 0.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "empty list"),
        ('{"canvas_width": 10, "canvas_height": 10}', "'people' list"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "canvas_width"),
        ('{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": [1, 2]}]}',
         "triples"),
        ('{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": [1, 2, 3]}]}',
         "expected 18"),
        ('{"canvas_width": 10, "canvas_height": 10, "people": [{"face_keypoints_2d": [1, 2, 3]}]}',
         "expected 70"),
        ('{"canvas_width": -5, "canvas_height": 10, "people": []}', "positive"),
        ('{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": ["a",1,1]}]}',
         "not a number"),
    ],
)  # fmt: skip
def test_malformed_files_are_refused_with_a_clear_message(data, message):
    with pytest.raises(PriorsError, match=message):
        import_openpose(data)
