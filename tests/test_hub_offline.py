"""Without network, missing weights fail fast: the hub is asked once whether it answers, the
process then works offline, and every missing model is named in one message with one fix."""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image
from skimage import data
from test_generate_support import make_priors
from typer.testing import CliRunner

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.cli import app
from image_interpreter.cli.main import console
from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.service import ExtractionService
from image_interpreter.images import encode_png
from image_interpreter.models import hub
from image_interpreter.priors.schema import ImageRef, PriorSet
from image_interpreter.settings import load_settings

runner = CliRunner()


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable(monkeypatch, tmp_path):
    """The hub's endpoint is a closed loopback port, HF_HUB_OFFLINE is off, the cache is empty."""
    from huggingface_hub import constants

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_probes", {})
    return endpoint


def _sd15(tmp_path, **overrides):
    values = {"profile": "sd15", "data_dir": tmp_path / "data", "hf_cache_dir": tmp_path / "hf",
              "device": "cpu", "offline": False}  # fmt: skip
    return load_settings(**(values | overrides))


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).resize((96, 96)).save(path)
    return path


def test_extraction_fails_within_seconds_naming_every_missing_model_once(unreachable, tmp_path):
    settings = _sd15(tmp_path)
    service = ExtractionService(settings)
    image = Image.fromarray(data.astronaut()).resize((96, 96))
    source = ImageRef(sha256=service.artifacts.put(encode_png(image)), width=96, height=96)
    kinds = ["depth", "caption", "objects"]
    expected = {m for name in kinds for m in service.instance(name).model_ids().values()}
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as caught:
        service.extract_into(PriorSet(source=source), image, kinds)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert len(expected) >= 3
    for model in expected:
        assert message.count(f"  {model}") == 1  # listed once
        assert f"hf download {model}" in message  # and in the one fix
    assert unreachable in message and "cannot be reached" in message
    assert "IMAGE_INTERPRETER_PROFILE=tiny" in message


def test_the_command_line_prints_the_list_once_without_hub_retries(photo, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "IMAGE_INTERPRETER_"))}
    env |= {"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HOME": str(tmp_path / "hf"),
            "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "data"), "IMAGE_INTERPRETER_DEVICE": "cpu",
            "COLUMNS": "200"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "image_interpreter.cli", "--profile", "sd15", "extract",
         str(photo), "--kinds", "depth,caption", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("Error:") == 1, result.stderr
    assert "2 models are not in the Hugging Face cache" in result.stderr
    assert "Retrying" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_generation_names_the_base_and_every_controlnet_it_would_need(unreachable, tmp_path):
    store = ArtifactStore(tmp_path / "data" / "artifacts")
    priors = tmp_path / "priors.json"
    priors.write_text(make_priors(store).to_json())
    result = runner.invoke(
        app, ["--profile", "sd15", "--data-dir", str(tmp_path / "data"), "generate", str(priors),
              "--out", str(tmp_path / "out")],
        env={"IMAGE_INTERPRETER_HF_CACHE_DIR": str(tmp_path / "hf")},
    )  # fmt: skip
    assert isinstance(result.exception, ModelUnavailable)
    message = str(result.exception)
    for model in ("stable-diffusion-v1-5/stable-diffusion-v1-5",
                  "lllyasviel/control_v11p_sd15_openpose", "lllyasviel/control_v11f1p_sd15_depth",
                  "lllyasviel/control_v11p_sd15_canny"):  # fmt: skip
        assert f"  {model}" in message
    assert "control_v11p_sd15_seg" not in message  # the segmentation prior is off
    assert not (tmp_path / "out").exists()


def test_a_model_in_the_cache_is_not_reported_missing(unreachable, tmp_path):
    settings = _sd15(tmp_path)
    snapshot = tmp_path / "hf" / "models--lllyasviel--control_v11p_sd15_canny" / "snapshots" / "a"
    snapshot.mkdir(parents=True)
    missing = hub.missing_models(["controlnet.canny", "controlnet.depth", "sd.base"], settings)
    assert set(missing) == {"lllyasviel/control_v11f1p_sd15_depth",
                            "stable-diffusion-v1-5/stable-diffusion-v1-5"}  # fmt: skip


def test_the_hub_is_asked_once_per_process(unreachable, tmp_path, monkeypatch):
    asked = []
    real = hub._probe
    monkeypatch.setattr(hub, "_probe", lambda *a: asked.append(a) or real(*a))
    settings = _sd15(tmp_path)
    assert all(hub.offline_mode(settings) for _ in range(5))
    assert len(asked) == 1


def test_a_hub_that_answers_keeps_downloads_on(monkeypatch, tmp_path):
    from huggingface_hub import constants

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub, "_probes", {})
        settings = _sd15(tmp_path)
        assert not hub.offline_mode(settings)
        assert hub.missing_models(["sd.base"], settings) == {}  # it would download
    finally:
        server.shutdown()


def _models_output(tmp_path, monkeypatch, terminal: bool) -> str:
    if terminal:
        monkeypatch.setattr(console, "_force_terminal", True)
        monkeypatch.setattr(console, "width", 80)
    result = runner.invoke(
        app, ["--profile", "sd15", "--data-dir", str(tmp_path), "models"],
        env={"IMAGE_INTERPRETER_HF_CACHE_DIR": str(tmp_path / "hf")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_models_says_it_will_not_download_when_offline(unreachable, tmp_path, monkeypatch):
    output = _models_output(tmp_path, monkeypatch, terminal=False)
    assert "offline: will not download" in output and unreachable in output
    rows = {line.split()[0]: line.split() for line in output.splitlines() if line.strip()}
    assert rows["sd.base"] == ["sd.base", "missing", "stable-diffusion-v1-5/stable-diffusion-v1-5"]
    assert rows["extract.tags.squeezenet"][1] == "other"  # torchvision's own cache


def test_models_piped_is_one_plain_line_per_role(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_probes", {hub.hub_endpoint(): None})  # the hub answers
    output = _models_output(tmp_path, monkeypatch, terminal=False)
    assert "will not download" not in output and "│" not in output and "\x1b[" not in output
    lines = [line for line in output.splitlines() if line.startswith("controlnet.")]
    assert len(lines) >= 5 and all(len(line.split()) == 3 for line in lines)
    assert all(line.split()[1] == "download" for line in lines)


def test_models_fits_an_80_column_terminal(unreachable, tmp_path, monkeypatch):
    output = _models_output(tmp_path, monkeypatch, terminal=True)
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines()]
    assert max(len(line.rstrip()) for line in plain) <= 80
    assert any(line.startswith("sd.base") and "missing" in line for line in plain)
