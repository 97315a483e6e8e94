"""A user ranks candidates, picks one, and exports the picks as a dataset (JSONL and Parquet)."""

import json

import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.extract import ExtractionService
from image_interpreter.images import encode_png, load_image
from image_interpreter.priors.schema import CaptionPrior, PriorSet
from image_interpreter.rank import (
    Candidate,
    RankWeights,
    candidate_records,
    export_preferences,
    rank,
    record_pick,
)
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

runner = CliRunner()


@pytest.fixture
def picked(tmp_path):
    """A session with one generation of three ranked candidates, the second picked."""
    settings = load_settings(data_dir=tmp_path, profile="tiny")
    store = SessionStore.from_settings(settings)
    session = store.create("picks")
    image = session.add_image(encode_png(Image.fromarray(data.astronaut())), "astronaut.png")
    photo = load_image(session.read_artifact(image.ref.sha256))
    service = ExtractionService(settings, store.artifacts)
    priors = service.extract_into(
        PriorSet(source=image.ref, caption=CaptionPrior(text="an astronaut")),
        photo,
        ["edges"],
        put_artifact=session.put_artifact,
    )
    priors = session.commit(priors, summary="edges")
    pictures = [photo, Image.new("RGB", photo.size, "grey"), photo.rotate(90)]
    candidates = []
    for seed, picture in enumerate(pictures, start=7):
        sha = session.put_artifact(encode_png(picture))
        candidates.append(Candidate(picture, sha256=sha, seed=seed))
    ranked = rank(
        candidates,
        priors,
        weights=RankWeights(clip=0.0),
        service=service,
        read_artifact=session.read_artifact,
        put_artifact=session.put_artifact,
    )
    generation = session.record_generation(
        priors.version, {"prompt": "an astronaut, oil painting"}, candidate_records(ranked)
    )
    pick = record_pick(session, generation.id, 1)  # the user prefers the grey one
    yield store, session, generation, pick
    store.close()


def test_the_pick_is_recorded_with_every_candidates_scores(picked):
    _, session, _, pick = picked
    (stored,) = session.generations()
    assert stored.chosen == 1
    assert [c.seed for c in stored.candidates] == [7, 8, 9]  # generation order, not rank order
    assert stored.candidates[0].scores["edges"] == 1.0  # the source itself
    assert stored.candidates[0].scores["total"] == 1.0
    assert pick.chosen.parts == {"edges": stored.candidates[1].scores["edges"]}
    assert [s.total for s in pick.rejected] == [1.0, stored.candidates[2].scores["total"]]


def test_export_one_row_per_chosen_and_rejected_pair_as_jsonl(picked, tmp_path):
    store, session, generation, _ = picked
    out = tmp_path / "picks.jsonl"
    assert export_preferences(store, out, [session.id]) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["rejected"]["index"] for row in rows] == [0, 2]
    for row in rows:
        assert row["session_id"] == session.id and row["generation_id"] == generation.id
        assert row["prompt"] == "an astronaut, oil painting"
        assert PriorSet.from_json(row["priors"]).edges is not None
        assert row["chosen"]["sha256"] == generation.candidates[1].sha256
        assert row["chosen"]["seed"] == 8
        assert row["chosen"]["scores"] == dict(generation.candidates[1].scores)
        assert store.artifacts.path_for(row["chosen"]["sha256"]).is_file()
        assert row["chosen"]["path"] == str(store.artifacts.path_for(row["chosen"]["sha256"]))
    assert rows[0]["rejected"]["scores"]["edges"] == 1.0


def test_export_parquet_from_the_command_line_and_read_it_back(picked, tmp_path, monkeypatch):
    _, session, generation, _ = picked
    monkeypatch.setenv("IMAGE_INTERPRETER_DATA_DIR", str(tmp_path))
    out = tmp_path / "picks.parquet"
    result = runner.invoke(app, ["preferences", "export", "--all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 2 pair row(s)" in result.output
    rows = pq.read_table(out).to_pylist()
    assert [row["rejected"]["sha256"] for row in rows] == [
        generation.candidates[0].sha256,
        generation.candidates[2].sha256,
    ]
    assert dict(rows[0]["chosen"]["scores"]) == dict(generation.candidates[1].scores)
    assert rows[0]["prompt"] == "an astronaut, oil painting"

    by_pick = tmp_path / "by-pick.parquet"
    command = ["preferences", "export", "--session", session.id, "--out", str(by_pick)]
    result = runner.invoke(app, [*command, "--rows", "generations"])
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(by_pick).to_pylist()
    assert row["chosen"]["index"] == 1
    assert [r["index"] for r in row["rejected"]] == [0, 2]


def test_export_asks_for_a_session_or_all_and_a_known_format(tmp_path):
    export = ["preferences", "export"]
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code != 0 and "--session ID, or --all" in result.output
    result = runner.invoke(app, [*export, "--all", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and ".jsonl or .parquet" in result.output
