"""People extraction: a user asks for "pose" on a photo and gets people as data (named joints,
hands, faces, expressions), on the tiny profile's random-weight OpenPose networks; converters are
checked on the detectors' own result objects with known coordinates."""

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from skimage import data
from test_expression_rules import HANDS

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractionService, find_extractor
from image_interpreter.extract.extractors.pose import mediapipe as mp_backend
from image_interpreter.extract.extractors.pose.convert import (
    people_from_wholebody,
    person_from_pose_result,
)
from image_interpreter.images import encode_png
from image_interpreter.priors.edits.templates import NEUTRAL_FACE
from image_interpreter.priors.joints import FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.schema import BodyJoint, ImageRef, PeoplePrior
from image_interpreter.settings import load_settings

FAST = {"detect_resolution": 128}


def _ref(picture):
    import hashlib

    return ImageRef(sha256=hashlib.sha256(encode_png(picture)).hexdigest(),
                    width=picture.width, height=picture.height)  # fmt: skip


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return ExtractionService(load_settings(profile="tiny", data_dir=tmp_path_factory.mktemp("d")))


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(data.astronaut()).resize((128, 128))


def _check(prior):
    """What any people prior promises: names, coordinates and scores in range."""
    assert isinstance(prior, PeoplePrior)
    for person in prior.people:
        points = [*person.body.values()]
        points += [p for hand in person.hands.values() for p in hand.keypoints.values()]
        points += list(person.face.landmarks.values()) if person.face else []
        assert points and all(0 <= p.x <= 1 and 0 <= p.y <= 1 for p in points)
        assert all(0 <= p.confidence <= 1 for p in points)
        assert set(person.hands) <= {"left", "right"}
        scores = [*person.expression.values(), *(v for h in person.hands.values()
                                                 for v in h.gestures.values())]  # fmt: skip
        assert all(0 <= s <= 1 for s in scores)


def test_users_ask_for_people_by_kind_alias_or_backend():
    assert find_extractor("people").name == "pose.openpose"
    assert find_extractor("pose").name == "pose.openpose"
    assert find_extractor("dwpose").name == "pose.dwpose"
    assert find_extractor("pose.mediapipe").kind == "people"


def test_people_from_a_photo_are_data_and_the_second_ask_is_free(service, photo):
    prior = service.extract(photo, _ref(photo), "pose", FAST)
    _check(prior)
    assert prior.provenance.extractor == "pose.openpose"
    assert prior.provenance.model_id == "tiny/openpose"
    assert prior.provenance.parameters["hands"] is True
    runs = service.model_runs
    assert service.extract(photo, _ref(photo), "people", FAST) == prior
    assert service.model_runs == runs


def test_a_picture_with_nobody_in_it_gives_no_people(service):
    grey = Image.new("RGB", (96, 128), (128, 128, 128))
    assert service.extract(grey, _ref(grey), "pose", FAST).people == []


@pytest.mark.parametrize(
    "params, message",
    [({"hands": "sometimes"}, "hands"), ({"detect_resolution": 8}, "detect_resolution"),
     ({"colour": 1}, "colour")],
)  # fmt: skip
def test_wrong_parameters_are_refused(service, photo, params, message):
    runs = service.model_runs
    with pytest.raises(ExtractionError, match=message):
        service.extract(photo, _ref(photo), "pose", params)
    assert service.model_runs == runs


def test_a_missing_real_model_names_it_and_the_way_out(tmp_path, photo):
    settings = load_settings(profile="sd15", offline=True, data_dir=tmp_path,
                             hf_cache_dir=tmp_path / "hub")  # fmt: skip
    with pytest.raises(ModelUnavailable, match=r"lllyasviel/Annotators.*extract\.pose\.openpose"):
        ExtractionService(settings).extract(photo, _ref(photo), "pose", FAST)


# --- hands and face, around a body -------------------------------------------------------------
# Random weights find no real body, so the body network is given one; the hand and face networks
# are given known outputs, so where each point lands in the picture can be checked exactly.

