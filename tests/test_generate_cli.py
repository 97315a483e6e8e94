"""`image-interpreter generate`: candidates and their recipes as files, from a priors.json whose
artifacts are in the data folder."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from test_generate_support import make_priors
from typer.testing import CliRunner

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.cli import app
from image_interpreter.generate import GenerationError, Recipe

runner = CliRunner()


@pytest.fixture
def data(tmp_path, tmp_path_factory, monkeypatch):
    tiny = tmp_path_factory.getbasetemp() / "generate-tiny-models"
    monkeypatch.setenv("IMAGE_INTERPRETER_TINY_DIR", str(tiny))
    monkeypatch.setenv("IMAGE_INTERPRETER_DEVICE", "cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path / "data"
    priors = make_priors(ArtifactStore(folder / "artifacts"))
    path = tmp_path / "priors.json"
    path.write_text(priors.to_json())
    yield folder, path
    torch.set_num_threads(before)


def _run(folder, *args):
    return runner.invoke(app, ["--profile", "tiny", "--data-dir", str(folder), "generate", *args])


def test_generate_writes_a_png_and_a_recipe_per_candidate(data, tmp_path):
    folder, priors = data
    out = tmp_path / "out"
    result = _run(
        folder, str(priors), "-n", "2", "--out", str(out), "--mode", "per_prior",
        "--kinds", "depth", "--seed", "3", "--steps", "2", "--size", "64x64",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Wrote 4 candidates" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "candidate-01-text.json",
        "candidate-01-text.png",
        "candidate-02-text.json",
        "candidate-02-text.png",
        "candidate-03-depth.json",
        "candidate-03-depth.png",
        "candidate-04-depth.json",
        "candidate-04-depth.png",
    ]  # fmt: skip  (numbered from 1, as in every reply)
    recipe = Recipe.model_validate(json.loads((out / "candidate-04-depth.json").read_text()))
    assert (recipe.seed, recipe.label, recipe.steps, recipe.width) == (4, "depth", 2, 64)
    assert Image.open(out / "candidate-04-depth.png").size == (64, 64)
    # the ranked table: best first, each score in words, the file it is in
    assert "Best first" in result.output and "score " in result.output
    assert "candidate-01-text.png" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "sketch"], "Unknown mode"),
        (["--size", "64by64"], "WIDTHxHEIGHT"),
        (["--size", "32x32"], "Invalid generation options"),
        (["--kinds", "palette"], "Invalid generation options"),
    ],
)
def test_bad_options_fail_before_any_work(data, tmp_path, args, message):
    folder, priors = data
    out = tmp_path / "out"
    result = _run(folder, str(priors), "--out", str(out), *args)
    assert isinstance(result.exception, GenerationError)
    assert message in str(result.exception)
    assert not out.exists()


def test_a_file_that_is_not_priors_is_refused(data, tmp_path):
    folder, _ = data
    bad = tmp_path / "bad.json"
    bad.write_text('{"source": 3}')
    result = _run(folder, str(bad))
    assert isinstance(result.exception, GenerationError)
    assert "not a valid priors file" in str(result.exception)
