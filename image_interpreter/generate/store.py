"""Candidates into a session: PNGs in the artifact store, one generation record with recipes.

The record's recipe holds what all candidates share once, and what differs (seed, index, label,
controls...) per candidate under "candidates", in the same order as the record's candidates;
`recipe_from_record(record, i)` puts candidate i's full Recipe back together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from image_interpreter.generate.errors import GenerationError
from image_interpreter.generate.request import Candidate, Recipe
from image_interpreter.images import encode_png
from image_interpreter.session.state import CandidateRecord, GenerationRecord

if TYPE_CHECKING:
    from image_interpreter.session import Session

_PER_CANDIDATE = "candidates"


def store_candidates(
    session: Session,
    version: int,
    candidates: list[Candidate],
    scores: list[dict[str, float]] | None = None,
) -> GenerationRecord:
    """Put each candidate's PNG in `session` and record the run from PriorSet `version`."""
    if not candidates:
        raise GenerationError("There are no candidates to store.")
    if scores is not None and len(scores) != len(candidates):
        raise GenerationError("Give one score dictionary per candidate, or none.")
    records = [
        CandidateRecord(
            sha256=session.put_artifact(encode_png(candidate.image.convert("RGB"))),
            seed=candidate.seed,
            scores=scores[i] if scores is not None else {},
        )
        for i, candidate in enumerate(candidates)
    ]
    return session.record_generation(version, compact_recipes(candidates), records)


def compact_recipes(candidates: list[Candidate]) -> dict[str, Any]:
    """{shared fields..., "candidates": [fields that differ, per candidate]}."""
    dumps = [candidate.recipe.model_dump(mode="json") for candidate in candidates]
    shared = {
        key: value
        for key, value in dumps[0].items()
        if all(key in other and other[key] == value for other in dumps[1:])
    }
    rest = [{k: v for k, v in dump.items() if k not in shared} for dump in dumps]
    return {**shared, _PER_CANDIDATE: rest}


def recipe_from_record(record: GenerationRecord | dict[str, Any], index: int) -> Recipe:
    """Candidate `index`'s Recipe from a stored generation record (or its recipe dict)."""
    recipe = record.recipe if isinstance(record, GenerationRecord) else record
    per = recipe.get(_PER_CANDIDATE)
    if not isinstance(per, list) or not 0 <= index < len(per):
        raise GenerationError(f"The generation has no candidate {index}.")
    shared = {k: v for k, v in recipe.items() if k != _PER_CANDIDATE}
    return Recipe.model_validate({**shared, **per[index]})
