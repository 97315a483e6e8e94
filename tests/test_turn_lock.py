"""Turns on one session serialise across app processes, on SQLite and on a real PostgreSQL server:
two processes taking turns on the same session never interleave, and a dead process frees it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.session import SessionStore

# A process that takes the session's turn lock `turns` times, writing when each turn starts and
# ends, and holding it a little while in between (a turn that takes time).
TURNS = textwrap.dedent(
    """
    import sys, time
    from image_interpreter.artifacts import ArtifactStore
    from image_interpreter.session import SessionStore
    url, artifacts, session_id, log, name = sys.argv[1:6]
    store = SessionStore(url, ArtifactStore(artifacts))
    lock = store.turn_lock(session_id)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(3):
        with lock:
            with lock:  # a turn's tool call takes it again
                with open(log, "a") as out:
                    out.write(f"start {name}\\n")
                time.sleep(0.3)
                store.open(session_id).add_turn("user", f"turn of {name}")
                with open(log, "a") as out:
                    out.write(f"end {name}\\n")
    store.close()
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    return request.getfixturevalue("postgres").new_database()


def test_two_processes_taking_turns_on_one_session_never_interleave(database, tmp_path):
    with SessionStore(database, ArtifactStore(tmp_path / "artifacts")) as store:
        session_id = store.create("shared").id
    log = tmp_path / "turns.log"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                TURNS,
                database,
                str(tmp_path / "artifacts"),
                session_id,
                str(log),
                name,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("web", "mcp")
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # both start at once
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(timeout=60) == 0

    lines = log.read_text().split()
    events = list(zip(lines[::2], lines[1::2], strict=True))
    assert len(events) == 12
    for begin, end in zip(events[::2], events[1::2], strict=True):
        assert begin[0] == "start" and end == ("end", begin[1])  # each turn ends before the next
    assert {name for _, name in events} == {"web", "mcp"}
    with SessionStore(database, ArtifactStore(tmp_path / "artifacts")) as store:
        assert len(store.open(session_id).turns()) == 6


def test_a_held_lock_blocks_other_processes_until_released_or_their_holder_dies(database, tmp_path):
    with SessionStore(database, ArtifactStore(tmp_path / "artifacts")) as store:
        session_id, other_id = store.create().id, store.create().id
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    """
                import sys
                from image_interpreter.artifacts import ArtifactStore
                from image_interpreter.session import SessionStore
                store = SessionStore(sys.argv[1], ArtifactStore(sys.argv[2]))
                lock = store.turn_lock(sys.argv[3])
                lock.acquire()
                print("held", flush=True)
                sys.stdin.readline()
                """
                ),
                database,
                str(tmp_path / "artifacts"),
                session_id,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            lock = store.turn_lock(session_id)
            assert not lock.acquire(blocking=False)
            assert not lock.acquire(timeout=0.3)
            assert store.turn_lock(other_id).acquire(blocking=False)  # other sessions are free
        finally:
            holder.kill()  # dies holding it
            holder.wait(timeout=30)
        assert lock.acquire(timeout=10)
        lock.release()


def test_threads_in_one_process_share_the_lock_and_it_is_reentrant(database, tmp_path):
    with SessionStore(database, ArtifactStore(tmp_path / "artifacts")) as store:
        lock = store.turn_lock(store.create().id)
        with lock, lock:
            other = threading.Thread(target=lambda: result.append(lock.acquire(timeout=0.2)))
            result: list[bool] = []
            other.start()
            other.join()
            assert result == [False]
        assert lock.acquire(blocking=False)
        lock.release()


def test_a_postgresql_restart_between_turns_does_not_break_the_next_turn(postgres, tmp_path):
    url = postgres.new_database()
    with SessionStore(url, ArtifactStore(tmp_path / "artifacts")) as store:
        session = store.create("before the restart")
        session.add_turn("user", "first turn")
        postgres.restart()  # every pooled connection is now dead
        again = store.open(session.id)
        again.add_turn("user", "second turn")
        assert [turn.text for turn in again.turns()] == ["first turn", "second turn"]
        with store.turn_lock(session.id):
            again.add_turn("assistant", "locked turn")


def test_app_processes_starting_together_on_an_empty_postgresql_database(postgres, tmp_path):
    url = postgres.new_database()
    opening = textwrap.dedent(
        """
        import sys
        from image_interpreter.artifacts import ArtifactStore
        from image_interpreter.session import SessionStore
        sys.stdin.readline()
        SessionStore(sys.argv[1], ArtifactStore(sys.argv[2])).close()
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", opening, url, str(tmp_path / "artifacts")],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:  # all create the tables at once
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]


def test_a_database_without_a_cross_process_lock_is_refused_clearly():
    from types import SimpleNamespace

    from image_interpreter.errors import SessionError
    from image_interpreter.session.turn_lock import TurnLocks

    other = SimpleNamespace(dialect=SimpleNamespace(name="mysql"))
    with pytest.raises(SessionError, match=r"mysql are not supported.*postgresql"):
        TurnLocks(other)
