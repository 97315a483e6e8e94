"""Candidates in words, the same in every reply: numbered from 1 in their generation (the
number the buttons, "pick 2" and the tools use), listed best first, each score with what it
is made of, and a part that could not be measured said so ("pose: no pose to compare") rather
than shown as a perfect score."""

from __future__ import annotations

from collections.abc import Mapping

from image_interpreter.priors.schema import PeoplePrior, PriorSet
from image_interpreter.rank.scoring import PART_NAMES
from image_interpreter.session import GenerationRecord

# prior kind -> the score part that measures it
PART_OF_KIND = {
    "people": "pose",
    "depth": "depth",
    "objects": "objects",
    "segmentation": "segmentation",
    "edges": "edges",
}


def number(index: int) -> int:
    """A candidate's number (from 1) from its stored index (from 0)."""
    return index + 1


def ranked(record: GenerationRecord) -> list[int]:
    """Stored indices, best first (unscored candidates keep their order)."""
    return sorted(
        range(len(record.candidates)),
        key=lambda i: -record.candidates[i].scores.get("total", 0.0),
    )


def unmeasured(scores: Mapping[str, float], priors: PriorSet | None) -> list[str]:
    """Why parts the enabled priors ask for have no score: 'pose: no pose to compare'."""
    if priors is None or "total" not in scores:
        return []
    said = []
    for kind, prior in priors.enabled().items():
        part = PART_OF_KIND.get(kind)
        if part is None or part in scores:
            continue
        if isinstance(prior, PeoplePrior) and not prior.people:
            said.append(f"{part}: no pose to compare")
        else:
            said.append(f"{part}: not measured")
    return said


def score_words(scores: Mapping[str, float], priors: PriorSet | None = None) -> str:
    """'score 0.61 (clip 0.31, depth 0.80; pose: no pose to compare)', or 'not scored'."""
    if "total" not in scores:
        return "not scored"
    parts = [f"{k} {v:.2f}" for k, v in scores.items() if k in PART_NAMES]
    missing = unmeasured(scores, priors)
    inside = ", ".join(parts) + ("; " if parts and missing else "") + "; ".join(missing)
    return f"score {scores['total']:.2f}" + (f" ({inside})" if inside else "")


def ranked_lines(record: GenerationRecord, priors: PriorSet | None = None) -> list[str]:
    """One line per candidate, best first: 'candidate 2: score 0.61 (...), seed 7 · best'."""
    lines = []
    order = ranked(record)
    scored = any("total" in c.scores for c in record.candidates)
    for place, index in enumerate(order):
        c = record.candidates[index]
        line = f"candidate {number(index)}: {score_words(c.scores, priors)}, seed {c.seed}"
        if scored and place == 0 and len(order) > 1:
            line += " · best"
        if record.chosen == index:
            line += " · picked"
        lines.append(line)
    return lines


def pick_hint(record: GenerationRecord) -> str:
    """How a person keeps or enlarges one, in words and buttons (never a tool call)."""
    n = len(record.candidates)
    first = number(ranked(record)[0]) if n else 1
    return (
        f"Say “pick {first}” (or press Pick under it) to keep one, “upscale {first}” to enlarge it."
    )


__all__ = [
    "PART_OF_KIND",
    "number",
    "pick_hint",
    "ranked",
    "ranked_lines",
    "score_words",
    "unmeasured",
]
