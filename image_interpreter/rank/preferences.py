"""Preferences: the user's picks, with the scores the candidates had, as a training dataset.

Scores travel with the generation: `candidate_records(ranked)` gives `Session.record_generation`
its candidates with their flat scores (`CandidateScore.flat`), and `record_pick` is
`Session.choose` returning the pick with those scores. `preference_rows` turns every generation
with a pick into rows, either one per chosen-vs-rejected pair (for pairwise training such as DPO
or a reward model) or one per generation (chosen plus the list of rejected), and
`write_preferences` writes them as JSONL or Parquet with the same columns:

  session_id, generation_id, version, prompt, priors (the PriorSet as JSON text), recipe (JSON
  text), chosen_at (ISO 8601), chosen {index, sha256, seed, path, scores}, rejected (one such
  record for pairs, a list of them for generations).

`path` is the image's file in the artifact store; `prompt` is the recipe's "prompt" when the
generator recorded one, else the version's caption.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from image_interpreter.artifacts.store import ArtifactStore
from image_interpreter.durable import replacing
from image_interpreter.errors import ImageInterpreterError
from image_interpreter.rank.ranking import RankedCandidate
from image_interpreter.rank.scoring import CandidateScore
from image_interpreter.session import (
    CandidateRecord,
    GenerationRecord,
    Session,
    SessionState,
    SessionStore,
)

Layout = Literal["pairs", "generations"]
FORMATS = (".jsonl", ".parquet")


class PreferencesError(ImageInterpreterError):
    """Preferences cannot be recorded or exported as asked."""


def candidate_records(ranked: Sequence[RankedCandidate]) -> list[CandidateRecord]:
    """The ranked candidates back in generation order, each carrying its flat scores."""
    records = []
    for item in sorted(ranked, key=lambda r: r.index):
        if item.seed is None:
            raise PreferencesError(
                f"Candidate {item.index} has no seed; a generation record needs the seed of"
                " every candidate so it can be drawn again."
            )
        scores = item.score.flat()
        records.append(CandidateRecord(sha256=item.sha256, seed=item.seed, scores=scores))
    return records


@dataclass(frozen=True)
class Pick:
    """A recorded pick: the generation, and the chosen and rejected candidates' scores."""

    generation: GenerationRecord
    chosen: CandidateScore
    rejected: list[CandidateScore]


def record_pick(session: Session, generation_id: int, candidate: int) -> Pick:
    """Record the user's pick in the session (a later pick replaces it) and return it scored."""
    record = session.choose(generation_id, candidate)
    scores = [CandidateScore.from_flat(c.scores) for c in record.candidates]
    others = [s for i, s in enumerate(scores) if i != candidate]
    return Pick(record, scores[candidate], others)


def preference_rows(
    state: SessionState, artifacts: ArtifactStore | None = None, layout: Layout = "pairs"
) -> list[dict[str, Any]]:
    """Rows for every generation of `state` with a pick, in generation order."""
    if layout not in ("pairs", "generations"):
        raise PreferencesError(f"Rows are 'pairs' or 'generations', not {layout!r}.")
    versions = {v.number: v.priors for v in state.versions}
    rows: list[dict[str, Any]] = []
    for generation in state.generations:
        if generation.chosen is None:
            continue
        priors = versions[generation.version]
        prompt = generation.recipe.get("prompt")
        if not isinstance(prompt, str):
            prompt = priors.caption.text if priors.caption else ""
        common = {
            "session_id": state.id,
            "generation_id": generation.id,
            "version": generation.version,
            "prompt": prompt,
            "priors": priors.model_dump_json(),
            "recipe": json.dumps(generation.recipe, sort_keys=True),
            "chosen_at": generation.chosen_at.isoformat() if generation.chosen_at else None,
        }
        entries = [_entry(i, c, artifacts) for i, c in enumerate(generation.candidates)]
        chosen = entries[generation.chosen]
        rejected = [e for e in entries if e["index"] != generation.chosen]
        if layout == "generations":
            rows.append({**common, "chosen": chosen, "rejected": rejected})
        else:
            rows.extend({**common, "chosen": chosen, "rejected": other} for other in rejected)
    return rows


def export_preferences(
    store: SessionStore,
    out: Path,
    session_ids: Sequence[str] | None = None,
    layout: Layout = "pairs",
) -> int:
    """Write the picks of the named sessions (None: every session, oldest first) to `out`;
    returns the number of rows."""
    every = sorted(store.list(), key=lambda s: (s.created_at, s.id))
    ids = [s.id for s in every] if session_ids is None else list(session_ids)
    rows = []
    for session_id in ids:
        rows += preference_rows(store.open(session_id).state(), store.artifacts, layout)
    return write_preferences(rows, out, layout)


def write_preferences(rows: Iterable[dict[str, Any]], out: Path, layout: Layout = "pairs") -> int:
    """Write rows as JSONL or Parquet (by the file's suffix), atomically; returns the count."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise PreferencesError(
            f"Cannot write preferences as '{out.name}': name a .jsonl or .parquet file."
        )
    rows = list(rows)
    with replacing(out) as tmp:
        if suffix == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            _write_parquet(rows, tmp, layout)
    return len(rows)


def _entry(index: int, candidate: CandidateRecord, artifacts: ArtifactStore | None):
    return {
        "index": index,
        "sha256": candidate.sha256,
        "seed": candidate.seed,
        "path": str(artifacts.location(candidate.sha256)) if artifacts else None,
        "scores": dict(candidate.scores),
    }


def _write_parquet(rows: list[dict[str, Any]], path: Path, layout: Layout) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    entry = pa.struct(
        [
            ("index", pa.int64()),
            ("sha256", pa.string()),
            ("seed", pa.int64()),
            ("path", pa.string()),
            ("scores", pa.map_(pa.string(), pa.float64())),
        ]
    )
    schema = pa.schema(
        [
            ("session_id", pa.string()),
            ("generation_id", pa.int64()),
            ("version", pa.int64()),
            ("prompt", pa.string()),
            ("priors", pa.string()),
            ("recipe", pa.string()),
            ("chosen_at", pa.string()),
            ("chosen", entry),
            ("rejected", pa.list_(entry) if layout == "generations" else entry),
        ]
    )

    def arrow(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "scores": list(item["scores"].items())}

    table = pa.Table.from_pylist(
        [
            {
                **row,
                "chosen": arrow(row["chosen"]),
                "rejected": [arrow(r) for r in row["rejected"]]
                if isinstance(row["rejected"], list)
                else arrow(row["rejected"]),
            }
            for row in rows
        ],
        schema=schema,
    )
    pq.write_table(table, path)
