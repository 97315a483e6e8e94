"""One Stable Diffusion base per profile, shared by every pipeline variant and every ControlNet.

The base (UNet, VAE, text encoder, tokenizer, scheduler) loads once; the text-to-image, img2img and
inpainting pipelines, with or without ControlNets, are views of it made with `from_pipe`, so
they hold the same module objects and no extra weights. ControlNets load the first time a prior
kind needs one and are kept; several combine as a MultiControlNet.

`shared_components(settings)` hands every Generator of a process the same Components for the
same base model, device and dtype.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from image_interpreter.generate.config import GenerationConfig, config_for
from image_interpreter.generate.errors import GenerationError
from image_interpreter.generate.prompt import PromptEncoder
from image_interpreter.models import load_pretrained, model_id, resolve_device, resolve_dtype
from image_interpreter.priors.schema import Prior
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel, DiffusionPipeline, StableDiffusionPipeline

Variant = Literal["text", "img2img", "inpaint"]

CONTROL_ROLES: dict[str, str] = {
    "people": "controlnet.pose",
    "depth": "controlnet.depth",
    "segmentation": "controlnet.segmentation",
}
_EDGE_ROLES = {"canny": "controlnet.canny"}  # every other edge method: line art


def control_role(kind: str, prior: Prior) -> str:
    """The ControlNet role for a prior: edges go to Canny or line art by their method."""
    if kind == "edges":
        return _EDGE_ROLES.get(getattr(prior, "method", "canny"), "controlnet.lineart")
    try:
        return CONTROL_ROLES[kind]
    except KeyError:
        raise GenerationError(f"'{kind}' priors have no ControlNet.") from None


_PIPELINES: dict[tuple[Variant, bool], str] = {
    ("text", False): "StableDiffusionPipeline",
    ("text", True): "StableDiffusionControlNetPipeline",
    ("img2img", False): "StableDiffusionImg2ImgPipeline",
    ("img2img", True): "StableDiffusionControlNetImg2ImgPipeline",
    ("inpaint", False): "StableDiffusionInpaintPipeline",
    ("inpaint", True): "StableDiffusionControlNetInpaintPipeline",
}


class Components:
    """The base pipeline, the ControlNets loaded so far, the pipeline variants, the text encoder's
    embedding cache; all for one (settings profile, device, dtype)."""

    def __init__(self, settings: Settings, config: GenerationConfig | None = None):
        if settings.profile == "sdxl":
            raise GenerationError(
                "The generator supports Stable Diffusion 1.x/2.x bases (profiles sd15 and tiny);"
                " SDXL pipelines are not wired up yet. Use IMAGE_INTERPRETER_PROFILE=sd15."
            )
        self.settings = settings
        self.config = config or config_for(settings)
        self.device = resolve_device(settings)
        self.dtype = resolve_dtype(settings, self.device)
        self.base_id = model_id("sd.base", settings)
        self._lock = threading.RLock()
        self._base: StableDiffusionPipeline | None = None
        self._scheduler: Any = None  # the model's own, kept: calls set their own on pipelines
        self._prompts: PromptEncoder | None = None
        self._controlnets: dict[str, ControlNetModel] = {}
        self._variants: dict[tuple[Variant, tuple[str, ...]], DiffusionPipeline] = {}
        self._offloaded: DiffusionPipeline | None = None  # holds the offload hooks now

    # --- loading ---------------------------------------------------------------------------

    @property
    def base(self) -> StableDiffusionPipeline:
        """The base text-to-image pipeline, loaded on first use."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    base = self._load_base()
                    self._scheduler = base.scheduler
                    self._base = base
        return self._base

    def _load_base(self) -> StableDiffusionPipeline:
        from diffusers import StableDiffusionPipeline

        with _quiet_dtype_warning():
            pipe = load_pretrained(
                StableDiffusionPipeline, "sd.base", self.settings, torch_dtype=self.dtype,
                safety_checker=None, requires_safety_checker=False,
            )  # fmt: skip
        if getattr(pipe.unet.config, "addition_embed_type", None) == "text_time":
            raise GenerationError(
                f"'{self.base_id}' is an SDXL model; the generator supports Stable Diffusion"
                " 1.x/2.x bases. Choose another 'sd.base' model or profile."
            )
        pipe.set_progress_bar_config(disable=True)
        if not self.config.cpu_offload:
            pipe.to(self.device)
        self._prepare(pipe.unet)
        if self.config.compile_unet:
            pipe.unet.compile()  # in place: the same module object, shared by every variant
        return pipe

    def controlnet(self, role: str) -> ControlNetModel:
        """The ControlNet for `role`, loaded once and kept."""
        found = self._controlnets.get(role)
        if found is not None:
            return found
        from diffusers import ControlNetModel

        with self._lock:
            found = self._controlnets.get(role)
            if found is None:
                with _quiet_dtype_warning():
                    found = load_pretrained(
                        ControlNetModel, role, self.settings, torch_dtype=self.dtype
                    )
                found.eval()
                if not self.config.cpu_offload:
                    found.to(self.device)
                self._prepare(found)
                self._controlnets[role] = found
        return found

    @property
    def loaded_controlnets(self) -> dict[str, ControlNetModel]:
        return dict(self._controlnets)

    def _prepare(self, module: torch.nn.Module) -> None:
        import torch

        wanted = self.config.channels_last
        if wanted is None:
            wanted = self.device.type == "cuda"
        if wanted:
            module.to(memory_format=torch.channels_last)

    # --- pipelines -------------------------------------------------------------------------

    def pipeline(self, variant: Variant, roles: tuple[str, ...] = ()) -> DiffusionPipeline:
        """The pipeline for `variant` with the ControlNets of `roles` (in order), made once."""
        key = (variant, tuple(roles))
        found = self._variants.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._variants.get(key)
            if found is None:
                found = self._make(variant, key[1])
                self._variants[key] = found
        return found

    def _make(self, variant: Variant, roles: tuple[str, ...]) -> DiffusionPipeline:
        import diffusers
        from diffusers.utils import logging as diffusers_logging

        base = self.base
        if variant == "text" and not roles:
            return base
        cls = getattr(diffusers, _PIPELINES[(variant, bool(roles))])
        extra: dict[str, Any] = {}
        if roles:
            nets = [self.controlnet(role) for role in roles]
            if len(nets) == 1:
                extra["controlnet"] = nets[0]
            else:
                extra["controlnet"] = diffusers.MultiControlNetModel(nets)
        level = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # from_pipe's casts warn about nothing here
        try:
            # torch_dtype: from_pipe casts every (shared) module to it, float32 by default.
            with _quiet_dtype_warning():
                pipe = cls.from_pipe(base, torch_dtype=self.dtype, **extra)
        finally:
            diffusers_logging.set_verbosity(level)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def scheduler(self, name: str | None = None, config: dict[str, Any] | None = None) -> Any:
        """A fresh scheduler (they keep per-call state): `name`'s class or the base's, from
        `config` or the base's."""
        import diffusers
        from diffusers import SchedulerMixin

        _ = self.base  # loads the model's scheduler with it
        current = self._scheduler
        cls = type(current) if name is None else getattr(diffusers, name, None)
        if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
            known = ", ".join(sorted(c.__name__ for c in current.compatibles))
            raise GenerationError(f"'{name}' is not a diffusers scheduler. Try one of: {known}.")
        return cls.from_config(config if config is not None else current.config)

    @property
    def prompts(self) -> PromptEncoder:
        """The chunked, cached text encoder of the base."""
        if self._prompts is None:
            with self._lock:
                if self._prompts is None:
                    base = self.base
                    self._prompts = PromptEncoder(
                        base.tokenizer,
                        base.text_encoder,
                        f"{self.base_id}|{self.dtype}|{self.device}",
                        self.config.text_cache_size,
                    )
        return self._prompts

    def model_ids(self, roles: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
        return {"sd.base": self.base_id, **{role: model_id(role, self.settings) for role in roles}}

    # --- memory ----------------------------------------------------------------------------

    def configure_vae(self, images: int, width: int, height: int) -> None:
        """Slicing for large batches, tiling for large images (settings or automatic)."""
        vae = self.base.vae
        cfg = self.config
        slicing = cfg.vae_slicing
        if slicing is None:
            slicing = images > 1 and images * width * height > cfg.vae_slicing_pixels
        tiling = cfg.vae_tiling
        if tiling is None:
            tiling = width * height > cfg.vae_tiling_pixels
        vae.enable_slicing() if slicing else vae.disable_slicing()
        vae.enable_tiling() if tiling else vae.disable_tiling()

    @property
    def can_offload(self) -> bool:
        return self.device.type != "cpu"

    def offload(self, pipe: DiffusionPipeline) -> bool:
        """Model CPU offload for `pipe`'s next calls; False where there is nothing to offload to
        (on a CPU). Hooks follow the pipeline in use, since the variants share modules."""
        if not self.can_offload:
            return False
        if self._offloaded is not pipe:
            pipe.enable_model_cpu_offload(device=self.device)
            self._offloaded = pipe
        return True

    def restore(self) -> None:
        """Undo `offload`: no hooks anywhere, every module back on the device."""
        if self._offloaded is None:
            return
        from accelerate.hooks import remove_hook_from_module

        with self._lock:
            for pipe in [self.base, *self._variants.values()]:
                pipe.remove_all_hooks()
            for net in self._controlnets.values():
                remove_hook_from_module(net, recurse=True)
                net.to(self.device)
            self.base.to(self.device)
            self._offloaded = None


@contextmanager
def _quiet_dtype_warning() -> Iterator[None]:
    """Newer diffusers renamed torch_dtype to dtype and warn; older ones know only torch_dtype."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
        yield


_SHARED: dict[tuple[Any, ...], Components] = {}
_SHARED_LOCK = threading.Lock()


def shared_components(settings: Settings, config: GenerationConfig | None = None) -> Components:
    """The process's Components for these settings' base model, device, dtype and config."""
    config = config or config_for(settings)
    device = resolve_device(settings)
    key = (
        settings.profile,
        model_id("sd.base", settings),
        tuple(sorted(settings.models.items())),
        str(device),
        str(resolve_dtype(settings, device)),
        str(settings.tiny_models_dir),
        str(settings.hf_cache_dir),
        config,
    )
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = Components(settings, config)
            _SHARED[key] = found
        return found


def clear_shared_components() -> None:
    """Forget the shared Components (their models are freed once nothing else holds them)."""
    with _SHARED_LOCK:
        _SHARED.clear()
