"""Benchmark: PriorSet JSON round trip, and saving/loading a session with 100 versions.

Run: uv run python bench/priors_and_sessions.py [--repeat N]
Prints medians (and p90) so runs on a busy machine stay comparable.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from skimage import data
from sqlalchemy import select

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.images import encode_png
from image_interpreter.priors import PriorSet
from image_interpreter.priors.examples import example_person, example_priorset
from image_interpreter.session import SessionStore
from image_interpreter.session import tables as t

# The example's maps and masks are placeholder hashes a session cannot link: left out.
NO_MAPS = {"depth": None, "edges": None, "segmentation": None, "objects": None}


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def row(name: str, median: float, p90: float, note: str = "") -> None:
    print(f"{name:<46} {median * 1e3:>10.3f} ms {p90 * 1e3:>10.3f} ms  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--people", type=int, default=100, help="People in the bytes bench.")
    args = parser.parse_args()

    print(f"{'what':<46} {'median':>13} {'p90':>13}")
    priors = example_priorset(people=3)
    text = priors.to_json(indent=None)
    row("PriorSet (3 people) to JSON", *timed(lambda: priors.to_json(indent=None), args.repeat),
        f"{len(text) / 1024:.1f} KiB")  # fmt: skip
    row("PriorSet (3 people) from JSON", *timed(lambda: PriorSet.from_json(text), args.repeat))
    row("PriorSet round trip (dump + validate)",
        *timed(lambda: PriorSet.from_json(priors.to_json(indent=None)), args.repeat))  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'sessions.db'}"
        photo = encode_png(Image.fromarray(data.astronaut()))

        def build() -> str:
            with SessionStore(url, ArtifactStore(root / "artifacts")) as store:
                session = store.create("bench")
                image = session.add_image(photo, name="astronaut.png")
                base = priors.model_copy(update={"source": image.ref, **NO_MAPS})
                for i in range(args.versions):
                    person = base.people.people[0]
                    person.body["left_wrist"] = person.body["left_wrist"].model_copy(
                        update={"y": 0.5 - i / (4 * args.versions)}
                    )
                    session.commit(base, edit={"op": "move_joint", "i": i}, summary=f"edit {i}")
                return session.id

        ids: list[str] = []
        save = timed(lambda: ids.append(build()), 5)
        session_id = ids[-1]
        row(f"session save: {args.versions} versions (5 sessions)", *save)
        row("session save: per version (commit)", *(t / args.versions for t in save))

        def load() -> None:
            with SessionStore(url, ArtifactStore(root / "artifacts")) as store:
                state = store.open(session_id).state()
                assert len(state.versions) == args.versions

        row(f"session load: {args.versions} versions (fresh store)",
            *timed(load, max(5, args.repeat // 20)))  # fmt: skip
        with SessionStore(url, ArtifactStore(root / "artifacts")) as store:
            session = store.open(session_id)
            row("session: current version", *timed(lambda: session.current, args.repeat // 4))
            row("session: undo + redo", *timed(lambda: (session.undo(), session.redo()), 20))
        version_bytes(url, root, photo, args.people, args.versions // 10 or 1)


def version_bytes(url: str, root: Path, photo: bytes, people: int, edits: int) -> None:
    """Bytes stored per version when each edit moves one joint of one of `people` people: as
    stored now (manifest + new parts) and as the whole PriorSet per row would take (computed)."""
    crowd = [example_person(dx=0.2 * (i % 3 - 1)) for i in range(people)]
    example = example_priorset()
    priors = example.model_copy(
        update={"people": example.people.model_copy(update={"people": crowd})}
    )
    with SessionStore(url, ArtifactStore(root / "artifacts")) as store:
        session = store.create("bytes")
        base = priors.model_copy(
            update={"source": session.add_image(photo).ref, **NO_MAPS}, deep=True
        )
        session.commit(base, summary="first")
        with store.engine.connect() as conn:
            before = _stored_bytes(conn, session.id)
        for i in range(edits):
            person = base.people.people[i % people]
            person.body["left_wrist"] = person.body["left_wrist"].model_copy(
                update={"y": 0.5 - i / (4 * edits)}
            )
            session.commit(base, summary=f"edit {i}")
        with store.engine.connect() as conn:
            after = _stored_bytes(conn, session.id)
        whole = len(session.current.model_dump_json())
    per_edit = (after - before) / edits
    print(f"{f'bytes per version ({people} people, one moved)':<46} {per_edit:>10.0f} B"
          f"   whole PriorSet per row: {whole} B ({whole / per_edit:.0f}x)")  # fmt: skip


def _stored_bytes(conn, session_id: str) -> int:
    """JSON bytes of the session's version rows and prior parts, as the database holds them."""
    total = 0
    for table, column in ((t.versions, "priors"), (t.prior_parts, "data")):
        query = select(table.c[column]).where(table.c.session_id == session_id)
        total += sum(len(json.dumps(value, separators=(",", ":"))) for value in conn.scalars(query))
    return total


if __name__ == "__main__":
    main()
