"""Sessions as a user sees them: they come back exactly after a restart, undo/redo/branch behave,
ids cannot be guessed, one session cannot read another's artifacts, exports import faithfully
and a damaged export is refused without leaving anything behind."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from image_interpreter.artifacts import ArtifactStore, sha256_of
from image_interpreter.errors import ImageRejected, PriorsError, SessionError
from image_interpreter.images import encode_png
from image_interpreter.priors import ArtifactRef, CaptionPrior, DepthPrior, PriorSet
from image_interpreter.session import CandidateRecord, Session, SessionStore, tables
from image_interpreter.settings import load_settings


def png(color: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> bytes:
    return encode_png(Image.new("RGB", size, color))


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request) -> Callable[[Path], SessionStore]:
    """Opens the store of a folder; every test here runs on SQLite and on a real PostgreSQL
    server (one database per folder, so reopening a folder finds the same sessions)."""
    if request.param == "sqlite":
        return lambda folder: SessionStore(
            f"sqlite:///{folder / 'sessions.db'}", ArtifactStore(folder / "artifacts")
        )
    server, databases = request.getfixturevalue("postgres"), {}

    def opened(folder: Path) -> SessionStore:
        url = databases.setdefault(folder, server.new_database())
        return SessionStore(url, ArtifactStore(folder / "artifacts"))

    return opened


@pytest.fixture
def store(tmp_path, open_store):
    opened = open_store(tmp_path)
    yield opened
    opened.close()


def priors_for(session: Session, text: str, handle: str = "img1", **extra) -> PriorSet:
    return PriorSet(source=session.image(handle).ref, caption=CaptionPrior(text=text), **extra)


def captions(session: Session) -> str:
    current = session.current
    return current.caption.text if current and current.caption else "-"


def build_rich_session(store: SessionStore) -> Session:
    """Images, a branched version tree with a pending redo, turns, generations, artifacts."""
    session = store.create("Beach photo")
    session.add_image(png((10, 120, 200)), "beach.png")
    session.add_image(png((250, 200, 0), (8, 8)), None)
    depth = session.put_artifact(png((128, 128, 128), (16, 12)))
    first = priors_for(session, "a beach")
    first = first.model_copy(
        update={"depth": DepthPrior(map=ArtifactRef(sha256=depth, width=16, height=12))}
    )
    session.commit(first, edit=None, summary="extracted")  # 1
    session.commit(priors_for(session, "a sunny beach"), {"op": "caption"}, "brighter")  # 2
    session.undo()  # back to 1, redo [2]
    session.commit(priors_for(session, "a stormy beach"), {"op": "caption", "x": [1.5]}, "storm")
    session.commit(priors_for(session, "a stormy beach at night", "img2"), summary="night")  # 4
    session.undo()
    session.undo()  # at 1; redo goes to 3 then 4
    session.add_turn("user", "make it stormy")
    session.add_turn(
        "assistant",
        "Done.",
        tool_calls=[{"name": "edit_caption", "arguments": {"text": "stormy"}}],
        timings={"llm": 0.25, "extract": 1.0},
        tokens={"prompt": 120, "completion": 8},
    )
    candidate_a = session.put_artifact(png((1, 2, 3)))
    candidate_b = session.put_artifact(png((4, 5, 6)))
    session.record_generation(
        3,
        {"steps": 20, "guidance": 7.5, "controlnets": ["depth"]},
        [
            CandidateRecord(sha256=candidate_a, seed=1, scores={"clip": 0.31}),
            {"sha256": candidate_b, "seed": 2, "scores": {"clip": 0.29}},
        ],
    )
    session.choose(1, 1)
    session.record_generation(1, {"steps": 4}, [])
    return session


# --- persistence -------------------------------------------------------------------------------


def test_a_session_reloads_exactly_after_a_restart(tmp_path, open_store):
    store = open_store(tmp_path)
    session = build_rich_session(store)
    before = session.state()
    history_before, summary_before = session.history(), store.list()
    store.close()

    reopened = open_store(tmp_path)  # a fresh store object: nothing cached survives
    try:
        again = reopened.open(session.id)
        assert again.state() == before
        assert again.history() == history_before
        assert reopened.list() == summary_before
        assert again.title == "Beach photo"
        assert before.created_at.utcoffset() == timedelta(0)
        assert again.turns()[1].created_at.tzinfo is not None
        # the redo stack survived too: redo walks 1 -> 3 -> 4
        assert [again.redo().version, again.redo().version] == [3, 4]
    finally:
        reopened.close()


def test_the_state_has_everything(store):
    state = build_rich_session(store).state()
    assert [image.handle for image in state.images] == ["img1", "img2"]
    assert [(v.number, v.parent) for v in state.versions] == [(1, None), (2, 1), (3, 1), (4, 3)]
    assert (state.current, state.redo) == (1, [4, 3])
    assert [turn.role for turn in state.turns] == ["user", "assistant"]
    assert state.turns[1].tool_calls[0]["name"] == "edit_caption"
    assert [(g.id, g.version, g.chosen) for g in state.generations] == [(1, 3, 1), (2, 1, None)]
    assert state.versions[0].priors.depth is not None
    linked = set(state.artifacts)
    for version in state.versions:
        assert version.priors.artifacts() <= linked
    summary = store.list()[0]
    assert (summary.images, summary.versions, summary.turns, summary.generations) == (2, 4, 2, 2)
    assert summary.current == 1


def test_sqlite_connections_are_durable_and_check_foreign_keys(tmp_path):
    store = SessionStore(f"sqlite:///{tmp_path / 'sessions.db'}", ArtifactStore(tmp_path / "a"))
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def test_the_schema_uses_only_types_postgresql_has():
    for table in tables.metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert "CREATE TABLE" in ddl


def test_from_settings_creates_the_data_folder(tmp_path):
    settings = load_settings(data_dir=tmp_path / "new" / "data")
    store = SessionStore.from_settings(settings)
    try:
        session = store.create()
        session.add_image(png((0, 0, 0)))
        assert (tmp_path / "new" / "data" / "sessions.db").is_file()
        assert any((tmp_path / "new" / "data" / "artifacts").rglob("*"))
    finally:
        store.close()


# --- versions as a user sees them ---------------------------------------------------------------


def test_undo_redo_and_branching(store):
    session = store.create()
    session.add_image(png((0, 90, 0)))
    assert session.current is None
    with pytest.raises(SessionError, match="Nothing to undo: this session has no versions"):
        session.undo()

    v1 = session.commit(priors_for(session, "one"), summary="one")
    assert (v1.version, v1.parent) == (1, None)
    with pytest.raises(SessionError, match="Nothing to undo: version 1 is the first version"):
        session.undo()
    session.commit(priors_for(session, "two"))
    session.commit(priors_for(session, "three"))
    assert captions(session) == "three"

    assert session.undo().caption.text == "two"
    assert session.undo().caption.text == "one"
    assert session.redo().caption.text == "two"
    assert session.redo().caption.text == "three"
    with pytest.raises(SessionError, match="Nothing to redo"):
        session.redo()

    # a commit after an undo branches and clears the redo stack
    session.undo()
    branch = session.commit(priors_for(session, "two-b"))
    assert (branch.version, branch.parent) == (4, 2)
    with pytest.raises(SessionError, match="Nothing to redo"):
        session.redo()

    # checkout jumps anywhere; the next commit branches from there
    assert session.checkout(1).caption.text == "one"
    other = session.commit(priors_for(session, "one-b"))
    assert (other.version, other.parent) == (5, 1)
    assert session.undo().version == 1
    assert session.checkout(3).version == 3
    with pytest.raises(SessionError, match="Nothing to redo"):
        session.redo()  # checkout cleared it

    history = session.history()
    assert [(h.number, h.parent, h.current) for h in history] == [
        (1, None, False),
        (2, 1, False),
        (3, 2, True),
        (4, 2, False),
        (5, 1, False),
    ]
    assert history[0].summary == "one"
    assert session.version(4).caption.text == "two-b"
    with pytest.raises(SessionError, match="No version 9 in this session"):
        session.version(9)
    with pytest.raises(SessionError, match="No version 9"):
        session.checkout(9)
    assert session.current.version == 3


def test_commit_returns_the_stored_copy_and_leaves_the_argument_alone(store):
    session = store.create()
    session.add_image(png((5, 5, 5)))
    mine = priors_for(session, "x", version=7, parent=3)
    stored = session.commit(mine)
    assert (stored.version, stored.parent) == (1, None)
    assert (mine.version, mine.parent) == (7, 3)
    assert session.version(1) == stored == session.current


def test_images_handles_and_rejected_images(store):
    session = store.create()
    first = session.add_image(png((1, 1, 1)), "a.png")
    second = session.add_image(png((2, 2, 2), (4, 3)))
    assert (first.handle, second.handle) == ("img1", "img2")
    assert (second.ref.width, second.ref.height, second.ref.media_type) == (4, 3, "image/png")
    assert session.image("img2") == second
    assert session.images() == [first, second]
    with pytest.raises(SessionError, match=r"No image 'img3'.*img1, img2"):
        session.image("img3")
    before = session.state()
    with pytest.raises(ImageRejected):
        session.add_image(b"not an image at all")
    assert session.state() == before
    # the stored image is the normalised PNG, readable through the session
    assert Image.open(io.BytesIO(session.read_artifact(first.ref.sha256))).size == (16, 12)


def test_bad_input_leaves_the_state_as_it_was(store):
    session = store.create()
    session.add_image(png((9, 9, 9)))
    session.commit(priors_for(session, "ok"))
    session.add_turn("user", "hi")
    before = session.state()

    other = store.create()
    foreign = other.add_image(png((200, 1, 1)))
    with pytest.raises(SessionError, match="not one of this session's images"):
        session.commit(PriorSet(source=foreign.ref))
    wrong_size = session.image("img1").ref.model_copy(update={"width": 999})
    with pytest.raises(SessionError, match="not one of this session's images"):
        session.commit(PriorSet(source=wrong_size))
    with pytest.raises(SessionError, match="plain JSON"):
        session.commit(priors_for(session, "x"), edit={"when": object()})
    with pytest.raises(SessionError, match="must be a dict"):
        session.commit(priors_for(session, "x"), edit=["not", "a", "dict"])  # type: ignore[arg-type]
    broken = priors_for(session, "x")
    broken.caption.weight = 5.0  # assignment is not validated; commit re-validates
    with pytest.raises(PriorsError, match="weight"):
        session.commit(broken)
    with pytest.raises(SessionError, match="role"):
        session.add_turn("narrator", "hello")  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="plain JSON"):
        session.add_turn("user", "hello", timings={"llm": float("nan")})
    with pytest.raises(SessionError, match="No version 2"):
        session.record_generation(2, {}, [])
    with pytest.raises(SessionError, match="The generation is invalid"):
        session.record_generation(1, {}, [{"sha256": "not-a-hash", "seed": 1}])
    with pytest.raises(SessionError, match="No generation 1"):
        session.choose(1, 0)
    assert session.state() == before

    with pytest.raises(SessionError, match="does not have"):
        session.record_generation(1, {}, [{"sha256": foreign.ref.sha256, "seed": 1}])
    assert session.state() == before

    mine = session.put_artifact(png((3, 3, 3)))
    session.record_generation(1, {}, [{"sha256": mine, "seed": 1}])
    generation_state = session.state()
    with pytest.raises(SessionError, match="candidates 0 to 0; there is no candidate 3"):
        session.choose(1, 3)
    assert session.state() == generation_state


def test_two_handles_on_one_session_share_one_state(store):
    a = store.create()
    b = store.open(a.id)
    a.add_image(png((3, 3, 3)))
    a.commit(priors_for(a, "from a"))
    assert b.commit(priors_for(b, "from b")).parent == 1
    assert a.undo().version == 1
    assert b.redo().caption.text == "from b"
    assert a.state() == b.state()


# --- ids and isolation ----------------------------------------------------------------------------


def test_session_ids_are_unguessable(store):
    ids = [store.create().id for _ in range(30)]
    assert len(set(ids)) == len(ids)
    for session_id in ids:
        assert len(session_id) >= 32  # at least 192 random bits
        assert re.fullmatch(r"[A-Za-z0-9_-]+", session_id)
    assert sorted(s.id for s in store.list()) == sorted(ids)


def test_opening_or_deleting_an_unknown_session_says_what_to_do(store):
    message = "No session 'xyz'. `image-interpreter session list` shows the sessions there are."
    with pytest.raises(SessionError) as caught:
        store.open("xyz")
    assert str(caught.value) == message
    with pytest.raises(SessionError, match="No session 'xyz'"):
        store.delete("xyz")


def test_a_deleted_session_is_gone(store):
    keep, drop = store.create("keep"), store.create("drop")
    drop.add_image(png((7, 7, 7)))
    drop.commit(priors_for(drop, "x"))
    drop.add_turn("user", "x")
    drop.record_generation(1, {}, [])
    store.delete(drop.id)
    assert [s.id for s in store.list()] == [keep.id]
    with pytest.raises(SessionError, match="No session"):
        store.open(drop.id)
    with pytest.raises(SessionError, match="No session"):
        drop.state()
    with pytest.raises(SessionError, match="No session"):
        drop.add_turn("user", "still there?")


def test_a_session_cannot_read_another_sessions_artifacts(store, tmp_path):
    alice, bob = store.create(), store.create()
    secret = alice.add_image(png((255, 0, 0)), "secret.png").ref.sha256
    private = alice.put_artifact(b"alice's depth map")
    assert alice.read_artifact(private) == b"alice's depth map"

    refusals = []
    for sha in (secret, private, sha256_of(b"exists nowhere"), "../../etc/passwd"):
        with pytest.raises(SessionError) as caught:
            bob.read_artifact(sha)
        refusals.append(str(caught.value).replace(sha[:12], "<id>"))
    # the same refusal whether or not the artifact exists elsewhere
    assert len(set(refusals)) == 1

    # content-addressed: Bob adding the same picture stores nothing new, and then he may read it
    files_before = sorted((tmp_path / "artifacts").rglob("*"))
    assert bob.add_image(png((255, 0, 0))).ref.sha256 == secret
    assert sorted((tmp_path / "artifacts").rglob("*")) == files_before
    assert bob.read_artifact(secret) == alice.read_artifact(secret)
    with pytest.raises(SessionError):
        bob.read_artifact(private)

    # knowing a hash is not enough: priors naming Alice's map cannot be committed by Bob
    bob_priors = PriorSet.model_validate(
        {
            "source": bob.image("img1").ref.model_dump(),
            "depth": {"map": {"sha256": private}},
        }
    )
    with pytest.raises(SessionError, match="does not have"):
        bob.commit(bob_priors)
    with pytest.raises(SessionError):
        bob.read_artifact(private)


# --- export and import ----------------------------------------------------------------------------


def test_export_then_import_into_a_fresh_store_gives_the_same_session(store, tmp_path, open_store):
    session = build_rich_session(store)
    before = session.state()
    folder = store.export(session.id, tmp_path / "export")
    assert (folder / "session.json").is_file()
    assert sorted(p.name for p in (folder / "artifacts").iterdir()) == before.artifacts

    other = open_store(tmp_path / "elsewhere")
    try:
        imported = other.import_folder(folder)
        assert imported.id != session.id
        assert len(imported.id) >= 32
        assert imported.state() == before.model_copy(update={"id": imported.id})
        for sha in before.artifacts:
            assert imported.read_artifact(sha) == session.read_artifact(sha)
        assert [imported.redo().version, imported.redo().version] == [3, 4]
    finally:
        other.close()


def test_export_refuses_a_folder_in_use(store, tmp_path):
    session = store.create()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SessionError, match="not an empty folder"):
        store.export(session.id, tmp_path / "busy")
    assert store.export(session.id, tmp_path / "fresh").is_dir()


def _flip_a_byte(folder: Path) -> None:
    victim = sorted((folder / "artifacts").iterdir())[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))


def _cut_json(folder: Path) -> None:
    path = folder / "session.json"
    path.write_text(path.read_text()[:-40])


def _drop_an_artifact(folder: Path) -> None:
    sorted((folder / "artifacts").iterdir())[-1].unlink()


def _impossible_current(folder: Path) -> None:
    path = folder / "session.json"
    data = json.loads(path.read_text())
    data["current"] = 99
    path.write_text(json.dumps(data))


def _foreign_source(folder: Path) -> None:
    path = folder / "session.json"
    data = json.loads(path.read_text())
    data["versions"][0]["priors"]["source"]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))


def _swap_an_image_for_junk(folder: Path) -> None:
    """Consistent hashes, but the 'image' is not one: the safe loader must still see it."""
    state = json.loads((folder / "session.json").read_text())
    old = state["images"][0]["ref"]["sha256"]
    junk = b"definitely not a PNG"
    new = sha256_of(junk)
    (folder / "artifacts" / old).unlink()
    (folder / "artifacts" / new).write_bytes(junk)
    path = folder / "session.json"
    path.write_text(path.read_text().replace(old, new))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_flip_a_byte, "has been modified"),
        (_cut_json, "not a valid exported session"),
        (_drop_an_artifact, "is missing"),
        (_impossible_current, "not a consistent session"),
        (_foreign_source, "not a consistent session"),
        (_swap_an_image_for_junk, "Image img1 of the exported session: The image is not"),
    ],
)
def test_a_tampered_export_is_refused_and_leaves_nothing_behind(
    store, tmp_path, open_store, tamper, message
):
    session = build_rich_session(store)
    folder = store.export(session.id, tmp_path / "export")
    tamper(folder)

    target_root = tmp_path / "elsewhere"
    other = open_store(target_root)
    try:
        with pytest.raises(SessionError, match=message):
            other.import_folder(folder)
        assert other.list() == []
        assert [p for p in (target_root / "artifacts").rglob("*") if p.is_file()] == []
    finally:
        other.close()


def test_importing_something_that_is_not_an_export(store, tmp_path):
    with pytest.raises(SessionError, match="not an exported session"):
        store.import_folder(tmp_path / "nothing-here")
    assert store.list() == []


def test_an_export_imports_twice_as_two_sessions(store, tmp_path):
    session = build_rich_session(store)
    folder = store.export(session.id, tmp_path / "export")
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    first, second = store.import_folder(folder), store.import_folder(copy)
    assert len({session.id, first.id, second.id}) == 3
    assert first.state().versions == second.state().versions == session.state().versions
