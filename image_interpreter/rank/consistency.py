"""Prior consistency: extract the target's enabled priors again from a candidate, through
`ExtractionService` (so results are cached by the candidate's hash), and measure agreement.

Each kind is extracted again by the extractor that made the target's prior, with its parameters
(its provenance), so both sides share one model and one label set; a prior made by an edit or an
import falls back to the kind's default extractor. Maps are compared in the target's frame: the
candidate's map is resized to the target's map, the way `priors/render` resizes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract.registry import find_extractor, load_extractors
from image_interpreter.extract.service import ExtractionService
from image_interpreter.priors.render.maps import adjust_depth, grey_array, read_map, resize
from image_interpreter.priors.render.masks import render_inpaint_mask
from image_interpreter.priors.schema import (
    DepthAdjust,
    DepthPrior,
    EdgesPrior,
    ImageRef,
    ObjectsPrior,
    PeoplePrior,
    Prior,
    PriorKind,
    PriorSet,
    SegmentationPrior,
)
from image_interpreter.rank.maps import depth_agreement, edges_f1, segmentation_agreement
from image_interpreter.rank.objects import Labelled, absence, match_objects
from image_interpreter.rank.pose import match_people, person_pose

log = logging.getLogger(__name__)

ReadArtifact = Callable[[str], bytes]
Size = tuple[int, int]

# Prior kind -> the name of its part in a score. Captions and palettes are not re-extracted:
# the CLIP score covers what the caption says, and colour is not a structural constraint.
PARTS: dict[PriorKind, str] = {
    "people": "pose",
    "depth": "depth",
    "objects": "objects",
    "segmentation": "segmentation",
    "edges": "edges",
}


@dataclass(frozen=True)
class Agreement:
    """One prior's agreement in [0, 1], the extractor that measured it, and extra numbers."""

    score: float
    extractor: str
    details: dict[str, float] = field(default_factory=dict)


def extractor_for(kind: PriorKind, prior: Prior) -> tuple[str, dict[str, Any]] | None:
    """(extractor name, parameters) to extract `kind` again: the prior's own, else the kind's
    default; None when no extractor for the kind is installed."""
    made_by = prior.provenance.extractor if prior.provenance else None
    table = load_extractors()
    if made_by in table and table[made_by].kind == kind:
        return made_by, dict(prior.provenance.parameters)
    try:
        return find_extractor(kind).name, {}
    except ExtractionError:
        return None


def checkable(target: PriorSet, kinds: Iterable[PriorKind] | None = None) -> list[PriorKind]:
    """The target's enabled kinds that can be extracted again (optionally only `kinds`). A
    people prior with nobody in it is not checkable: there is no pose to compare, and a perfect
    score for matching nobody would mislead."""
    wanted = set(PARTS if kinds is None else kinds)
    return [
        kind
        for kind, prior in target.enabled().items()
        if kind in PARTS
        and kind in wanted
        and not (isinstance(prior, PeoplePrior) and not prior.people)
        and extractor_for(kind, prior) is not None
    ]


def prior_consistency(
    image: Image.Image,
    ref: ImageRef,
    target: PriorSet,
    service: ExtractionService,
    *,
    kinds: Iterable[PriorKind] | None = None,
    read_artifact: ReadArtifact | None = None,
    put_artifact: Callable[[bytes], str] | None = None,
) -> dict[PriorKind, Agreement]:
    """Agreement of the candidate `image` (stored as `ref`) with each checkable prior of `target`.

    Artifacts are read through `read_artifact` and stored through `put_artifact` (a session's, so
    access control holds; default: the service's store)."""
    read = read_artifact or service.artifacts.get
    found: dict[PriorKind, Agreement] = {}
    for kind in checkable(target, kinds):
        wanted = getattr(target, kind)
        name, params = extractor_for(kind, wanted)
        try:
            got = service.extract(image, ref, name, params, put_artifact=put_artifact)
        except (ModelUnavailable, ExtractionError) as error:  # the other parts still count
            log.warning("%s not measured: %s", kind, error)
            continue
        score, details = COMPARE[kind](wanted, got, target.source, read)
        found[kind] = Agreement(score, name, details)
    return found


# --- per kind: (target prior, candidate prior, target image, read) -> (score, details) ---------


def _people(wanted: PeoplePrior, got: PeoplePrior, frame: ImageRef, read: ReadArtifact):
    targets = [person_pose(p, frame.width, frame.height) for p in wanted.people]
    candidates = [person_pose(p, frame.width, frame.height)[0] for p in got.people]
    result = match_people([pose for pose, _ in targets], candidates, [s for _, s in targets])
    return result.score, {"pose.pck": result.pck, "pose.people": float(len(got.people))}


def _depth(wanted: DepthPrior, got: DepthPrior, frame: ImageRef, read: ReadArtifact):
    target = grey_array(read_map(wanted.map, read, "depth map", "depth"))
    if wanted.adjust != DepthAdjust():
        target = adjust_depth(target, wanted.adjust)  # what the ControlNet was shown
    candidate = _fit(grey_array(read_map(got.map, read, "depth map", "depth")), target)
    return depth_agreement(candidate, target), {}


def _edges(wanted: EdgesPrior, got: EdgesPrior, frame: ImageRef, read: ReadArtifact):
    target = grey_array(read_map(wanted.map, read, "edge map", "edges"))
    candidate = _fit(grey_array(read_map(got.map, read, "edge map", "edges")), target)
    return edges_f1(candidate, target), {}


def _segmentation(
    wanted: SegmentationPrior, got: SegmentationPrior, frame: ImageRef, read: ReadArtifact
):
    target = grey_array(read_map(wanted.map, read, "segmentation map", "segmentation"))
    candidate = grey_array(read_map(got.map, read, "segmentation map", "segmentation"))
    miou, accuracy = segmentation_agreement(_fit(candidate, target, nearest=True), target)
    return miou, {"segmentation.accuracy": accuracy}


def _objects(wanted: ObjectsPrior, got: ObjectsPrior, frame: ImageRef, read: ReadArtifact):
    size = (frame.width, frame.height)
    theirs = [(item.label, _mask(got, i, size, read)) for i, item in enumerate(got.objects)]
    kept: list[Labelled] = []
    removed: list[Labelled] = []
    for i, item in enumerate(wanted.objects):
        mask = _mask(wanted, i, size, read)
        if item.action == "remove":
            removed.append((item.label, mask))
        elif item.action == "replace" and item.replacement:
            kept.append((item.replacement, mask))  # the new object, where the old one was
        else:
            kept.append((item.label, mask))
    scores = [m.iou for m in match_objects(kept, theirs)[1]]
    scores += [absence(item, theirs) for item in removed]
    return (float(np.mean(scores)) if scores else 1.0), {"objects.found": float(len(theirs))}


COMPARE: dict[PriorKind, Callable[..., tuple[float, dict[str, float]]]] = {
    "people": _people,
    "depth": _depth,
    "edges": _edges,
    "segmentation": _segmentation,
    "objects": _objects,
}


def _fit(candidate: np.ndarray, target: np.ndarray, nearest: bool = False) -> np.ndarray:
    rows, cols = target.shape[:2]
    return resize(candidate, (cols, rows), nearest=nearest)


def _mask(objects: ObjectsPrior, index: int, size: Size, read: ReadArtifact) -> np.ndarray:
    return np.asarray(render_inpaint_mask(objects, size, read, select=[index])) > 127
