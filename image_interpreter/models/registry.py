"""Model roles: what each part of the pipeline needs ("sd.base", "controlnet.pose"), and which
model id fills it in each profile.

Code asks for a role, never for a hub id, so switching profile (sd15, sdxl, tiny) or overriding one
model in settings (`models = {"sd.base": "my/model"}`) changes every caller at once. Modules that
introduce a role register it next to the code that uses it; the foundation's roles are below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from image_interpreter.errors import ModelUnavailable

if TYPE_CHECKING:  # pydantic-settings is not imported for `--help`
    from image_interpreter.settings import Profile, Settings


@dataclass(frozen=True)
class Role:
    """One role's model id per profile; None where a profile has no model for it."""

    name: str
    sd15: str | None
    sdxl: str | None
    tiny: str | None
    description: str

    def for_profile(self, profile: Profile) -> str | None:
        return {"sd15": self.sd15, "sdxl": self.sdxl, "tiny": self.tiny}[profile]


_ROLES: dict[str, Role] = {}


def register_role(
    role: str,
    *,
    sd15: str | None,
    sdxl: str | None,
    tiny: str | None,
    description: str,
) -> Role:
    """Declare a role. Registering the same thing twice (a module reload) is harmless; registering
    a different thing under a taken name is a bug, so it raises."""
    entry = Role(role, sd15, sdxl, tiny, description)
    existing = _ROLES.get(role)
    if existing is not None and existing != entry:
        raise ValueError(f"Model role '{role}' is already registered differently: {existing}.")
    _ROLES[role] = entry
    return entry


def roles() -> dict[str, Role]:
    """Every registered role, by name (a copy)."""
    return dict(_ROLES)


def load_role_modules() -> dict[str, Role]:
    """Import every module that registers roles and tiny models (the `image_interpreter.models`
    entry-point group: extractors, upscalers, plugins), for listings that must show them all."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="image_interpreter.models"):
        loaded = entry.load()
        if callable(loaded):
            loaded()
    return roles()


def get_role(role: str) -> Role:
    try:
        return _ROLES[role]
    except KeyError:
        known = ", ".join(sorted(_ROLES)) or "none"
        raise ModelUnavailable(f"Unknown model role '{role}'. Known roles: {known}.") from None


def model_id(role: str, settings: Settings) -> str:
    """The model id for `role`: the settings override if any, else the profile's id."""
    entry = get_role(role)
    override = settings.models.get(role)
    if override:
        return override
    plus = controlnet_plus_plus(role, settings)
    if plus is not None:
        return plus
    chosen = entry.for_profile(settings.profile)
    if chosen is None:
        raise ModelUnavailable(
            f"Model role '{role}' ({entry.description}) has no default model in the"
            f" '{settings.profile}' profile. Choose one with IMAGE_INTERPRETER_MODELS="
            f'\'{{"{role}": "<hub id or folder>"}}\' or switch IMAGE_INTERPRETER_PROFILE.'
        )
    return chosen


# One SDXL "union" ControlNet (xinsir's ControlNet++) covers the kinds without a dedicated SDXL
# model. It loads with diffusers' ControlNetUnionModel (not ControlNetModel) and runs in a control
# mode per image, so which ids are union models is stated here, never guessed from a config.
_UNION_SDXL = "xinsir/controlnet-union-sdxl-1.0"
_UNION_CONTROLNETS: set[str] = {_UNION_SDXL}


# ControlNet++ (Li et al., ECCV 2024): SD 1.5 ControlNets fine-tuned on a cycle-consistency
# reward, in diffusers format, in the Hugging Face Space limingcv/ControlNet-Plus-Plus under
# checkpoints/<name>/controlnet. A Space is not loadable by hub id, so `controlnet_plus_plus`
# names the folder it was downloaded to; the roles they cover then use them on SD 1.5.
CONTROLNET_PLUS_PLUS: dict[str, str] = {
    "controlnet.segmentation": "seg",
    "controlnet.depth": "depth",
    "controlnet.canny": "canny",
    "controlnet.lineart": "lineart",
    "controlnet.softedge": "hed",
}


def controlnet_plus_plus(role: str, settings: Settings) -> str | None:
    """The ControlNet++ checkpoint folder for `role`, when one is configured and covers it."""
    folder = getattr(settings, "controlnet_plus_plus", None)
    name = CONTROLNET_PLUS_PLUS.get(role)
    if folder is None or name is None or settings.profile != "sd15":
        return None
    return str(folder / "checkpoints" / name / "controlnet")


def register_union_controlnet(model_id: str) -> None:
    """Declare `model_id` a union ControlNet (a ControlNetUnionModel checkpoint)."""
    _UNION_CONTROLNETS.add(model_id)


def is_union_controlnet(model_id: str) -> bool:
    """Whether `model_id` is declared a union ControlNet (the table above or a registration)."""
    return model_id in _UNION_CONTROLNETS


register_role(
    "sd.base",
    sd15="stable-diffusion-v1-5/stable-diffusion-v1-5",
    sdxl="stabilityai/stable-diffusion-xl-base-1.0",
    tiny="tiny/sd-base",
    description="full diffusers Stable Diffusion pipeline (unet, vae, text encoder, tokenizer,"
    " scheduler)",
)

# One ControlNet role per kind of control image, each filled by the model trained on that kind.
# (role, SD 1.5 model, SDXL model, what it is conditioned on); the tiny profile gives each role
# its own random weights (tiny/controlnet-<name>), so a control image sent to the wrong
# ControlNet changes the pixels. Which prior goes to which role: generate/routing.py.
CONTROLNET_MODELS: tuple[tuple[str, str, str, str], ...] = (
    ("controlnet.pose", "lllyasviel/control_v11p_sd15_openpose",
     "xinsir/controlnet-openpose-sdxl-1.0", "an OpenPose skeleton image"),
    ("controlnet.depth", "lllyasviel/control_v11f1p_sd15_depth",
     "diffusers/controlnet-depth-sdxl-1.0", "a depth map"),
    ("controlnet.segmentation", "lllyasviel/control_v11p_sd15_seg", _UNION_SDXL,
     "a colour-coded (ADE20K palette) segmentation map"),
    ("controlnet.canny", "lllyasviel/control_v11p_sd15_canny",
     "diffusers/controlnet-canny-sdxl-1.0", "Canny edges"),
    ("controlnet.lineart", "lllyasviel/control_v11p_sd15_lineart", _UNION_SDXL, "line art"),
    ("controlnet.softedge", "lllyasviel/control_v11p_sd15_softedge", _UNION_SDXL,
     "soft edges (HED, PiDiNet)"),
    ("controlnet.scribble", "lllyasviel/control_v11p_sd15_scribble", _UNION_SDXL,
     "scribbles (thick binary strokes)"),
    ("controlnet.mlsd", "lllyasviel/control_v11p_sd15_mlsd", _UNION_SDXL,
     "M-LSD straight line segments"),
)  # fmt: skip

for _role, _sd15, _sdxl, _what in CONTROLNET_MODELS:
    register_role(
        _role,
        sd15=_sd15,
        sdxl=_sdxl,
        tiny=f"tiny/controlnet-{_role.removeprefix('controlnet.')}",
        description=f"ControlNet conditioned on {_what}",
    )
