"""Names of body joints, hand joints and face landmarks, and their OpenPose index orders.

The API speaks in names (`left_wrist`), never indices; the index orders below exist only to read
and write OpenPose JSON and to draw skeletons the way the ControlNets were trained.
Left and right are always the *subject's own* left and right, as in OpenPose and COCO.
"""

from __future__ import annotations

from typing import Literal, get_args

# OpenPose BODY_18 (COCO-18) order, the one the OpenPose ControlNets were trained on.
OPENPOSE_BODY_18: tuple[str, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip

# Extra points that DWPose (feet) and MediaPipe BlazePose (feet, hands, face) add where known.
EXTRA_BODY_POINTS: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
    "left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
    "mouth_left", "mouth_right",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_foot_index", "right_foot_index",
)  # fmt: skip

BodyJoint = Literal[
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
    "left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
    "mouth_left", "mouth_right",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_foot_index", "right_foot_index",
]  # fmt: skip

# OpenPose hand order: wrist, then four joints per finger from the palm outwards.
HAND_21: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{joint}"
    for finger, joints in (
        ("thumb", ("cmc", "mcp", "ip", "tip")),
        ("index", ("mcp", "pip", "dip", "tip")),
        ("middle", ("mcp", "pip", "dip", "tip")),
        ("ring", ("mcp", "pip", "dip", "tip")),
        ("pinky", ("mcp", "pip", "dip", "tip")),
    )
    for joint in joints
)

HandJoint = Literal[
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
]  # fmt: skip

# OpenPose face order: the 68 iBUG landmarks, then the two pupils. Regions are numbered along
# the iBUG contour; "right" is the subject's right (the left side of the picture).
_FACE_REGIONS: tuple[tuple[str, int], ...] = (
    ("jaw", 17),
    ("right_brow", 5),
    ("left_brow", 5),
    ("nose_bridge", 4),
    ("nose_lower", 5),
    ("right_eye", 6),
    ("left_eye", 6),
    ("mouth_outer", 12),
    ("mouth_inner", 8),
)
FACE_70: tuple[str, ...] = tuple(
    f"{region}_{i}" for region, count in _FACE_REGIONS for i in range(count)
) + ("right_pupil", "left_pupil")

assert len(HAND_21) == 21 and len(FACE_70) == 70
assert set(get_args(BodyJoint)) == set(OPENPOSE_BODY_18 + EXTRA_BODY_POINTS)
assert tuple(get_args(HandJoint)) == HAND_21

FACE_LANDMARKS = frozenset(FACE_70)

# Bones of the OpenPose body, by joint name, in controlnet-aux's drawing order.
BODY_LIMBS: tuple[tuple[str, str], ...] = (
    ("neck", "right_shoulder"), ("neck", "left_shoulder"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("neck", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("neck", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("neck", "nose"), ("nose", "right_eye"), ("right_eye", "right_ear"),
    ("nose", "left_eye"), ("left_eye", "left_ear"),
)  # fmt: skip


def mirror_name(name: str) -> str:
    """The same joint on the other side of the body (`left_wrist` <-> `right_wrist`)."""
    if name.startswith("left_"):
        return "right_" + name[len("left_") :]
    if name.startswith("right_"):
        return "left_" + name[len("right_") :]
    if name.endswith("_left"):
        return name[: -len("_left")] + "_right"
    if name.endswith("_right"):
        return name[: -len("_right")] + "_left"
    return name
