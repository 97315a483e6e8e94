"""Loaders that only run with real weights, through their download path, the download served
locally: the Hugging Face hub client's cache layout (CLIP, SAM, ESRGAN: repository, snapshot and
refs/main in a temp folder, read offline as after `hf download`), and a loopback file server for
torchvision's weights (FCN, a classifier), fetched by torch.hub into TORCH_HOME with their hash
checked. The files are random weights of the real architectures, so the code after the download
(architecture detection, state-dict loading, inference) runs as with the real ones."""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from image_interpreter.extract.service import ExtractionService
from image_interpreter.images import encode_png
from image_interpreter.models import ensure_tiny
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import load_settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_settings(
        profile="tiny", data_dir=tmp_path_factory.mktemp("tiny-data"), device="cpu",
        tiny_dir=tmp_path_factory.getbasetemp() / "tiny-models",
    )  # fmt: skip


def hub_cache(cache: Path, repo: str, files: dict[str, Path]) -> None:
    """`files` (name in the repository -> local file) as the hub client stores a download."""
    root = cache / f"models--{repo.replace('/', '--')}"
    for name, source in files.items():
        target = root / "snapshots" / COMMIT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)


def _real(tmp_path, offline=True, **extra):
    """The sd15 profile (real model ids) on the CPU, reading the given hub cache."""
    return load_settings(
        profile="sd15", device="cpu", data_dir=tmp_path / "data", hf_cache_dir=tmp_path / "hf",
        offline=offline, **extra,
    )  # fmt: skip


def _picture(size: int = 64) -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))


def _extract(settings, name, params=None):
    service = ExtractionService(settings)
    picture = _picture()
    ref = ImageRef(sha256=service.artifacts.put(encode_png(picture)), width=64, height=64)
    return service.extract(picture, ref, name, params)


# --- the hub client's cache --------------------------------------------------------------------


def test_clip_from_the_hub_cache_embeds_as_the_same_weights_do(tmp_path, tiny):
    from image_interpreter.extract.extractors import clip_labels

    folder = ensure_tiny("tiny/clip", tiny)
    files = {name: folder / name for name in (clip_labels.CONFIG, clip_labels.WEIGHTS[0])}
    settings = _real(tmp_path)
    hub_cache(tmp_path / "hf", clip_labels.model_id(clip_labels.ROLE, settings), files)
    from_hub = clip_labels.load_clip(settings)
    direct = clip_labels.load_clip(tiny)
    assert from_hub is not direct
    pictures = [_picture(), _picture(48)]
    assert torch.allclose(from_hub.embed_images(pictures), direct.embed_images(pictures))
    assert torch.allclose(from_hub.embed_texts(["a dog"]), direct.embed_texts(["a dog"]))


def test_sam_vit_b_from_the_hub_cache_segments(tmp_path):
    from segment_anything import sam_model_registry

    from image_interpreter.extract.extractors import sam

    checkpoint = tmp_path / "sam_vit_b_01ec64.pth"
    torch.manual_seed(0)
    state = {k: v.half() for k, v in sam_model_registry["vit_b"]().state_dict().items()}
    torch.save(state, checkpoint)
    settings = _real(tmp_path)
    hub_cache(tmp_path / "hf", sam._REPO, {sam.HUB_CHECKPOINTS[sam._REPO]: checkpoint})
    model = sam.load_sam(settings)
    assert model.image_encoder.patch_embed.proj.out_channels == 768  # ViT-B
    loaded = model.image_encoder.patch_embed.proj.weight
    assert torch.equal(loaded.half(), state["image_encoder.patch_embed.proj.weight"])


def test_esrgan_from_the_hub_cache_upscales(tmp_path, tiny):
    from image_interpreter.generate.upscale import ESRGAN_HUB_FILE, ESRGAN_ROLE, Upscaler
    from image_interpreter.generate.upscale_tiny import ESRGAN_FILE, TINY_ESRGAN
    from image_interpreter.models import model_id

    settings = _real(tmp_path)
    weights = ensure_tiny(TINY_ESRGAN, tiny) / ESRGAN_FILE
    hub_cache(tmp_path / "hf", model_id(ESRGAN_ROLE, settings), {ESRGAN_HUB_FILE: weights})
    picture = _picture(32)
    from_hub = Upscaler(settings).upscale(picture, model="esrgan")
    direct = Upscaler(tiny).upscale(picture, model="esrgan")
    assert from_hub.size == (128, 128)
    assert np.array_equal(np.asarray(from_hub), np.asarray(direct))


# --- torchvision weights from a loopback file server -------------------------------------------


@pytest.fixture
def file_server(tmp_path):
    """A loopback HTTP server for the files in a folder: (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def torch_home(tmp_path, monkeypatch, file_server):
    """A fresh TORCH_HOME, online: the session's offline switch off, and the hub endpoint the
    loopback server (so the once-per-process reachability probe gets an answer)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", file_server[1])
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    yield tmp_path / "torch-hub"
    torch.hub.set_dir(before)


def serve_weights(monkeypatch, server, weights, state: dict) -> Path:
    """`state` served as torchvision names its file (with the sha256 prefix torch.hub checks),
    and `weights` (a torchvision weights enum member) pointed at the server."""
    folder, base = server
    scratch = folder / "scratch.pth"
    torch.save(state, scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()[:8]
    stem = Path(weights.url).name.rsplit("-", 1)[0]
    served = folder / f"{stem}-{digest}.pth"
    scratch.rename(served)
    monkeypatch.setattr(weights.value, "url", f"{base}/{served.name}")
    return served


def test_fcn_weights_download_into_torch_home_and_segment(
    tmp_path, monkeypatch, file_server, torch_home
):
    from torchvision.models.segmentation import FCN_ResNet50_Weights, fcn_resnet50

    weights = FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
    torch.manual_seed(0)
    model = fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    served = serve_weights(monkeypatch, file_server, weights, model.state_dict())
    settings = _real(
        tmp_path, offline=False, models={"extract.segmentation.fcn": "torchvision/fcn_resnet50"}
    )
    prior = _extract(settings, "segmentation.fcn")
    assert (torch_home / "checkpoints" / served.name).is_file()  # downloaded, hash checked
    assert prior.kind == "segmentation" and prior.map.sha256


def test_a_torchvision_classifier_downloads_into_torch_home_and_tags(
    tmp_path, monkeypatch, file_server, torch_home
):
    from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

    weights = SqueezeNet1_1_Weights.IMAGENET1K_V1
    torch.manual_seed(0)
    served = serve_weights(monkeypatch, file_server, weights, squeezenet1_1().state_dict())
    settings = _real(tmp_path, offline=False)
    prior = _extract(settings, "tags.squeezenet", {"min_score": 0.0})  # random: flat scores
    assert (torch_home / "checkpoints" / served.name).is_file()
    categories = set(weights.meta["categories"])
    assert prior.tags and all(tag.label in categories for tag in prior.tags)
