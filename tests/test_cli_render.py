"""`edit --render` writes what its help promises: the skeleton, and each other enabled control
image beside it, drawn from the maps `extract` stored in the data folder."""

from __future__ import annotations

from PIL import Image
from skimage import data
from typer.testing import CliRunner

from image_interpreter.cli import app

runner = CliRunner()


def test_render_draws_the_maps_extract_stored(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).resize((64, 64)).save(photo)
    folder = ["--data-dir", str(tmp_path / "data")]
    extracted = runner.invoke(
        app, [*folder, "extract", str(photo), "--kinds", "edges", "--out", str(tmp_path / "p")]
    )
    assert extracted.exit_code == 0, extracted.output
    png = tmp_path / "render.png"
    result = runner.invoke(
        app, [*folder, "edit", str(tmp_path / "p" / "priors.json"), "make it a watercolor",
              "--out", str(tmp_path / "edited.json"), "--render", str(png)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    edges = tmp_path / "render.edges.png"
    assert Image.open(edges).size == (64, 64) and f"Rendered {edges}" in result.output
    assert "Not rendered: people (no poses" in result.output  # no skeleton, and it says why