BODY = {"nose": (120, 70), "neck": (120, 115), "right_shoulder": (80, 120),
        "right_elbow": (60, 170), "right_wrist": (70, 210), "left_shoulder": (160, 120),
        "left_elbow": (185, 170), "left_wrist": (180, 215), "right_eye": (110, 60),
        "left_eye": (130, 60), "right_ear": (100, 65), "left_ear": (140, 65)}  # fmt: skip


class _Body:
    """Stands in for controlnet-aux's body network + grouping: one person, pixels of 256 x 256."""

    def __init__(self, real):
        self.format_body_result = real.format_body_result

    def __call__(self, bgr):
        candidate = np.array([[*BODY[n], 0.9, i] for i, n in enumerate(BODY)], dtype=float)
        row = -np.ones(20)
        for i, name in enumerate(BODY):
            row[OPENPOSE_BODY_18.index(name)] = i
        row[18:] = (10.0, len(BODY))
        return candidate, row[None]


def _hand_network(shapes):
    """Hand peaks in crop pixels: the given gestures' canonical hands, in turn (left first)."""
    calls = iter(shapes)

    def run(crop):
        points = HANDS[next(calls)]
        size = crop.shape[0]
        return np.array([[size * (0.5 + 0.2 * points[n][0]), size * (0.8 + 0.2 * points[n][1])]
                         for n in HAND_21]).astype(int)  # fmt: skip

    return run


def _face_network(crop):
    """Heatmaps (71, h, w) peaking at the neutral face's landmarks, jaw_0 below threshold."""
    h, w = crop.shape[:2]
    maps = np.zeros((71, h, w), dtype=np.float32)
    for part, name in enumerate(FACE_70[1:], start=1):
        x, y = NEUTRAL_FACE[name]
        maps[part, int(y * (h - 1)), int(x * (w - 1))] = 0.8
    return maps


def test_hands_and_face_are_read_around_each_body_as_named_points(service, monkeypatch):
    extractor = service.instance("pose")
    extractor.ensure_loaded()
    detector = extractor.detector
    monkeypatch.setattr(detector, "body_estimation", _Body(detector.body_estimation))
    monkeypatch.setattr(detector, "hand_estimation", _hand_network(["open_palm", "fist"]))
    monkeypatch.setattr(detector, "face_estimation", _face_network)
    picture = Image.fromarray(data.astronaut()).resize((256, 256))
    prior = service.extract(picture, _ref(picture), "pose", {"detect_resolution": 256})
    _check(prior)
    (person,) = prior.people
    assert person.body["left_wrist"].x == pytest.approx(180 / 256)
    assert person.body["left_wrist"].confidence == pytest.approx(0.9)
    assert "left_hip" not in person.body
    # the subject's left hand is at the left wrist (right of the picture), and open
    left, right = person.hands["left"], person.hands["right"]
    assert left.keypoints["wrist"].x > 0.6 > 0.4 > right.keypoints["wrist"].x
    assert left.keypoints["wrist"].confidence == pytest.approx(0.9)  # its wrist's
    assert max(left.gestures, key=left.gestures.get) == "open_palm"
    assert max(right.gestures, key=right.gestures.get) == "fist"
    # the face keeps every landmark's name, though one was not found
    assert len(person.face.landmarks) == 69 and "jaw_0" not in person.face.landmarks
    assert person.face.landmarks["jaw_1"].confidence == pytest.approx(0.8)
    nose, eye = person.face.landmarks["nose_bridge_3"], person.face.landmarks["right_eye_0"]
    assert nose.y > eye.y and nose.x > eye.x
    assert max(person.expression, key=person.expression.get) == "neutral"


