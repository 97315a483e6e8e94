"""MediaPipe Tasks: pose landmarker (33 body points), hand landmarker or gesture recognizer
(21 points per hand, learned gesture labels) and face landmarker (478-point mesh, 52 blendshapes).

Optional: needs `mediapipe>=1.0` (`uv sync --extra mediapipe`; the 0.10 series pins protobuf<5,
which Chainlit cannot use) and the models' `.task` files, named per role by path or URL in
settings (the URLs below are Google's published models, fetched once unless offline). There are
no tiny stand-ins (a `.task` bundle cannot be built here): the tiny profile names `NO_TINY`.

MediaPipe's results are mapped to our names: BlazePose's 33 points keep their names (neck is the
shoulders' midpoint), the face mesh gives the 68 iBUG landmarks and both pupils, and blendshapes
give expression scores, which win over the geometric rules. Each hand is given to the person
whose wrist it starts at; MediaPipe's own handedness (which assumes a mirrored selfie) is used,
swapped, only for hands no body claims.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Sequence
from typing import Any

from PIL import Image
from pydantic import Field

from image_interpreter.errors import ExtractionError
from image_interpreter.extract.base import ExtractContext, Extractor, register_extractor
from image_interpreter.extract.extractors.pose.convert import boxed, finish, keypoint
from image_interpreter.extract.extractors.pose.runtime import NO_TINY, PoseParams, model_file
from image_interpreter.models.registry import register_role
from image_interpreter.priors.joints import FACE_70, HAND_21
from image_interpreter.priors.schema import Face, Hand, Keypoint, PeoplePrior, Person

_MODELS = "https://storage.googleapis.com/mediapipe-models"
ROLES = {
    "pose": ("extract.pose.mediapipe.pose",
             f"{_MODELS}/pose_landmarker/pose_landmarker_full/float16/latest/"
             "pose_landmarker_full.task", "MediaPipe pose landmarker (.task), 33 body points"),
    "hands": ("extract.pose.mediapipe.hands",
              f"{_MODELS}/hand_landmarker/hand_landmarker/float16/latest/hand_landmarker.task",
              "MediaPipe hand landmarker (.task), 21 points per hand"),
    "gestures": ("extract.pose.mediapipe.gestures",
                 f"{_MODELS}/gesture_recognizer/gesture_recognizer/float16/latest/"
                 "gesture_recognizer.task",
                 "MediaPipe gesture recognizer (.task): hand points and gesture labels"),
    "face": ("extract.pose.mediapipe.face",
             f"{_MODELS}/face_landmarker/face_landmarker/float16/latest/face_landmarker.task",
             "MediaPipe face landmarker (.task): 478-point mesh and blendshapes"),
}  # fmt: skip
for _role, _url, _what in ROLES.values():
    register_role(_role, sd15=_url, sdxl=_url, tiny=NO_TINY, description=_what)

BLAZEPOSE_33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

# Face-mesh index of each OpenPose-70 landmark (iBUG 68 in order, then right and left pupil).
MESH_TO_FACE_70 = (
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,  # jaw
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows, subject's right then left
    168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose bridge, nose lower
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
    468, 473,  # pupils (iris centres; meshes of 478 points only)
)  # fmt: skip
assert len(MESH_TO_FACE_70) == len(FACE_70)

GESTURE_NAMES = {"Closed_Fist": "fist", "Open_Palm": "open_palm", "Pointing_Up": "point",
                 "Thumb_Up": "thumbs_up", "Thumb_Down": "thumbs_down", "Victory": "victory",
                 "ILoveYou": "i_love_you"}  # fmt: skip


def require_mediapipe() -> None:
    if importlib.util.find_spec("mediapipe") is None:
        raise ExtractionError(
            "pose.mediapipe needs MediaPipe, which is not installed. Install it with"
            " `uv sync --extra mediapipe` (mediapipe>=1.0), or use pose.openpose."
        )


# --- MediaPipe results -> people (pure; tested on hand-built landmark lists) -------------------


def _score(landmark: Any, default: float = 1.0) -> float:
    for name in ("visibility", "presence"):
        value = getattr(landmark, name, None)
        if value is not None:
            return float(value)
    return default


def person_from_pose(landmarks: Sequence[Any], min_confidence: float = 0.5) -> Person | None:
    """33 BlazePose landmarks -> a Person with named joints (visibility as confidence) and a
    neck between the shoulders."""
    body = {}
    for name, mark in zip(BLAZEPOSE_33, landmarks, strict=False):
        point = keypoint(mark.x, mark.y, _score(mark))
        if point is not None and point.confidence >= min_confidence:
            body[name] = point
    left, right = body.get("left_shoulder"), body.get("right_shoulder")
    if left and right:
        body["neck"] = Keypoint(x=(left.x + right.x) / 2, y=(left.y + right.y) / 2,
                                confidence=min(left.confidence, right.confidence))  # fmt: skip
    return boxed(Person(body=body)) if body else None


def hand_from_landmarks(landmarks: Sequence[Any], score: float = 1.0) -> Hand:
    """21 hand landmarks (same order as OpenPose's) -> a Hand; the detection's score is each
    point's confidence (MediaPipe gives hands none per point)."""
    points = (keypoint(mark.x, mark.y, score) for mark in landmarks)
    return Hand(keypoints={n: p for n, p in zip(HAND_21, points, strict=False) if p is not None})


def face_from_mesh(landmarks: Sequence[Any]) -> Face:
    """The face mesh's points at the 70 OpenPose landmarks (pupils only from 478-point meshes)."""
    found = {}
    for name, index in zip(FACE_70, MESH_TO_FACE_70, strict=True):
        if index < len(landmarks):
            point = keypoint(landmarks[index].x, landmarks[index].y, 1.0)
            if point is not None:
                found[name] = point
    return Face(landmarks=found)


def expression_from_blendshapes(categories: Sequence[Any]) -> dict[str, float]:
    """Blendshape scores (ARKit names, e.g. mouthSmileLeft) -> our expression labels."""
    b = {c.category_name.replace("_", "").lower(): float(c.score) for c in categories}

    def both(stem: str) -> float:
        return (b.get(f"{stem}left", 0.0) + b.get(f"{stem}right", 0.0)) / 2

    scores = {
        "smile": both("mouthsmile"),
        "open_mouth": b.get("jawopen", 0.0),
        "closed_eyes": both("eyeblink"),
        "raised_brows": max(b.get("browinnerup", 0.0), both("browouterup")),
        "frown": max(both("mouthfrown"), both("browdown")),
    }
    scores["neutral"] = 1.0 - max(scores.values())
    return {k: round(min(1.0, max(0.0, v)), 4) for k, v in scores.items()}


def gestures_from_categories(categories: Sequence[Any]) -> dict[str, float]:
    return {
        GESTURE_NAMES[c.category_name]: round(float(c.score), 4)
        for c in categories
        if c.category_name in GESTURE_NAMES
    }


def assemble(
    people: list[Person],
    hands: list[tuple[Hand, str | None]],
    faces: list[tuple[Face, dict[str, float]]],
    aspect: float,
) -> list[Person]:
    """Give each hand to the nearest free wrist (within two hand lengths) and each face to the
    nearest nose (within a face width); what no body claims becomes a person of its own.
    `hands` pairs a hand with MediaPipe's handedness label ("Left"/"Right", mirrored)."""
    people = [p.model_copy(update={"hands": dict(p.hands)}) for p in people]
    extra: list[Person] = []
    pairs = []
    for h, (hand, _) in enumerate(hands):
        size = _dist(hand.keypoints.get("wrist"), hand.keypoints.get("middle_mcp"), aspect)
        for i, person in enumerate(people):
            for side in ("left", "right"):
                d = _dist(hand.keypoints.get("wrist"), person.body.get(f"{side}_wrist"), aspect)
                if d is not None and size is not None and d <= 2 * size:
                    pairs.append((d, h, i, side))
    placed: set[int] = set()
    for _, h, i, side in sorted(pairs):
        if h not in placed and side not in people[i].hands:
            people[i].hands[side] = hands[h][0]
            placed.add(h)
    for h, (hand, label) in enumerate(hands):
        if h not in placed and hand.keypoints:
            side = {"Left": "right", "Right": "left"}.get(label or "", "right")
            extra.append(boxed(Person(hands={side: hand})))
    for face, expression in faces:
        nose, width = face.landmarks.get("nose_lower_2"), _face_width(face, aspect)
        best = min(
            ((d, i) for i, p in enumerate(people) if p.face is None
             for d in [_dist(nose, p.body.get("nose"), aspect)] if d is not None),
            default=None,
        )  # fmt: skip
        if best is not None and width is not None and best[0] <= width:
            people[best[1]] = people[best[1]].model_copy(
                update={"face": face, "expression": expression}
            )
        elif face.landmarks:
            extra.append(boxed(Person(face=face, expression=expression)))
    return [boxed(p) for p in people] + extra


def _dist(a: Keypoint | None, b: Keypoint | None, aspect: float) -> float | None:
    if a is None or b is None:
        return None
    return math.hypot((a.x - b.x) * aspect, a.y - b.y)


def _face_width(face: Face, aspect: float) -> float | None:
    return _dist(face.landmarks.get("jaw_0"), face.landmarks.get("jaw_16"), aspect)


# --- the extractor ----------------------------------------------------------------------------


class MediaPipeParams(PoseParams):
    recognizer: bool = Field(
        True, description="Find hands with the gesture recognizer (adds learned gesture labels)."
    )
    max_people: int = Field(4, ge=1, le=20, description="Most people (and faces) to find.")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Detection threshold.")


@register_extractor
class MediaPipeExtractor(Extractor):
    name = "pose.mediapipe"
    kind = "people"
    aliases = ("mediapipe",)
    roles = tuple(role for role, _, _ in ROLES.values())
    Params = MediaPipeParams
    description = (
        "People by MediaPipe: 33 body points, hands with gestures, faces with blendshapes."
    )

    def model_ids(self) -> dict[str, str]:
        require_mediapipe()  # before the roles: no model helps while the package is missing
        return super().model_ids()

    def load(self) -> None:
        require_mediapipe()
        self.mp = importlib.import_module("mediapipe")
        self.vision = importlib.import_module("mediapipe.tasks.python.vision")
        self.tasks = importlib.import_module("mediapipe.tasks.python")
        self._tasks: dict[tuple[str, int, float], Any] = {}

    def _task(self, kind: str, params: MediaPipeParams) -> Any:
        key = (kind, params.max_people, params.min_confidence)
        if key not in self._tasks:
            base = self.tasks.BaseOptions(
                model_asset_path=str(model_file(ROLES[kind][0], self.settings))
            )
            n, c, v = params.max_people, params.min_confidence, self.vision
            if kind == "pose":
                options = v.PoseLandmarkerOptions(base_options=base, num_poses=n,
                                                  min_pose_detection_confidence=c)  # fmt: skip
                self._tasks[key] = v.PoseLandmarker.create_from_options(options)
            elif kind == "hands":
                options = v.HandLandmarkerOptions(base_options=base, num_hands=2 * n,
                                                  min_hand_detection_confidence=c)  # fmt: skip
                self._tasks[key] = v.HandLandmarker.create_from_options(options)
            elif kind == "gestures":
                options = v.GestureRecognizerOptions(base_options=base, num_hands=2 * n,
                                                     min_hand_detection_confidence=c)  # fmt: skip
                self._tasks[key] = v.GestureRecognizer.create_from_options(options)
            else:
                options = v.FaceLandmarkerOptions(base_options=base, num_faces=n,
                                                  min_face_detection_confidence=c,
                                                  output_face_blendshapes=True)  # fmt: skip
                self._tasks[key] = v.FaceLandmarker.create_from_options(options)
        return self._tasks[key]

    def extract(self, image: Image.Image, params: MediaPipeParams, ctx: ExtractContext):
        import numpy as np

        picture = self.mp.Image(
            image_format=self.mp.ImageFormat.SRGB, data=np.ascontiguousarray(image.convert("RGB"))
        )
        aspect = image.width / image.height
        people = []
        for landmarks in self._task("pose", params).detect(picture).pose_landmarks:
            person = person_from_pose(landmarks, params.min_confidence)
            if person is not None:
                people.append(person)
        hands: list[tuple[Hand, str | None]] = []
        if params.hands:
            ctx.progress("people: hands", 0.4)
            kind = "gestures" if params.recognizer else "hands"
            found = self._task(kind, params).recognize(picture) if params.recognizer else (
                self._task(kind, params).detect(picture))  # fmt: skip
            labels = getattr(found, "gestures", None) or [[] for _ in found.hand_landmarks]
            for marks, handed, gestures in zip(
                found.hand_landmarks, found.handedness, labels, strict=False
            ):
                top = handed[0] if handed else None
                hand = hand_from_landmarks(marks, float(top.score) if top else 1.0)
                hand = hand.model_copy(update={"gestures": gestures_from_categories(gestures)})
                hands.append((hand, top.category_name if top else None))
        faces: list[tuple[Face, dict[str, float]]] = []
        if params.face:
            ctx.progress("people: faces", 0.7)
            found = self._task("face", params).detect(picture)
            shapes = found.face_blendshapes or [[] for _ in found.face_landmarks]
            for marks, blend in zip(found.face_landmarks, shapes, strict=False):
                expression = expression_from_blendshapes(blend) if blend else {}
                faces.append((face_from_mesh(marks), expression))
        return PeoplePrior(people=finish(assemble(people, hands, faces, aspect), aspect,
                                         params.expressions))  # fmt: skip
