"""A writer killed mid-burst loses nothing it reported as committed, and the database stays sound;
writers in several processes on one session never share a number."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from PIL import Image

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.session import SessionStore

WRITER = Path(__file__).with_name("session_writer.py")
# The writers import the package from this checkout, whatever state the venv's install is in.
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _prepared(tmp_path: Path) -> tuple[Path, Path, str]:
    db, artifacts = tmp_path / "sessions.db", tmp_path / "artifacts"
    store = SessionStore(f"sqlite:///{db}", ArtifactStore(artifacts))
    session = store.create("crash")
    picture = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(picture, "PNG")
    session.add_image(picture.getvalue(), "red.png")
    store.close()
    return db, artifacts, session.id


def _writers(
    db: Path, artifacts: Path, session_id: str, count: int, n: int = 1
) -> list[subprocess.Popen[str]]:
    """Start `n` writers and release them together once all are ready."""
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(artifacts), session_id, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(n)
    ]
    for writer in writers:
        assert writer.stdout is not None
        if writer.stdout.readline() != "ready\n":
            raise AssertionError(f"a writer did not start: {writer.communicate()[1]}")
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    return writers


def _parse(line: str) -> tuple[str, int, int]:
    kind, number, counter = line.split()
    return kind, int(number), int(counter)


def test_sigkill_mid_burst_keeps_every_reported_commit(tmp_path):
    db, artifacts, session_id = _prepared(tmp_path)
    [writer] = _writers(db, artifacts, session_id, count=100_000)
    reported: list[tuple[str, int, int]] = []
    try:
        assert writer.stdout is not None
        while len(reported) < 50:
            line = writer.stdout.readline()
            assert line, (
                f"the writer stopped early: {writer.stderr.read() if writer.stderr else ''}"
            )
            reported.append(_parse(line))
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL  # killed mid-burst, not finished

    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []

    store = SessionStore(f"sqlite:///{db}", ArtifactStore(artifacts))
    try:
        session = store.open(session_id)
        state = session.state()
        versions = {v.number: v for v in state.versions}
        turns = {t.number: t for t in state.turns}
        for kind, number, counter in reported:
            if kind == "version":
                assert versions[number].summary == f"burst {counter}"
                assert session.version(number).caption.text == f"burst {counter}"
            else:
                assert turns[number].text == f"burst {counter}"
                assert turns[number].tokens == {"i": counter}
        # the session is still usable: it extends from where the writer left off
        assert session.commit(session.current).version == max(versions) + 1
    finally:
        store.close()


def test_processes_writing_one_session_never_share_a_number(tmp_path):
    db, artifacts, session_id = _prepared(tmp_path)
    writers = _writers(db, artifacts, session_id, count=40, n=3)
    outputs = [w.communicate(timeout=60) for w in writers]
    for writer, (_out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
    lines = [_parse(line) for out, _err in outputs for line in out.splitlines()]
    assert len(lines) == 120

    store = SessionStore(f"sqlite:///{db}", ArtifactStore(artifacts))
    try:
        state = store.open(session_id).state()
    finally:
        store.close()
    assert [v.number for v in state.versions] == list(range(1, 61))
    assert [t.number for t in state.turns] == list(range(1, 61))
    reported_versions = sorted(n for kind, n, _ in lines if kind == "version")
    assert reported_versions == list(range(1, 61))
    # each version's parent was the current version when it was committed: one chain, no forks
    assert [v.parent for v in state.versions] == [None, *range(1, 60)]
