"""`generate POSE.json`: a pose from `edit` or another tool's OpenPose editor is enough to draw
from; a blank canvas of the pose's size stands in for the photo."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.cli import app
from image_interpreter.generate import GenerationError, Recipe
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.openpose import export_openpose

runner = CliRunner()


@pytest.fixture
def folder(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv(
        "IMAGE_INTERPRETER_TINY_DIR", str(tmp_path_factory.getbasetemp() / "generate-tiny-models")
    )
    monkeypatch.setenv("IMAGE_INTERPRETER_DEVICE", "cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path / "data"
    torch.set_num_threads(before)


def _run(folder, *args):
    return runner.invoke(app, ["--profile", "tiny", "--data-dir", str(folder), "generate", *args])


def test_an_openpose_file_generates_on_a_blank_canvas_of_its_size(folder, tmp_path):
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps(export_openpose([example_person()], 96, 64)))
    out = tmp_path / "out"
    result = _run(folder, str(pose), "-n", "1", "--steps", "2", "--out", str(out),
                  "--prompt", "a dancer on a beach")  # fmt: skip
    assert result.exit_code == 0, result.output
    (png,) = out.glob("*.png")
    assert (out / "priors.json").is_file()  # what it drew from, for `interpolate`
    recipe = Recipe.model_validate(json.loads(png.with_suffix(".json").read_text()))
    assert "controlnet.pose" in recipe.model_ids  # the pose steered the picture
    assert recipe.prompt.startswith("a dancer on a beach")
    width, height = Image.open(png).size
    assert width > height  # the canvas's landscape shape
    canvas = Image.open(ArtifactStore(folder / "artifacts").path_for(recipe.source_sha256))
    assert canvas.size == (96, 64) and canvas.getextrema() == ((255, 255),) * 3  # blank


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"people": "nobody"}, "not a valid priors file"),
        ({"canvas_width": 0, "canvas_height": 64, "people": []}, "canvas"),
        ({"canvas_width": 60000, "canvas_height": 60000, "people": []}, "MAX_PIXELS"),
    ],
)
def test_a_bad_openpose_file_is_refused_before_any_work(folder, tmp_path, content, message):
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps(content))
    result = _run(folder, str(pose), "--out", str(tmp_path / "out"))
    assert isinstance(result.exception, GenerationError)
    assert message in str(result.exception)
    assert not (tmp_path / "out").exists()
