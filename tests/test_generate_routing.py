"""Each control image reaches the ControlNet trained on its kind, with its weight and step range:
SD 1.5 (every role its own tiny weights), SDXL (own ControlNets and the union model, mixed or
alone, in the right control mode). The expected routes are written out here, not read from the
table, so a swapped table fails a test that names the misrouted prior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import ControlNetModel, ControlNetUnionModel, UNet2DConditionModel
from test_generate_support import SIZE, make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationError, GenerationRequest, Generator, routing
from image_interpreter.generate.sdxl_tiny import TINY_SDXL_MODELS
from image_interpreter.models import model_id, tiny_path
from image_interpreter.priors.render import render_controls
from image_interpreter.priors.schema import EdgesPrior
from image_interpreter.settings import load_settings

STEPS = 4
METHODS = ("canny", "lineart", "hed", "scribble", "mlsd", "other")

# (kind, edge method) -> (SD 1.5 model, SDXL model, SDXL union mode or None for a plain model)
UNION = "xinsir/controlnet-union-sdxl-1.0"
EXPECTED_MODELS = {
    ("people", None): ("lllyasviel/control_v11p_sd15_openpose",
                       "xinsir/controlnet-openpose-sdxl-1.0", None),
    ("depth", None): ("lllyasviel/control_v11f1p_sd15_depth",
                      "diffusers/controlnet-depth-sdxl-1.0", None),
    ("segmentation", None): ("lllyasviel/control_v11p_sd15_seg", UNION, 5),
    ("edges", "canny"): ("lllyasviel/control_v11p_sd15_canny",
                         "diffusers/controlnet-canny-sdxl-1.0", None),
    ("edges", "lineart"): ("lllyasviel/control_v11p_sd15_lineart", UNION, 3),
    ("edges", "hed"): ("lllyasviel/control_v11p_sd15_softedge", UNION, 2),
    ("edges", "scribble"): ("lllyasviel/control_v11p_sd15_scribble", UNION, 2),
    ("edges", "mlsd"): ("lllyasviel/control_v11p_sd15_mlsd", UNION, 3),
    ("edges", "other"): ("lllyasviel/control_v11p_sd15_lineart", UNION, 3),
}  # fmt: skip

# The tiny model each control image must reach: SD 1.5, then SDXL (the union model by mode).
TINY_SD15 = {
    "people": "tiny/controlnet-pose",
    "depth": "tiny/controlnet-depth",
    "segmentation": "tiny/controlnet-segmentation",
    "canny": "tiny/controlnet-canny",
    "lineart": "tiny/controlnet-lineart",
    "hed": "tiny/controlnet-softedge",
    "scribble": "tiny/controlnet-scribble",
    "mlsd": "tiny/controlnet-mlsd",
    "other": "tiny/controlnet-lineart",
}
XL_UNION = "tiny/sdxl-controlnet-union"
TINY_SDXL = {
    "people": ("tiny/sdxl-controlnet-pose", None),
    "depth": ("tiny/sdxl-controlnet-depth", None),
    "segmentation": (XL_UNION, 5),
    "canny": ("tiny/sdxl-controlnet-canny", None),
    "lineart": (XL_UNION, 3),
    "hed": (XL_UNION, 2),
    "scribble": (XL_UNION, 2),
    "mlsd": (XL_UNION, 3),
    "other": (XL_UNION, 3),
}
# Weights and step ranges, each prior its own, so a swap of images or settings shows.
SETTINGS = {
    "people": (0.9, 0.0, 0.8),
    "depth": (0.6, 0.1, 1.0),
    "segmentation": (0.7, 0.25, 0.75),
    "edges": (0.4, 0.0, 0.5),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    return Generator(tiny_settings(tmp_path_factory))


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    return Generator(tiny_settings(tmp_path_factory, models=TINY_SDXL_MODELS))


def _priors(generator, method):
    store = ArtifactStore(generator.settings.artifacts_dir)
    priors = make_priors(store, steps=STEPS, candidates=1)
    updates = {}
    for kind, (weight, start, end) in SETTINGS.items():
        extra = {"enabled": True, "method": method} if kind == "edges" else {"enabled": True}
        prior = getattr(priors, kind).model_copy(
            update={"weight": weight, "start": start, "end": end, **extra}
        )
        updates[kind] = prior
    return priors.model_copy(update=updates), store


class ControlNetCalls:
    """Every ControlNet forward (plain or union): which model, image, scale, mode, timestep;
    and every UNet timestep, to number the denoising steps."""

    def __init__(self, monkeypatch, settings):
        self.calls: list[dict] = []
        self.timesteps: list[float] = []
        self.settings = settings
        for cls in (ControlNetModel, ControlNetUnionModel):
            original = cls.forward

            def forward(net, *args, _original=original, **kwargs):
                self._record(net, args, kwargs)
                return _original(net, *args, **kwargs)

            monkeypatch.setattr(cls, "forward", forward)
        unet_forward = UNet2DConditionModel.forward

        def unet(net, sample, timestep, *args, **kwargs):
            self.timesteps.append(float(timestep))
            return unet_forward(net, sample, timestep, *args, **kwargs)

        monkeypatch.setattr(UNet2DConditionModel, "forward", unet)

    def _record(self, net, args, kwargs):
        names = ("sample", "timestep", "encoder_hidden_states", "controlnet_cond")
        given = dict(zip(names, args, strict=False)) | kwargs
        cond = given["controlnet_cond"]
        scale = given.get("conditioning_scale", 1.0)
        mode = given.get("control_type_idx")
        if isinstance(cond, list | tuple):  # a union model: one image (the pipelines' lists)
            cond, scale, mode = cond[0], _first(scale), _first(mode)
        self.calls.append(
            {
                "model": _tiny_id(net.config._name_or_path),
                "image": cond[0].float().cpu().numpy(),
                "scale": float(scale),
                "mode": mode,
                "timestep": float(given["timestep"]),
            }
        )


def _first(value):
    return value[0] if isinstance(value, list | tuple) else value


def _tiny_id(folder) -> str:
    """tiny/<name> of a tiny model folder (<name>-<fingerprint>)."""
    return "tiny/" + Path(folder).name.rsplit("-", 1)[0]


def misrouted(calls, images, priors, expected) -> list[str]:
    """What went wrong, per control image: the ControlNet it reached (and mode), its weight per
    step. `expected[kind or method] = (tiny model, union mode)`."""
    problems = []
    steps = list(dict.fromkeys(calls.timesteps))
    assert len(steps) == STEPS
    for kind, picture in images.items():
        label = kind if kind != "edges" else f"edges ({priors.edges.method})"
        want_model, want_mode = expected[kind if kind != "edges" else priors.edges.method]
        pixels = np.asarray(picture.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255
        mine = [c for c in calls.calls if np.allclose(c["image"], pixels, atol=1.5 / 255)]
        reached = sorted({(c["model"], c["mode"]) for c in mine}, key=str)
        if reached != [(want_model, want_mode)]:
            problems.append(f"{label} reached {reached}, not {(want_model, want_mode)}")
            continue
        weight, start, end = SETTINGS[kind]
        scales = {c["timestep"]: c["scale"] for c in mine}
        got = [round(scales.get(t, 0.0), 6) for t in steps]
        want = [
            0.0 if (i / STEPS < start or (i + 1) / STEPS > end) else weight for i in range(STEPS)
        ]
        if got != want:
            problems.append(f"{label}: weights per step {got}, not {want}")
    return problems


def _draw(generator, method, monkeypatch, kinds=None):
    priors, store = _priors(generator, method)
    calls = ControlNetCalls(monkeypatch, generator.settings)
    request = GenerationRequest(priors=priors, kinds=kinds)
    generator.generate(request, read_artifact=store.get)
    images = render_controls(priors, (SIZE, SIZE), store.get, kinds=kinds or list(SETTINGS))
    return calls, images, priors


# --- the table -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(EXPECTED_MODELS), ids=lambda k: "-".join(filter(None, k)))
def test_each_control_image_goes_to_the_controlnet_trained_on_it(key, tmp_path):
    kind, method = key
    prior = EdgesPrior(map={"sha256": "0" * 64}, method=method) if method else None
    sd15_id, sdxl_id, mode = EXPECTED_MODELS[key]
    role = routing.control_role(kind, prior)
    for profile, wanted in (("sd15", sd15_id), ("sdxl", sdxl_id)):
        settings = load_settings(profile=profile, data_dir=tmp_path)
        assert model_id(role, settings) == wanted, f"{key} goes to {role} on {profile}"
    if mode is not None:
        assert routing.union_mode(kind, prior) == mode, f"{key} runs in the wrong union mode"


def test_the_readme_shows_the_routing_table():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert routing.routing_table() in readme


def test_every_controlnet_role_has_its_own_tiny_weights(sd15):
    roles = {r.role for r in routing.ROUTES}
    folders = {tiny_path(model_id(role, sd15.settings), sd15.settings) for role in roles}
    assert len(folders) == len(roles)
    nets = [sd15.components.controlnet(role) for role in sorted(roles)]
    first = [next(net.controlnet_mid_block.parameters()).flatten()[:8] for net in nets]
    assert len({tuple(w.tolist()) for w in first}) == len(nets)


def test_an_unrouted_prior_is_refused():
    with pytest.raises(GenerationError, match="'palette' priors have no ControlNet"):
        routing.control_role("palette", None)


# --- what reaches each ControlNet ----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_sd15_each_image_reaches_its_controlnet_with_its_weight_and_steps(
    sd15, method, monkeypatch
):
    calls, images, priors = _draw(sd15, method, monkeypatch)
    expected = {k: (v, None) for k, v in TINY_SD15.items()}
    assert misrouted(calls, images, priors, expected) == []


@pytest.mark.parametrize("method", METHODS)
def test_sdxl_each_image_reaches_its_controlnet_or_union_mode(sdxl, method, monkeypatch):
    """Own ControlNets beside the union model: the ordinary XL pipeline, union in one mode."""
    calls, images, priors = _draw(sdxl, method, monkeypatch)
    assert misrouted(calls, images, priors, TINY_SDXL) == []


@pytest.mark.parametrize("method", ["lineart", "hed", "scribble", "mlsd"])
def test_sdxl_union_pipeline_runs_each_image_in_its_mode(sdxl, method, monkeypatch):
    """Only union-model priors: diffusers' union pipeline, one mode per image."""
    calls, images, priors = _draw(sdxl, method, monkeypatch, kinds=["segmentation", "edges"])
    assert misrouted(calls, images, priors, TINY_SDXL) == []


