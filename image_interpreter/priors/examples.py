"""A fully populated example PriorSet: what `image-interpreter schema --example` prints, and the
input of the benchmarks and tests, so every field of the model is exercised in one place."""

from __future__ import annotations

import math

from image_interpreter.priors.joints import FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.schema import (
    ArtifactRef,
    Box,
    CaptionPrior,
    DepthPrior,
    DetectedObject,
    EdgesPrior,
    Face,
    Hand,
    ImageRef,
    Keypoint,
    ObjectsPrior,
    PaletteColor,
    PalettePrior,
    PeoplePrior,
    Person,
    PriorSet,
    Provenance,
    RegionCaption,
    SegmentationPrior,
    SegmentClass,
    Tag,
)

# A standing person facing the camera, in normalised coordinates of a portrait frame.
STANDING_BODY: dict[str, tuple[float, float]] = {
    "nose": (0.50, 0.16), "neck": (0.50, 0.26),
    "right_shoulder": (0.40, 0.27), "right_elbow": (0.37, 0.40), "right_wrist": (0.36, 0.52),
    "left_shoulder": (0.60, 0.27), "left_elbow": (0.63, 0.40), "left_wrist": (0.64, 0.52),
    "right_hip": (0.45, 0.55), "right_knee": (0.45, 0.72), "right_ankle": (0.45, 0.90),
    "left_hip": (0.55, 0.55), "left_knee": (0.55, 0.72), "left_ankle": (0.55, 0.90),
    "right_eye": (0.48, 0.14), "left_eye": (0.52, 0.14),
    "right_ear": (0.46, 0.15), "left_ear": (0.54, 0.15),
}  # fmt: skip


def _fake_sha(seed: str) -> str:
    return (seed.encode().hex() * 64)[:64]


def example_hand(cx: float, cy: float, size: float = 0.04) -> Hand:
    """An open hand: the wrist at the bottom, five fingers fanned upwards."""
    points = {"wrist": Keypoint(x=cx, y=cy + size)}
    for f, finger in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        angle = math.radians(-150 + f * 30)
        names = [n for n in HAND_21 if n.startswith(finger)]
        for j, name in enumerate(names, 1):
            r = size * 0.5 * j
            points[name] = Keypoint(
                x=cx + r * math.cos(angle), y=cy + r * math.sin(angle), confidence=0.9
            )
    return Hand(keypoints=points, gestures={"open_palm": 0.93})


def example_face(cx: float, cy: float, size: float = 0.05) -> Face:
    """70 landmarks on an ellipse: the shape is not a face, but every slot is filled."""
    landmarks = {}
    for i, name in enumerate(FACE_70):
        angle = 2 * math.pi * i / len(FACE_70)
        landmarks[name] = Keypoint(
            x=cx + size * math.cos(angle), y=cy + 1.3 * size * math.sin(angle), confidence=0.8
        )
    return Face(landmarks=landmarks)


def example_person(dx: float = 0.0, label: str | None = "the woman") -> Person:
    body = {
        name: Keypoint(x=x + dx, y=y, confidence=0.95)
        for name, (x, y) in STANDING_BODY.items()
        if name in OPENPOSE_BODY_18
    }
    body["left_heel"] = Keypoint(x=0.56 + dx, y=0.92, confidence=0.7)
    body["right_heel"] = Keypoint(x=0.44 + dx, y=0.92, confidence=0.7)
    return Person(
        label=label,
        box=Box(x0=0.3 + dx, y0=0.05, x1=0.7 + dx, y1=0.95),
        body=body,
        hands={"left": example_hand(0.64 + dx, 0.55), "right": example_hand(0.36 + dx, 0.55)},
        face=example_face(0.5 + dx, 0.15),
        expression={"smile": 0.81, "open_mouth": 0.12},
    )


def example_priorset(people: int = 1) -> PriorSet:
    """A PriorSet with every prior kind filled (artifact hashes are placeholders)."""
    source = ImageRef(sha256=_fake_sha("source"), width=512, height=768, name="example.jpg")
    people_list = [example_person(dx=0.25 * i - 0.125 * (people - 1)) for i in range(people)]
    return PriorSet(
        source=source,
        caption=CaptionPrior(
            text="a woman standing in a park holding a red umbrella",
            detailed="A young woman in a blue coat stands on a gravel path, smiling.",
            regions=[
                RegionCaption(
                    box=Box(x0=0.55, y0=0.2, x1=0.8, y1=0.45), text="red umbrella", object_index=0
                )
            ],
            tags=[Tag(label="park", score=0.72), Tag(label="umbrella", score=0.66)],
            provenance=Provenance(extractor="caption.florence2", model_id="microsoft/Florence-2"),
        ),
        people=PeoplePrior(
            people=people_list,
            provenance=Provenance(
                extractor="pose.openpose",
                model_id="lllyasviel/Annotators",
                parameters={"hands": True, "face": True},
            ),
        ),
        depth=DepthPrior(
            map=ArtifactRef(sha256=_fake_sha("depth"), width=512, height=768), weight=0.6
        ),
        objects=ObjectsPrior(
            objects=[
                DetectedObject(
                    label="umbrella",
                    box=Box(x0=0.55, y0=0.2, x1=0.8, y1=0.45),
                    score=0.88,
                    mask=ArtifactRef(sha256=_fake_sha("mask"), width=512, height=768),
                    description="a red umbrella",
                )
            ]
        ),
        segmentation=SegmentationPrior(
            map=ArtifactRef(sha256=_fake_sha("seg"), width=512, height=768),
            classes=[SegmentClass(index=12, label="person"), SegmentClass(index=4, label="tree")],
            enabled=False,
        ),
        edges=EdgesPrior(
            map=ArtifactRef(sha256=_fake_sha("edges")), method="canny", start=0.0, end=0.6
        ),
        palette=PalettePrior(
            colors=[
                PaletteColor(hex="#2e4a7d", fraction=0.4),
                PaletteColor(hex="#c0392b", fraction=0.1),
            ]
        ),
    )
