"""ControlNet++ checkpoints as an option for the ControlNet roles they cover: one setting names
the downloaded folder, and on SD 1.5 those roles load from it; the rest stay as they were."""

from __future__ import annotations

import pytest
import torch
from diffusers import ControlNetModel

from image_interpreter.models import load_pretrained, model_id
from image_interpreter.models.registry import CONTROLNET_PLUS_PLUS
from image_interpreter.models.tiny import tiny_unet
from image_interpreter.settings import load_settings


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "controlnet-plus-plus"


def test_controlnet_plus_plus_fills_the_roles_it_covers_on_sd15(tmp_path, folder):
    settings = load_settings(profile="sd15", data_dir=tmp_path, controlnet_plus_plus=folder)
    assert model_id("controlnet.segmentation", settings) == str(
        folder / "checkpoints" / "seg" / "controlnet"
    )
    assert model_id("controlnet.softedge", settings).endswith("checkpoints/hed/controlnet")
    assert model_id("controlnet.pose", settings) == "lllyasviel/control_v11p_sd15_openpose"
    assert set(CONTROLNET_PLUS_PLUS) == {
        "controlnet.segmentation", "controlnet.depth", "controlnet.canny",
        "controlnet.lineart", "controlnet.softedge",
    }  # fmt: skip
    chosen = load_settings(
        profile="sd15", data_dir=tmp_path, controlnet_plus_plus=folder,
        models={"controlnet.depth": "me/my-depth"},
    )  # fmt: skip
    assert model_id("controlnet.depth", chosen) == "me/my-depth"  # an explicit choice wins
    tiny = load_settings(profile="tiny", data_dir=tmp_path, controlnet_plus_plus=folder)
    assert model_id("controlnet.depth", tiny) == "tiny/controlnet-depth"  # SD 1.5 weights only


def test_a_controlnet_plus_plus_checkpoint_loads_through_the_usual_loader(tmp_path, folder):
    saved = ControlNetModel.from_unet(tiny_unet(), conditioning_embedding_out_channels=(16, 32))
    saved.save_pretrained(folder / "checkpoints" / "depth" / "controlnet")
    settings = load_settings(profile="sd15", data_dir=tmp_path, controlnet_plus_plus=folder)
    loaded = load_pretrained(ControlNetModel, "controlnet.depth", settings)
    first = next(iter(saved.state_dict()))
    assert torch.equal(loaded.state_dict()[first], saved.state_dict()[first])
    from image_interpreter.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="checkpoints/canny/controlnet"):
        load_pretrained(ControlNetModel, "controlnet.canny", settings)