def test_a_swapped_table_fails_and_names_the_prior(sd15, monkeypatch):
    hed = routing._BY_KEY[("edges", "hed")]
    swapped = {**routing._BY_KEY, ("edges", "hed"): routing._BY_KEY[("edges", "lineart")]}
    monkeypatch.setattr(routing, "_BY_KEY", swapped)
    calls, images, priors = _draw(sd15, "hed", monkeypatch)
    problems = misrouted(calls, images, priors, {k: (v, None) for k, v in TINY_SD15.items()})
    assert hed.role == "controlnet.softedge"
    assert problems == [
        "edges (hed) reached [('tiny/controlnet-lineart', None)],"
        " not ('tiny/controlnet-softedge', None)"
    ]


# --- union or plain: declared, and checked against the weights --------------------------------


def _copy_with_config(settings, tiny_id, folder, **changes):
    """A copy of a tiny ControlNet whose config.json is changed (None removes a key)."""
    import json
    import shutil

    from image_interpreter.models import ensure_tiny

    shutil.copytree(ensure_tiny(tiny_id, settings), folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        config.pop(key, None) if value is None else config.__setitem__(key, value)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def _xl_with(tmp_path_factory, role, chosen):
    return Generator(tiny_settings(tmp_path_factory, models={**TINY_SDXL_MODELS, role: chosen}))


def test_a_declared_union_model_loads_as_one_whatever_its_config_says(
    sdxl, tmp_path_factory, monkeypatch
):
    from image_interpreter.models import registry

    bare = _copy_with_config(
        sdxl.settings, XL_UNION, tmp_path_factory.mktemp("u") / "union",
        _class_name="ControlNetModel", num_control_type=None,
    )  # fmt: skip
    monkeypatch.setattr(registry, "_UNION_CONTROLNETS", {*registry._UNION_CONTROLNETS, bare})
    generator = _xl_with(tmp_path_factory, "controlnet.segmentation", bare)
    net = generator.components.controlnet("controlnet.segmentation")
    assert isinstance(net, ControlNetUnionModel)
    calls, images, priors = _draw(generator, "lineart", monkeypatch, kinds=["segmentation"])
    assert misrouted(calls, images, priors, {"segmentation": ("tiny/union", 5)}) == []


def test_union_weights_not_declared_union_are_refused(sdxl, tmp_path_factory):
    bare = _copy_with_config(
        sdxl.settings, XL_UNION, tmp_path_factory.mktemp("u") / "union",
        _class_name="ControlNetModel", num_control_type=None,
    )  # fmt: skip
    generator = _xl_with(tmp_path_factory, "controlnet.segmentation", bare)
    with pytest.raises(GenerationError, match="declared a plain ControlNet but its weights are a"):
        generator.components.controlnet("controlnet.segmentation")
    assert generator.components.loaded_controlnets == {}


def test_plain_weights_declared_union_are_refused(sdxl, tmp_path_factory):
    fake = _copy_with_config(
        sdxl.settings, "tiny/sdxl-controlnet-pose", tmp_path_factory.mktemp("p") / "plain",
        _class_name="ControlNetUnionModel",
    )  # fmt: skip
    generator = _xl_with(tmp_path_factory, "controlnet.segmentation", fake)
    with pytest.raises(GenerationError, match="declared a union ControlNet but its weights are"):
        generator.components.controlnet("controlnet.segmentation")


def test_a_union_model_on_an_sd15_base_is_refused(tmp_path_factory):
    settings = tiny_settings(tmp_path_factory, models={"controlnet.segmentation": XL_UNION})
    with pytest.raises(GenerationError, match="for SDXL bases only"):
        Generator(settings).components.controlnet("controlnet.segmentation")
