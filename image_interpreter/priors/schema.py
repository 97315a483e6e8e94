"""The priors data model: the contract between extractors, edits, renderers, generator and agent.

A `PriorSet` is small JSON. Coordinates are normalised to [0, 1] in the source image's frame (x to
the right, y down), so a prior survives resizing; arrays (depth maps, masks) live in the artifact
store and are referenced by content hash. Every prior carries `enabled`, `weight` (its ControlNet
conditioning scale), the fraction of denoising steps it acts on, and its `provenance`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from image_interpreter.priors.joints import FACE_LANDMARKS, BodyJoint, HandJoint

SCHEMA_VERSION = 1

# Bounds on what one PriorSet may hold: generous for any real picture, and a hostile file (10,000
# people, a megabyte caption) is refused with the field named instead of slowing every edit,
# reply and stored version. Refusals come from pydantic (`List should have at most ...`).
MAX_PEOPLE = 100  # people in one picture
MAX_OBJECTS = 300  # detected objects (the most any detector keeps)
MAX_REGIONS = 256  # region captions
MAX_TAGS = 256  # tags, styles, segmentation classes, palette colours
MAX_SCORES = 64  # expression or gesture labels on one person or hand
MAX_LABEL = 200  # characters: labels, names, styles, time of day, replacements
MAX_TEXT = 4_000  # characters: captions, descriptions, negative prompts
MAX_DETAILED = 20_000  # characters: the detailed caption

Label = Annotated[str, Field(max_length=MAX_LABEL)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the content")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
Side = Literal["left", "right"]
PriorKind = Literal["caption", "people", "depth", "objects", "segmentation", "edges", "palette"]
PRIOR_KINDS: tuple[PriorKind, ...] = (
    "caption", "people", "depth", "objects", "segmentation", "edges", "palette",
)  # fmt: skip


class Model(BaseModel):
    """Strict base: unknown fields are refused (a typo in a priors file is an error)."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


class ImageRef(Model):
    """An image in the artifact store: what a PriorSet was extracted from."""

    sha256: Sha256
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    media_type: str = "image/png"
    name: str | None = Field(
        None, max_length=1024, description="Original file name, for display only."
    )


class ArtifactRef(Model):
    """An array stored as a file in the artifact store (a PNG for maps and masks)."""

    sha256: Sha256
    media_type: str = "image/png"
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)


class Provenance(Model):
    """Where a prior came from, so any result can be recreated from its recipe."""

    extractor: str = Field(description="Registry name of the extractor, or 'edit', 'import'.")
    model_id: str | None = None
    parameters: dict[str, JsonValue] = Field(default_factory=dict)


class Point(Model):
    x: float
    y: float

    @field_validator("x", "y")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("coordinates must be finite numbers")
        return value


class Keypoint(Point):
    """A located joint or landmark; confidence 0 means 'guessed', 1 means 'certain'."""

    confidence: Score = 1.0


class Box(Model):
    """An axis-aligned box, normalised: (x0, y0) top-left, (x1, y1) bottom-right."""

    x0: Unit
    y0: Unit
    x1: Unit
    y1: Unit

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError("a box needs x0 <= x1 and y0 <= y1")
        return self


class Guide(Model):
    """How hard a prior steers sampling through its differentiable loss (generate/guidance), and
    on which steps; weight 0 (the default) leaves sampling as it was. Left out of the JSON while
    at its default, so PriorSets and recipe hashes from before it existed stay the same."""

    weight: float = Field(0.0, ge=0.0, le=10.0, description="Guidance strength; 0 = off.")
    start: Unit = Field(0.0, description="Fraction of denoising steps after which it guides.")
    end: Unit = Field(1.0, description="Fraction of denoising steps after which it stops.")
    every: int = Field(1, ge=1, le=50, description="Guide every n-th step of its range.")

    @model_validator(mode="after")
    def _step_range(self) -> Guide:
        if self.end < self.start:
            raise ValueError(f"guide: end ({self.end}) is before start ({self.start})")
        return self

    @property
    def active(self) -> bool:
        return self.weight > 0.0


def _default_guide(guide: Guide) -> bool:
    return guide == Guide()