def test_the_tiny_face_network_runs_on_the_head(service, monkeypatch):
    extractor = service.instance("pose")
    extractor.ensure_loaded()
    monkeypatch.setattr(extractor.detector, "body_estimation",
                        _Body(extractor.detector.body_estimation))  # fmt: skip
    picture = Image.fromarray(data.astronaut()).resize((256, 256))
    params = {"detect_resolution": 256, "hands": False, "min_confidence": 0.01}
    (person,) = service.extract(picture, _ref(picture), "pose", params).people
    assert person.hands == {}
    # the head's box: 3 nose-to-eye distances (30 px) around the nose at (120, 70) of 256
    x0, y0, x1, y1 = 90 / 256, 40 / 256, 150 / 256, 100 / 256
    assert person.face is not None and set(person.face.landmarks) <= set(FACE_70)
    assert all(x0 <= p.x <= x1 and y0 <= p.y <= y1 for p in person.face.landmarks.values())


# --- converters, on the detectors' own result objects ------------------------------------------


def test_controlnet_aux_pose_results_become_named_normalised_points():
    from controlnet_aux.open_pose import BodyResult, Keypoint, PoseResult

    body = [None] * 18
    body[0] = Keypoint(0.5, 0.2, 0.95)  # nose
    body[4] = Keypoint(0.3, 0.6, 0.7)  # right wrist
    body[7] = Keypoint(0.72, 0.61, 0.4)  # left wrist
    body[13] = Keypoint(0.6, 0.95, 1.3)  # left ankle, an over-confident heatmap
    left = [Keypoint(0.7 + i / 200, 0.62 + i / 300) for i in range(21)]
    left[20] = Keypoint(-1 / 256, -1 / 256)  # not found
    face = [Keypoint(0.4 + i / 1000, 0.2) for i in range(70)]
    result = PoseResult(BodyResult(body, 10.0, 4), left, None, face)
    person = person_from_pose_result(result)
    assert set(person.body) == {"nose", "right_wrist", "left_wrist", "left_ankle"}
    assert person.body["right_wrist"].model_dump() == {"x": 0.3, "y": 0.6, "confidence": 0.7}
    assert person.body["left_ankle"].confidence == 1.0
    assert list(person.hands) == ["left"]
    hand = person.hands["left"].keypoints
    assert len(hand) == 20 and "pinky_tip" not in hand
    assert hand["thumb_cmc"].x == pytest.approx(0.705) and hand["wrist"].confidence == 0.4
    assert person.face.landmarks["left_pupil"].x == pytest.approx(0.469)
    assert person.box.x0 == 0.3 and person.box.y1 == 0.95
    # a face list controlnet-aux shortened cannot be named point by point: it is left out
    assert person_from_pose_result(result._replace(face=face[:60])).face is None
    # a body with no joints is nobody
    assert (
        person_from_pose_result(PoseResult(BodyResult([None] * 18, 0, 0), None, None, None)) is None
    )


def test_dwpose_whole_body_arrays_become_named_points():
    keypoints = np.zeros((2, 134, 2))
    scores = np.zeros((2, 134))
    keypoints[0, :, 0] = np.linspace(10, 190, 134)
    keypoints[0, :, 1] = 50
    scores[0] = 0.9
    scores[0, 3] = 0.1  # right elbow: unsure, left out
    scores[1] = 0.2  # the whole-picture guess DWPose makes when it finds nobody
    (person,) = people_from_wholebody(keypoints, scores, width=200, height=100)
    assert "right_elbow" not in person.body and person.body["nose"].x == pytest.approx(0.05)
    assert person.body["right_heel"].x == pytest.approx(keypoints[0, 23, 0] / 200)
    assert person.face.landmarks["mouth_inner_7"].x == pytest.approx(keypoints[0, 91, 0] / 200)
    assert "left_pupil" not in person.face.landmarks
    assert person.hands["left"].keypoints["wrist"].x == pytest.approx(keypoints[0, 92, 0] / 200)
    assert person.hands["right"].keypoints["pinky_tip"].x == pytest.approx(0.95)
    bare = people_from_wholebody(keypoints[:1], scores[:1], 200, 100, hands=False, face=False)
    assert bare[0].hands == {} and bare[0].face is None


