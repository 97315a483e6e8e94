"""Model roles resolve per profile, tiny models build once and run the real pipelines on a CPU, and
missing weights fail with one message that says how to get them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, StableDiffusionPipeline
from huggingface_hub.errors import LocalEntryNotFoundError
from PIL import Image
from transformers import CLIPTextModel

from image_interpreter.errors import ModelUnavailable, SettingsError
from image_interpreter.models import (
    ensure_tiny,
    get_role,
    load_pretrained,
    model_id,
    register_role,
    resolve,
    resolve_device,
    resolve_dtype,
    roles,
    tiny_path,
)
from image_interpreter.models import tiny as tiny_module
from image_interpreter.settings import Settings, load_settings

CONTROLNET_ROLES = [
    "controlnet.pose",
    "controlnet.depth",
    "controlnet.segmentation",
    "controlnet.canny",
    "controlnet.lineart",
    "controlnet.softedge",
    "controlnet.scribble",
    "controlnet.mlsd",
]


def _settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"profile": "tiny", "data_dir": data_dir, "device": "cpu"}
    return load_settings(**(values | overrides))


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory) -> Settings:
    return _settings(tmp_path_factory.mktemp("tiny-data"))


@pytest.fixture(scope="session")
def base(tiny_settings) -> StableDiffusionPipeline:
    pipe = load_pretrained(StableDiffusionPipeline, "sd.base", tiny_settings)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def controlnet_pipe(base, tiny_settings) -> StableDiffusionControlNetPipeline:
    controlnet = load_pretrained(ControlNetModel, "controlnet.pose", tiny_settings)
    pipe = StableDiffusionControlNetPipeline(
        **base.components, controlnet=controlnet, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generate(pipe, seed: int, **kwargs) -> np.ndarray:
    kwargs = {"prompt": "a photo of the cat", "num_inference_steps": 2} | kwargs
    image = pipe(generator=torch.Generator("cpu").manual_seed(seed), **kwargs).images[0]
    return np.asarray(image)


# --- roles and profiles ------------------------------------------------------------------------


def test_each_profile_has_its_own_model_ids(tmp_path):
    ids = {p: model_id("sd.base", _settings(tmp_path, profile=p)) for p in ("sd15", "sdxl", "tiny")}
    assert ids == {
        "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
        "tiny": "tiny/sd-base",
    }
    sd15 = _settings(tmp_path, profile="sd15")
    assert model_id("controlnet.pose", sd15) == "lllyasviel/control_v11p_sd15_openpose"
    assert model_id("controlnet.depth", sd15) == "lllyasviel/control_v11f1p_sd15_depth"


def test_every_foundation_role_has_a_model_in_every_profile(tmp_path):
    for profile in ("sd15", "sdxl", "tiny"):
        settings = _settings(tmp_path, profile=profile)
        for role in ["sd.base", *CONTROLNET_ROLES]:
            assert model_id(role, settings)
    assert set(roles()) >= {"sd.base", *CONTROLNET_ROLES}


def test_an_override_wins_over_the_profile(tmp_path):
    for profile in ("sd15", "tiny"):
        settings = _settings(tmp_path, profile=profile, models={"sd.base": "my/model"})
        assert model_id("sd.base", settings) == "my/model"
        assert resolve("sd.base", settings) == "my/model"
        assert model_id("controlnet.pose", settings) != "my/model"


def test_an_unknown_role_lists_the_known_ones(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"controlnet\.pose.*sd\.base"):
        model_id("sd.nope", _settings(tmp_path))


def test_registering_a_role_again_differently_is_refused():
    existing = get_role("sd.base")
    same = register_role(
        "sd.base",
        sd15=existing.sd15,
        sdxl=existing.sdxl,
        tiny=existing.tiny,
        description=existing.description,
    )
    assert same == existing
    with pytest.raises(ValueError, match="already registered"):
        register_role("sd.base", sd15="x/y", sdxl=None, tiny=None, description="other")
    assert get_role("sd.base") == existing


def test_a_role_without_a_model_in_the_profile_says_how_to_choose_one(tmp_path, monkeypatch):
    from image_interpreter.models import registry

    monkeypatch.setitem(
        registry._ROLES,
        "test.only-sd15",
        registry.Role("test.only-sd15", "a/b", None, None, "a test role"),
    )
    with pytest.raises(ModelUnavailable, match="IMAGE_INTERPRETER_MODELS"):
        model_id("test.only-sd15", _settings(tmp_path, profile="sdxl"))


# --- device and dtype --------------------------------------------------------------------------


def test_auto_device_prefers_cuda_then_mps_then_cpu(tmp_path, monkeypatch):
    settings = _settings(tmp_path, device="auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device(settings) == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device(settings) == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(settings) == torch.device("cuda")


def test_an_explicit_device_that_is_missing_or_unknown_is_a_settings_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(_settings(tmp_path, device="cpu")) == torch.device("cpu")
    with pytest.raises(SettingsError, match="CUDA is not available"):
        resolve_device(_settings(tmp_path, device="cuda:0"))
    with pytest.raises(SettingsError, match="Unknown device"):
        resolve_device(_settings(tmp_path, device="quantum"))


def test_auto_dtype_is_half_on_cuda_only(tmp_path):
    auto = _settings(tmp_path, dtype="auto")
    assert resolve_dtype(auto, torch.device("cuda")) == torch.float16
    assert resolve_dtype(auto, torch.device("cpu")) == torch.float32
    assert resolve_dtype(auto, torch.device("mps")) == torch.float32
    assert resolve_dtype(auto) == torch.float32  # device "cpu" in these settings
    bf16 = _settings(tmp_path, dtype="bfloat16")
    assert resolve_dtype(bf16, torch.device("cpu")) == torch.bfloat16


# --- tiny models -------------------------------------------------------------------------------


def test_tiny_base_generates_an_image_of_the_requested_size(base):
    assert _generate(base, 0, height=64, width=64).shape == (64, 64, 3)
    assert _generate(base, 0, height=64, width=96).shape == (64, 96, 3)


def test_tiny_base_is_deterministic_for_a_seed(base):
    first = _generate(base, 7)
    assert np.array_equal(first, _generate(base, 7))
    assert not np.array_equal(first, _generate(base, 8))


def test_tiny_tokenizer_is_a_working_clip_tokenizer(base):
    tokenizer = base.tokenizer
    assert tokenizer.model_max_length == 77
    ids = tokenizer("a photo of the cat").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens(ids[1:5]) == ["a</w>", "photo</w>", "of</w>", "the</w>"]
    padded = tokenizer("a photo", padding="max_length", truncation=True).input_ids
    assert len(padded) == 77
    assert len(tokenizer) == base.text_encoder.config.vocab_size


def test_tiny_controlnet_conditions_generation(controlnet_pipe):
    black = Image.new("RGB", (64, 64), (0, 0, 0))
    white = Image.new("RGB", (64, 64), (255, 255, 255))
    out_black = _generate(controlnet_pipe, 3, image=black, height=64, width=64)
    out_white = _generate(controlnet_pipe, 3, image=white, height=64, width=64)
    assert out_black.shape == (64, 64, 3)
    assert not np.array_equal(out_black, out_white)  # the control image reaches the UNet


def test_each_controlnet_role_has_a_tiny_model_of_its_own(tiny_settings):
    folders = {role: resolve(role, tiny_settings) for role in CONTROLNET_ROLES}
    assert folders["controlnet.pose"] == tiny_path("tiny/controlnet-pose", tiny_settings)
    assert len(set(folders.values())) == len(CONTROLNET_ROLES)


def test_a_second_ensure_tiny_reuses_the_build(base, tiny_settings):
    folder = ensure_tiny("tiny/sd-base", tiny_settings)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    before = (folder.stat().st_ino, folder.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    assert ensure_tiny("tiny/sd-base", tiny_settings) == folder
    after = (folder.stat().st_ino, folder.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    assert after == before
    assert not [p for p in tiny_settings.tiny_models_dir.iterdir() if p.name.startswith(".tmp")]


def test_a_crashed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    settings = _settings(tmp_path)

    def crash(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-build")

    monkeypatch.setitem(tiny_module._BUILDERS, "tiny/test-crash", crash)
    with pytest.raises(RuntimeError):
        ensure_tiny("tiny/test-crash", settings)
    assert list(settings.tiny_models_dir.iterdir()) == []

    monkeypatch.setitem(
        tiny_module._BUILDERS, "tiny/test-crash", lambda f: (f / "ok.bin").write_bytes(b"ok")
    )
    assert (ensure_tiny("tiny/test-crash", settings) / "ok.bin").read_bytes() == b"ok"


def test_losing_a_build_race_keeps_the_winners_copy(tmp_path, monkeypatch):
    settings = _settings(tmp_path)

    def finish_after_a_rival(folder: Path) -> None:
        (folder / "mine.bin").write_bytes(b"mine")
        target.mkdir()
        (target / "theirs.bin").write_bytes(b"theirs")

    monkeypatch.setitem(tiny_module._BUILDERS, "tiny/test-race", finish_after_a_rival)
    target = tiny_path("tiny/test-race", settings)
    assert ensure_tiny("tiny/test-race", settings) == target
    assert sorted(p.name for p in settings.tiny_models_dir.iterdir()) == [target.name]
    assert [p.name for p in target.iterdir()] == ["theirs.bin"]


def test_an_unknown_tiny_model_lists_the_known_ones(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"tiny/controlnet-canny.*tiny/sd-base"):
        ensure_tiny("tiny/nope", _settings(tmp_path))


# --- loading and its errors --------------------------------------------------------------------


class _Recorder:
    """A stand-in loader: records how it was called, or fails the way it is told to."""

    calls: list[tuple[object, dict]]
    error: BaseException | None = None

    @classmethod
    def from_pretrained(cls, target, **kwargs):
        cls.calls.append((target, kwargs))
        if cls.error is not None:
            raise cls.error
        return "loaded"


@pytest.fixture
def recorder():
    _Recorder.calls = []
    _Recorder.error = None
    return _Recorder


def test_hub_ids_load_through_the_configured_cache_and_tiny_folders_do_not(
    tmp_path, tiny_settings, recorder
):
    hub = _settings(tmp_path, profile="sd15", hf_cache_dir=tmp_path / "hf", offline=True)
    assert load_pretrained(recorder, "sd.base", hub, subfolder="unet") == "loaded"
    assert recorder.calls[-1] == (
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        {"cache_dir": tmp_path / "hf", "local_files_only": True, "subfolder": "unet"},
    )
    load_pretrained(recorder, "controlnet.pose", tiny_settings)
    assert recorder.calls[-1] == (tiny_path("tiny/controlnet-pose", tiny_settings), {})


def test_the_hubs_own_offline_switch_is_honoured(tmp_path, recorder, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    load_pretrained(recorder, "sd.base", _settings(tmp_path, profile="sd15", offline=False))
    assert recorder.calls[-1][1]["local_files_only"] is True


@pytest.mark.parametrize(
    "loader,kwargs",
    [
        (StableDiffusionPipeline, {}),
        (ControlNetModel, {}),
        (CLIPTextModel, {"subfolder": "text_encoder"}),
    ],
)
def test_missing_weights_raise_one_helpful_error(tmp_path, loader, kwargs):
    missing = "nobody-here/does-not-exist-xyz"
    cache = tmp_path / "hf-cache"
    settings = _settings(
        tmp_path, profile="sd15", offline=True, hf_cache_dir=cache, models={"sd.base": missing}
    )
    with pytest.raises(ModelUnavailable) as caught:
        load_pretrained(loader, "sd.base", settings, **kwargs)
    message = str(caught.value)
    for expected in (missing, "sd.base", str(cache), f"hf download {missing}", "PROFILE=tiny"):
        assert expected in message


def test_the_default_model_missing_offline_names_the_default_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "default-cache"))
    settings = _settings(tmp_path, profile="sd15", offline=True)
    with pytest.raises(ModelUnavailable) as caught:
        load_pretrained(ControlNetModel, "controlnet.canny", settings)
    message = str(caught.value)
    assert "lllyasviel/control_v11p_sd15_canny" in message
    assert str(tmp_path / "default-cache") in message
    assert "offline" in message and "tiny" in message


@pytest.mark.parametrize(
    "error",
    [
        LocalEntryNotFoundError("not in the cache"),
        OSError("Couldn't connect to the Hub"),
        ConnectionError("Name or service not known"),
    ],
)
def test_hub_failures_become_model_unavailable(tmp_path, recorder, monkeypatch, error):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    recorder.error = error
    settings = _settings(tmp_path, profile="sd15")
    with pytest.raises(ModelUnavailable, match="could not be downloaded") as caught:
        load_pretrained(recorder, "controlnet.depth", settings)
    assert caught.value.__cause__ is error


def test_other_errors_are_not_disguised(tmp_path, recorder):
    recorder.error = TypeError("unexpected keyword 'torch_dtipe'")
    with pytest.raises(TypeError):
        load_pretrained(recorder, "sd.base", _settings(tmp_path, profile="sd15"))


def test_bad_overrides_are_reported_before_loading(tmp_path, recorder):
    missing_folder = tmp_path / "no-such-model"
    settings = _settings(tmp_path, profile="sd15", models={"sd.base": str(missing_folder)})
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_pretrained(recorder, "sd.base", settings)
    settings = _settings(tmp_path, profile="sd15", models={"sd.base": "not a valid id!"})
    with pytest.raises(ModelUnavailable, match="neither an existing folder"):
        load_pretrained(recorder, "sd.base", settings)
    assert recorder.calls == []


def test_an_override_naming_a_local_folder_loads_it(tmp_path, tiny_settings, base):
    folder = ensure_tiny("tiny/controlnet-pose", tiny_settings)
    settings = _settings(tmp_path, profile="sd15", models={"controlnet.pose": str(folder)})
    assert resolve("controlnet.pose", settings) == folder
    controlnet = load_pretrained(ControlNetModel, "controlnet.pose", settings)
    assert controlnet.config.cross_attention_dim == 32
    assert os.path.samefile(resolve("controlnet.pose", settings), folder)


def test_the_first_tiny_build_of_a_process_is_announced_once(tmp_path, monkeypatch):
    heard: list[str] = []
    monkeypatch.setattr(tiny_module, "_announced", False)
    stop = tiny_module.on_first_build(heard.append)
    try:
        settings = _settings(tmp_path)
        ensure_tiny("tiny/controlnet-canny", settings)
        ensure_tiny("tiny/controlnet-depth", settings)
        ensure_tiny("tiny/controlnet-canny", settings)
    finally:
        stop()
    assert heard == [
        f"Building the miniature models, once (they are kept in {settings.tiny_models_dir})."
    ]


def test_the_command_line_says_it_is_building_the_miniature_models(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "image_interpreter.cli", "--profile", "tiny", "--data-dir",
         str(tmp_path), "models", "build-tiny", "controlnet.canny"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Building the miniature models, once") == 1