class Prior(Model):
    """Fields every prior has. `kind` names the field of PriorSet it lives in."""

    kind: ClassVar[PriorKind]
    enabled: bool = True
    weight: float = Field(1.0, ge=0.0, le=2.0, description="ControlNet conditioning scale.")
    start: Unit = Field(0.0, description="Fraction of denoising steps after which it acts.")
    end: Unit = Field(1.0, description="Fraction of denoising steps after which it stops.")
    guide: Guide = Field(default_factory=Guide, exclude_if=_default_guide)
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _step_range(self) -> Prior:
        if self.end < self.start:
            raise ValueError(f"{self.kind}: end ({self.end}) is before start ({self.start})")
        return self


# --- caption ---------------------------------------------------------------------------------


class RegionCaption(Model):
    box: Box
    text: Text
    object_index: int | None = Field(None, ge=0, description="The object it describes, if any.")


class Tag(Model):
    label: Label
    score: Score = 1.0


class CaptionPrior(Prior):
    kind: ClassVar[PriorKind] = "caption"
    text: Text = Field("", description="What the whole picture shows, in one sentence.")
    detailed: str | None = Field(None, max_length=MAX_DETAILED)
    regions: list[RegionCaption] = Field(default_factory=list, max_length=MAX_REGIONS)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    style: list[Label] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Styles added by the user."
    )
    time_of_day: Label | None = None
    negative: Text | None = Field(None, description="What the picture must not show.")


# --- people ----------------------------------------------------------------------------------


class Hand(Model):
    keypoints: dict[HandJoint, Keypoint] = Field(default_factory=dict)
    gestures: dict[Label, Score] = Field(
        default_factory=dict,
        max_length=MAX_SCORES,
        description="Gesture label -> score (open_palm, fist, ...).",
    )


class Face(Model):
    landmarks: dict[str, Keypoint] = Field(
        default_factory=dict, description="OpenPose-70 landmark names (jaw_0 ... left_pupil)."
    )

    @field_validator("landmarks")
    @classmethod
    def _known_landmarks(cls, value: dict[str, Keypoint]) -> dict[str, Keypoint]:
        unknown = sorted(set(value) - FACE_LANDMARKS)
        if unknown:
            raise ValueError(f"unknown face landmark names: {', '.join(unknown[:5])}")
        return value


class Person(Model):
    """One person: named body joints (absent = not seen), hands, face, expression, gestures."""

    label: Label | None = Field(None, description="How the person is referred to ('the woman').")
    box: Box | None = None
    body: dict[BodyJoint, Keypoint] = Field(default_factory=dict)
    hands: dict[Side, Hand] = Field(default_factory=dict)
    face: Face | None = None
    expression: dict[Label, Score] = Field(
        default_factory=dict,
        max_length=MAX_SCORES,
        description="Expression label -> score (smile, open_mouth, ...).",
    )

    @property
    def gestures(self) -> dict[Side, dict[str, float]]:
        return {side: dict(hand.gestures) for side, hand in self.hands.items()}


class PeoplePrior(Prior):
    kind: ClassVar[PriorKind] = "people"
    people: list[Person] = Field(default_factory=list, max_length=MAX_PEOPLE)


# --- maps ------------------------------------------------------------------------------------


class DepthAdjust(Model):
    """Edits to a depth map, kept as parameters and applied when rendering, so an edit stays a
    pure, instant change of small JSON and the extracted map is never rewritten."""

    scale: float = Field(1.0, ge=0.0, le=4.0, description="Contrast of depth around its middle.")
    flatten: Unit = Field(0.0, description="0 = as extracted, 1 = completely flat.")
    invert: bool = False
    blur: float = Field(0.0, ge=0.0, le=0.2, description="Blur radius, fraction of image width.")
    push_background: Unit = Field(0.0, description="Push far things further away.")


class DepthPrior(Prior):
    kind: ClassVar[PriorKind] = "depth"
    map: ArtifactRef = Field(description="16-bit greyscale PNG, normalised; bright = near.")
    adjust: DepthAdjust = Field(default_factory=DepthAdjust)