@pytest.mark.skipif(importlib.util.find_spec("mmpose") is not None, reason="mmpose installed")
def test_dwpose_without_openmmlab_says_what_to_install(service, photo):
    with pytest.raises(ExtractionError, match=r"mmpose>=1\.1\.0.*mim install.*pose\.openpose"):
        service.extract(photo, _ref(photo), "pose.dwpose")


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is not None, reason="installed")
def test_mediapipe_without_the_package_says_how_to_add_it(service, photo):
    with pytest.raises(ExtractionError, match=r"uv sync --extra mediapipe"):
        service.extract(photo, _ref(photo), "mediapipe")


def test_mediapipe_results_become_people_with_hands_at_their_wrists():
    def mark(x, y, visibility=None):
        return SimpleNamespace(x=x, y=y, z=0.0, visibility=visibility, presence=None)

    pose = [mark(0.5, 0.5, 0.9) for _ in range(33)]
    pose[0] = mark(0.5, 0.2, 0.99)  # nose
    pose[11], pose[12] = mark(0.6, 0.35, 0.9), mark(0.4, 0.35, 0.8)  # shoulders
    pose[15], pose[16] = mark(0.7, 0.6, 0.9), mark(0.3, 0.6, 0.9)  # left, right wrist
    pose[31] = mark(0.55, 1.2, 0.9)  # a foot below the picture: left out
    pose[27] = mark(0.6, 0.9, 0.2)  # an unsure ankle: left out
    person = mp_backend.person_from_pose(pose)
    assert person.body["neck"].model_dump() == pytest.approx(
        {"x": 0.5, "y": 0.35, "confidence": 0.8}
    )
    assert "left_foot_index" not in person.body and "left_ankle" not in person.body
    hand = [mark(0.3 + 0.01 * i, 0.6 + 0.005 * i) for i in range(21)]  # starts at the right wrist
    stray = [mark(0.9 + 0.001 * i, 0.1) for i in range(21)]
    mesh = [mark(0.5, 0.2) for _ in range(478)]
    mesh[468] = mark(0.47, 0.18)
    blend = [SimpleNamespace(category_name=n, score=s) for n, s in
             [("mouthSmileLeft", 0.9), ("mouthSmileRight", 0.7), ("jawOpen", 0.1)]]  # fmt: skip
    expression = mp_backend.expression_from_blendshapes(blend)
    assert expression["smile"] == pytest.approx(0.8) and expression["open_mouth"] == 0.1
    face = mp_backend.face_from_mesh(mesh)
    assert face.landmarks["right_pupil"].x == 0.47 and len(face.landmarks) == 70
    gestures = mp_backend.gestures_from_categories(
        [SimpleNamespace(category_name="Thumb_Up", score=0.93)]
    )
    people = mp_backend.assemble(
        [person],
        [(mp_backend.hand_from_landmarks(hand, 0.97), "Left"),
         (mp_backend.hand_from_landmarks(stray).model_copy(update={"gestures": gestures}),
          "Left")],
        [(face, expression)],
        aspect=1.0,
    )  # fmt: skip
    first, second = people
    assert list(first.hands) == ["right"] and first.hands["right"].keypoints["wrist"].x == 0.3
    assert first.expression["smile"] == pytest.approx(0.8)
    assert list(second.hands) == ["right"]  # nobody's: MediaPipe's "Left" is the subject's right
    assert second.hands["right"].gestures == {"thumbs_up": 0.93}
    assert set(first.body) <= set(BodyJoint.__args__)


def test_single_file_models_come_from_a_path_or_say_where_to_put_them(tmp_path):
    from image_interpreter.extract.extractors.pose.runtime import model_file

    role = "extract.pose.mediapipe.face"
    tiny = load_settings(profile="tiny", data_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match=r"no tiny stand-in.*pose\.openpose"):
        model_file(role, tiny)
    offline = load_settings(profile="sd15", offline=True, data_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match=r"face_landmarker\.task.*offline.*put it at"):
        model_file(role, offline)
    task = tmp_path / "face.task"
    task.write_bytes(b"model")
    named = load_settings(profile="sd15", data_dir=tmp_path, models={role: str(task)})
    assert model_file(role, named) == task
