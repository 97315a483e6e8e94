"""The command line as a user meets it: help by example, schema, validation, errors in one line."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.priors.examples import example_priorset

runner = CliRunner()


def test_help_lists_the_commands_with_examples():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands")[1]
    for command in ("schema", "validate", "session"):
        assert f" {command} " in commands
    assert "Examples" in result.output


def test_schema_is_the_priorset_json_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "PriorSet"
    assert {"source", "people", "depth", "caption"} <= set(schema["properties"])


def test_schema_example_validates(tmp_path):
    result = runner.invoke(app, ["schema", "--example"])
    path = tmp_path / "priors.json"
    path.write_text(result.output, encoding="utf-8")
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 0
    assert "valid PriorSet" in checked.output
    assert "segmentation (off)" in checked.output


def test_invalid_priors_file_is_explained_in_one_message_without_traceback(tmp_path):
    data = json.loads(example_priorset().to_json())
    data["depth"]["weight"] = 9
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "image_interpreter.cli", "validate", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "depth.weight" in result.stderr
    assert "Traceback" not in result.stderr


def test_models_lists_each_role_and_builds_the_tiny_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGE_INTERPRETER_OFFLINE", "1")
    listed = runner.invoke(app, ["--profile", "sd15", "--data-dir", str(tmp_path), "models"])
    assert listed.exit_code == 0
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in listed.output
    assert "offline: will not download (offline mode is on)" in listed.output
    built = runner.invoke(
        app, ["--profile", "tiny", "--data-dir", str(tmp_path), "models", "build-tiny", "sd.base"]
    )
    assert built.exit_code == 0, built.output
    (folder,) = (tmp_path / "tiny-models").glob("sd-base-*")
    assert (folder / "model_index.json").is_file()
    again = runner.invoke(app, ["--profile", "tiny", "--data-dir", str(tmp_path), "models"])
    rows = {line.split()[0]: line.split()[1:] for line in again.output.splitlines() if line}
    assert rows["sd.base"] == ["built", "tiny/sd-base"]


def test_help_reads_like_a_command_line():
    edit = runner.invoke(app, ["edit", "--help"], env={"COLUMNS": "200"})
    assert "Usage: image-interpreter edit [OPTIONS] PRIORS TEXT" in edit.output
    extract = runner.invoke(app, ["extract", "--help"], env={"COLUMNS": "200"})
    assert "Usage: image-interpreter extract [OPTIONS] [PHOTO]" in extract.output
    for output in (edit.output, extract.output):
        assert "<bool>" not in output and "{" not in output
    flag = next(line for line in extract.output.splitlines() if "│ --list " in line)
    assert "List what can be extracted." in flag and "<" not in flag


def test_help_paragraphs_are_whole_lines_the_terminal_wraps():
    for command in app.registered_commands:
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, command.name
    shown = runner.invoke(app, ["interpolate", "--help"], env={"COLUMNS": "200"})
    assert "pose keypoints linearly; the kinds named by --hold stay fixed" in shown.output
