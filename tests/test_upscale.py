"""Super-resolution on the tiny models: 4x sizes, tiles that blend back to the untiled result,
the x4 upscaler's loop equal to the diffusers pipeline, and one error for missing weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from image_interpreter.errors import ModelUnavailable
from image_interpreter.generate.errors import GenerationCancelled
from image_interpreter.generate.tiles import plan_tiles, run_tiled
from image_interpreter.generate.upscale import (
    UpscaleError,
    Upscaler,
    upscale_esrgan,
    upscale_sd_x4,
)
from image_interpreter.generate.upscale_tiny import ESRGAN_FILE, TINY_ESRGAN
from image_interpreter.models import ensure_tiny
from image_interpreter.settings import load_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "tiny-models"  # shared by modules: builds are atomic


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory, tiny_dir) -> Upscaler:
    settings = load_settings(
        profile="tiny", device="cpu", data_dir=tmp_path_factory.mktemp("data"), tiny_dir=tiny_dir
    )
    return Upscaler(settings)


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth colours with some detail: a small noise image enlarged."""
    rng = np.random.default_rng(seed)
    small = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


# --- tiling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tile", "overlap", "multiple"), [(32, 8, 1), (24, 12, 4), (40, 0, 8)])
def test_tiles_cover_the_image_and_blend_back_exactly(tile, overlap, multiple):
    height, width, scale = 72, 104, 2
    x = torch.rand(1, 3, height, width)
    tiles = plan_tiles(height, width, tile, overlap, multiple)
    assert len(tiles) > 1
    assert all(t.y0 % multiple == 0 and t.x0 % multiple == 0 for t in tiles)
    covered = torch.zeros(height, width)
    for t in tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert covered.min() >= 1

    def upsample(group):  # a "model" without context: any blend of its tiles is the whole
        crops = torch.cat([x[:, :, t.y0 : t.y1, t.x0 : t.x1] for t in group])
        return torch.nn.functional.interpolate(crops, scale_factor=scale, mode="nearest")

    whole = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
    blended = run_tiled(upsample, tiles, height, width, scale=scale, overlap=overlap, batch=3)
    assert blended.shape == whole.shape
    torch.testing.assert_close(blended, whole)


def test_bad_tile_settings_are_refused(upscaler):
    with pytest.raises(UpscaleError, match="half the tile"):
        upscaler.upscale(_picture(64, 64), model="esrgan", tile=32, overlap=20)
    with pytest.raises(UpscaleError, match="Unknown upscaler"):
        upscaler.upscale(_picture(64, 64), model="waifu")  # type: ignore[arg-type]


# --- ESRGAN ------------------------------------------------------------------------------------


def test_esrgan_is_loaded_by_spandrel_and_tiles_match_the_untiled_result(upscaler):
    model = upscaler.esrgan()
    assert model.architecture.id == "ESRGAN" and model.scale == 4
    assert upscaler.esrgan() is model  # loaded once
    image = _picture(96, 64)
    whole = upscale_esrgan(model, image, tile=None)
    steps: list[tuple[int, int]] = []
    tiled = upscaler.upscale(
        image, model="esrgan", tile=48, overlap=16, batch=2,
        progress=lambda step, total, preview: steps.append((step, total)),
    )  # fmt: skip
    assert whole.size == tiled.size == (384, 256)
    diff = np.abs(_pixels(whole) - _pixels(tiled))
    assert _pixels(whole).std() > 5  # not a flat picture, so equality means something
    assert diff.max() <= 1 and diff.mean() < 0.01
    assert steps[-1] == (6, 6)  # 3 x 2 tiles


def test_esrgan_keeps_transparency(upscaler):
    image = _picture(40, 32).convert("RGBA")
    alpha = np.zeros((32, 40), np.uint8)
    alpha[:, 20:] = 255
    image.putalpha(Image.fromarray(alpha))
    big = upscaler.upscale(image, model="esrgan")
    assert big.mode == "RGBA" and big.size == (160, 128)
    out = np.asarray(big.getchannel("A"))
    assert out[:, :60].max() == 0 and out[:, 100:].min() == 255


# --- Stable Diffusion x4 -----------------------------------------------------------------------


