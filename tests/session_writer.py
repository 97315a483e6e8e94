"""A writer process for the session crash and concurrency tests (run as a script, not collected).

    python session_writer.py DB_PATH ARTIFACTS_DIR SESSION_ID COUNT

Prints `ready`, waits for a line on stdin (so several writers can start at once), then commits
COUNT versions and turns, alternately, to an existing session (which has an image), and
prints one line per write only after the write has returned, i.e. after its transaction committed:
`version N I` or `turn N I` (N: the number the session gave it; I: the writer's counter, which is
also in the text it wrote).
"""

from __future__ import annotations

import sys

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.priors import CaptionPrior, PriorSet
from image_interpreter.session import SessionStore


def main(db_path: str, artifacts_dir: str, session_id: str, count: int) -> None:
    store = SessionStore(f"sqlite:///{db_path}", ArtifactStore(artifacts_dir))
    session = store.open(session_id)
    source = session.images()[0].ref
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        if i % 2 == 0:
            stored = session.commit(
                PriorSet(source=source, caption=CaptionPrior(text=f"burst {i}")),
                edit={"i": i},
                summary=f"burst {i}",
            )
            print(f"version {stored.version} {i}", flush=True)
        else:
            turn = session.add_turn("user", f"burst {i}", tokens={"i": i})
            print(f"turn {turn.number} {i}", flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