class DetectedObject(Model):
    label: Label
    box: Box
    score: Score = 1.0
    mask: ArtifactRef | None = Field(None, description="Binary mask PNG (0/255).")
    description: Text | None = None
    action: Literal["keep", "replace", "remove"] = Field(
        "keep", description="What generation does with it: inpaint a replacement, or remove it."
    )
    replacement: Label | None = Field(None, description="What replaces it (action 'replace').")


class ObjectsPrior(Prior):
    kind: ClassVar[PriorKind] = "objects"
    objects: list[DetectedObject] = Field(default_factory=list, max_length=MAX_OBJECTS)


class SegmentClass(Model):
    index: int = Field(ge=0, le=255)
    label: Label


class SegmentationPrior(Prior):
    kind: ClassVar[PriorKind] = "segmentation"
    map: ArtifactRef = Field(description="Class-index PNG (one byte per pixel).")
    palette: Literal["ade20k", "coco", "custom"] = "ade20k"
    classes: list[SegmentClass] = Field(default_factory=list, max_length=MAX_TAGS)


class EdgesPrior(Prior):
    kind: ClassVar[PriorKind] = "edges"
    map: ArtifactRef = Field(description="Greyscale edge PNG, white edges on black.")
    method: Literal["canny", "hed", "lineart", "mlsd", "scribble", "other"] = "canny"


class PaletteColor(Model):
    hex: str = Field(pattern=r"^#[0-9a-f]{6}$")
    fraction: Score


class PalettePrior(Prior):
    kind: ClassVar[PriorKind] = "palette"
    colors: list[PaletteColor] = Field(default_factory=list, max_length=MAX_TAGS)


# --- generation settings ----------------------------------------------------------------------


class GenerationSettings(Model):
    """How candidates are drawn from these priors; part of the recipe, edited like the priors."""

    width: int | None = Field(None, ge=64, le=4096, description="None: the source's aspect.")
    height: int | None = Field(None, ge=64, le=4096)
    seed: int | None = Field(None, ge=0, lt=2**63, description="None: a new random seed.")
    candidates: int = Field(4, ge=1, le=16)
    steps: int = Field(25, ge=1, le=200)
    guidance: float = Field(7.5, ge=0.0, le=30.0)
    strength: Unit = Field(0.75, description="img2img: how far from the source to move.")
    joint_guide: Guide = Field(
        default_factory=Guide,
        exclude_if=_default_guide,
        description="The cross-related guidance loss: depth where the people and objects are,"
        " objects where their masks are (generate/guidance/joint.py).",
    )


# --- the set ---------------------------------------------------------------------------------


class PriorSet(Model):
    """Everything known about one picture; one version in a session's version tree."""

    schema_version: Literal[1] = SCHEMA_VERSION
    source: ImageRef
    version: int = Field(1, ge=1)
    parent: int | None = Field(None, ge=1)
    caption: CaptionPrior | None = None
    people: PeoplePrior | None = None
    depth: DepthPrior | None = None
    objects: ObjectsPrior | None = None
    segmentation: SegmentationPrior | None = None
    edges: EdgesPrior | None = None
    palette: PalettePrior | None = None
    generation: GenerationSettings = Field(default_factory=GenerationSettings)

    def priors(self) -> dict[PriorKind, Prior]:
        """The priors present, by kind, in a fixed order."""
        found = {kind: getattr(self, kind) for kind in PRIOR_KINDS}
        return {kind: prior for kind, prior in found.items() if prior is not None}

    def enabled(self) -> dict[PriorKind, Prior]:
        return {kind: prior for kind, prior in self.priors().items() if prior.enabled}

    def artifacts(self) -> set[str]:
        """Every artifact hash this PriorSet refers to (for export and access control)."""
        return referenced_artifacts(self)

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_defaults=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> PriorSet:
        return cls.model_validate_json(text)


def referenced_artifacts(model: BaseModel) -> set[str]:
    """Every artifact hash a model (PriorSet, prior, object) refers to, however deeply nested."""
    found: set[str] = set()
    _collect_hashes(model.model_dump(), found)
    return found


def _collect_hashes(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        sha = value.get("sha256")
        if isinstance(sha, str):
            found.add(sha)
        for item in value.values():
            _collect_hashes(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_hashes(item, found)