def test_sd_x4_with_one_tile_is_exactly_the_diffusers_pipeline(upscaler):
    pipe = upscaler.sd_x4()
    image = _picture(48, 32)
    expected = pipe(
        "a photo", image=image, num_inference_steps=2, guidance_scale=7.0, noise_level=30,
        generator=torch.Generator("cpu").manual_seed(3),
    ).images[0]  # fmt: skip
    ours = upscale_sd_x4(
        pipe, image, prompt="a photo", steps=2, guidance=7.0, noise_level=30, seed=3, tile=64
    )
    assert ours.size == expected.size == (192, 128)
    assert np.array_equal(np.asarray(ours), np.asarray(expected))


def test_sd_x4_tiles_blend_close_to_the_untiled_result(upscaler):
    image = _picture(62, 46)  # not a multiple of the UNet's size step: padded, then cropped
    kwargs = {"prompt": "a photo", "steps": 2, "seed": 1}
    whole = upscaler.upscale(image, model="sd_x4", tile=None, **kwargs)
    steps: list[int] = []
    tiled = upscaler.upscale(
        image, model="sd_x4", tile=32, overlap=16,
        progress=lambda step, total, preview: steps.append(step), **kwargs,
    )  # fmt: skip
    other_seed = upscaler.upscale(image, model="sd_x4", tile=None, **{**kwargs, "seed": 2})
    assert whole.size == tiled.size == (248, 184)
    tile_error = np.abs(_pixels(whole) - _pixels(tiled)).mean()
    seed_change = np.abs(_pixels(whole) - _pixels(other_seed)).mean()
    assert tile_error < seed_change / 4, (tile_error, seed_change)
    assert steps == [1, 2, 3]  # two denoising steps and the decode


def test_a_raising_progress_callback_stops_the_upscale(upscaler):
    def stop(step, total, preview):
        raise GenerationCancelled("stopped")

    with pytest.raises(GenerationCancelled):
        upscaler.upscale(_picture(32, 32), model="sd_x4", steps=3, progress=stop)


# --- loading and the command line --------------------------------------------------------------


def test_missing_esrgan_weights_name_the_model_and_the_tiny_profile(tmp_path):
    settings = load_settings(
        profile="sd15", device="cpu", data_dir=tmp_path, hf_cache_dir=tmp_path / "hub",
        offline=True,
    )  # fmt: skip
    with pytest.raises(ModelUnavailable, match=r"ai-forever/Real-ESRGAN.*tiny"):
        Upscaler(settings).esrgan()


def test_an_esrgan_file_named_in_settings_is_used_in_any_profile(upscaler, tmp_path):
    path = tmp_path / "my-4x.pth"
    tiny = ensure_tiny(TINY_ESRGAN, upscaler.settings) / ESRGAN_FILE
    path.write_bytes(tiny.read_bytes())
    settings = load_settings(
        profile="sd15", device="cpu", data_dir=tmp_path, models={"upscale.esrgan": str(path)}
    )
    model = Upscaler(settings).esrgan()
    assert model.scale == 4 and model.architecture.id == "ESRGAN"
    (tmp_path / "notes.pth").write_bytes(b"not a model")
    wrong = load_settings(
        profile="sd15", device="cpu", data_dir=tmp_path,
        models={"upscale.esrgan": str(tmp_path / "notes.pth")},
    )  # fmt: skip
    with pytest.raises(UpscaleError, match=r"notes\.pth"):
        Upscaler(wrong).esrgan()


def test_upscale_command_writes_a_4x_picture(tmp_path, tiny_dir, monkeypatch):
    from image_interpreter.cli import app

    monkeypatch.setenv("IMAGE_INTERPRETER_TINY_DIR", str(tiny_dir))
    monkeypatch.setenv("IMAGE_INTERPRETER_DEVICE", "cpu")
    source, out = tmp_path / "in.png", tmp_path / "out" / "big.png"
    _picture(40, 24).save(source)
    result = CliRunner().invoke(
        app, ["--profile", "tiny", "upscale", str(source), "--out", str(out), "--tile", "16",
              "--overlap", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (160, 96)
    bad = CliRunner().invoke(app, ["upscale", str(source), "--out", str(out), "--model", "x"])
    assert bad.exit_code != 0 and not isinstance(bad.exception, AssertionError)
