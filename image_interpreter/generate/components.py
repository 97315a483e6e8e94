"""One Stable Diffusion base per profile, shared by every pipeline variant and every ControlNet.

The base (UNet, VAE, text encoder(s), tokenizer(s), scheduler) loads once; the text-to-image,
img2img and inpainting pipelines, with or without ControlNets, are views of it made with
`from_pipe`, so they hold the same module objects and no extra weights. ControlNets load the first
time a prior kind needs one and are kept; several combine as a MultiControlNet.

SD 1.x/2.x and SDXL bases: the base's `model_index.json` names its pipeline class, and an SDXL
base (`StableDiffusionXLPipeline`) gets the XL variants. On SDXL a ControlNet the model table
declares a union model (xinsir's ControlNet++; `models.registry.is_union_controlnet`; for an
override not in the table, its config naming `ControlNetUnionModel` or a `num_control_type`) is
loaded as one, once per model id whatever the number of roles pointing at it, and runs in the
control mode of each prior (`routing.union_mode`). Checkpoints whose weights contradict what
they are declared as (union weights loaded as plain, or the reverse) are refused. Sets of union
models only use diffusers' union pipelines (`control_mode` per image); a set mixing union and
ordinary ControlNets uses the ordinary XL pipeline, each union model wrapped to run in its one
mode as a ControlNetModel does.

`shared_components(settings)` hands every Generator of a process the same Components for the
same base model, device and dtype.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from image_interpreter.generate import sdxl_tiny as _sdxl_tiny  # noqa: F401 (tiny SDXL models)
from image_interpreter.generate.config import GenerationConfig, config_for
from image_interpreter.generate.errors import GenerationError
from image_interpreter.generate.prompt import PromptEncoder, XLPromptEncoder
from image_interpreter.generate.routing import control_role, union_mode  # noqa: F401 (re-exported)
from image_interpreter.models import load_pretrained, model_id, resolve_device, resolve_dtype
from image_interpreter.models.registry import is_union_controlnet
from image_interpreter.models.tiny import is_tiny
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch
    from diffusers import (
        ControlNetModel,
        ControlNetUnionModel,
        DiffusionPipeline,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    ControlNet = ControlNetModel | ControlNetUnionModel
    BasePipeline = StableDiffusionPipeline | StableDiffusionXLPipeline

Variant = Literal["text", "img2img", "inpaint"]


def takes_control_modes(pipe: DiffusionPipeline) -> bool:
    """Whether `pipe` is one of SDXL's union pipelines (a `control_mode` per control image)."""
    from diffusers import ControlNetUnionModel
    from diffusers.models import MultiControlNetUnionModel  # not exported at the top

    net = getattr(pipe, "controlnet", None)
    return isinstance(net, (ControlNetUnionModel, MultiControlNetUnionModel))


_PIPELINES: dict[tuple[Variant, bool], str] = {
    ("text", False): "StableDiffusionPipeline",
    ("text", True): "StableDiffusionControlNetPipeline",
    ("img2img", False): "StableDiffusionImg2ImgPipeline",
    ("img2img", True): "StableDiffusionControlNetImg2ImgPipeline",
    ("inpaint", False): "StableDiffusionInpaintPipeline",
    ("inpaint", True): "StableDiffusionControlNetInpaintPipeline",
}
_XL_PIPELINES: dict[tuple[Variant, bool], str] = {
    ("text", False): "StableDiffusionXLPipeline",
    ("text", True): "StableDiffusionXLControlNetPipeline",
    ("img2img", False): "StableDiffusionXLImg2ImgPipeline",
    ("img2img", True): "StableDiffusionXLControlNetImg2ImgPipeline",
    ("inpaint", False): "StableDiffusionXLInpaintPipeline",
    ("inpaint", True): "StableDiffusionXLControlNetInpaintPipeline",
}
_XL_UNION_PIPELINES: dict[Variant, str] = {
    "text": "StableDiffusionXLControlNetUnionPipeline",
    "img2img": "StableDiffusionXLControlNetUnionImg2ImgPipeline",
    "inpaint": "StableDiffusionXLControlNetUnionInpaintPipeline",
}


class Components:
    """The base pipeline, the ControlNets loaded so far, the pipeline variants, the text encoder's
    embedding cache; all for one (settings profile, device, dtype)."""

    def __init__(self, settings: Settings, config: GenerationConfig | None = None):
        self.settings = settings
        self.config = config or config_for(settings)
        self.device = resolve_device(settings)
        self.dtype = resolve_dtype(settings, self.device)
        self.base_id = model_id("sd.base", settings)
        self._lock = threading.RLock()
        self._base: BasePipeline | None = None
        self._scheduler: Any = None  # the model's own, kept: calls set their own on pipelines
        self._prompts: PromptEncoder | None = None
        self._controlnets: dict[str, ControlNet] = {}
        self._unions: dict[str, ControlNetUnionModel] = {}  # by model id: one for all its roles
        self._variants: dict[tuple[Any, ...], DiffusionPipeline] = {}
        self._offloaded: DiffusionPipeline | None = None  # holds the offload hooks now
        self._placement: dict[str, torch.device] = {}  # where modules were before offload
        self._fits: dict[tuple[Any, ...], tuple[int, bool]] = {}  # what fitted after an OOM

    # --- loading ---------------------------------------------------------------------------

    @property
    def base(self) -> BasePipeline:
        """The base text-to-image pipeline, loaded on first use."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    base = self._load_base()
                    self._scheduler = base.scheduler
                    self._base = base
        return self._base

    @property
    def is_xl(self) -> bool:
        """Whether the base is an SDXL pipeline (two text encoders, pooled text embeddings)."""
        from diffusers import StableDiffusionXLPipeline

        return isinstance(self.base, StableDiffusionXLPipeline)

    def _load_base(self) -> BasePipeline:
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        index = load_pretrained(_ModelIndex, "sd.base", self.settings)
        xl = "XL" in str(index.get("_class_name", ""))  # StableDiffusionXL*Pipeline
        with _quiet_dtype_warning():
            if xl:
                pipe = load_pretrained(
                    StableDiffusionXLPipeline, "sd.base", self.settings, torch_dtype=self.dtype
                )
            else:
                pipe = load_pretrained(
                    StableDiffusionPipeline, "sd.base", self.settings, torch_dtype=self.dtype,
                    safety_checker=None, requires_safety_checker=False,
                )  # fmt: skip
        if not xl and getattr(pipe.unet.config, "addition_embed_type", None) == "text_time":
            raise GenerationError(
                f"'{self.base_id}' has an SDXL UNet but its model_index.json names"
                f" {index.get('_class_name')}; fix the model folder or choose another 'sd.base'."
            )
        if xl and (pipe.text_encoder is None or pipe.tokenizer is None):
            raise GenerationError(
                f"'{self.base_id}' has one text encoder (an SDXL refiner?); the generator needs an"
                " SDXL base with both. Choose another 'sd.base' model."
            )
        if xl:
            _quiet_fp32_warning()
        pipe.set_progress_bar_config(disable=True)
        if not self.config.cpu_offload:
            pipe.to(self.device)
        self._prepare(pipe.unet)
        if self.config.compile_unet:
            pipe.unet.compile()  # in place: the same module object, shared by every variant
        return pipe

    def controlnet(self, role: str) -> ControlNet:
        """The ControlNet for `role`, loaded once and kept (a union model once per model id)."""
        found = self._controlnets.get(role)
        if found is not None:
            return found
        with self._lock:
            found = self._controlnets.get(role)
            if found is None:
                union = self.is_union(role)
                chosen = model_id(role, self.settings)
                found = self._unions.get(chosen) if union else None
                if found is None:
                    found = self._load_controlnet(role, chosen, union)
                    if union:
                        self._unions[chosen] = found
                self._controlnets[role] = found
        return found

    def _load_controlnet(self, role: str, chosen: str, union: bool) -> ControlNet:
        """`role`'s ControlNet as the class it is declared to be, refused when its weights say
        otherwise (diffusers only warns, and a union model loaded plain ignores its mode)."""
        from diffusers import ControlNetModel, ControlNetUnionModel

        loader = ControlNetUnionModel if union else ControlNetModel
        with _quiet_dtype_warning(), _quiet_loading_report():
            found, info = load_pretrained(
                loader, role, self.settings, torch_dtype=self.dtype, output_loading_info=True
            )
        union_keys = sorted(
            {key.split(".")[0] for key in info["missing_keys"] + info["unexpected_keys"]}
            & _UNION_ONLY
        )
        if union_keys:
            declared, actual = ("union", "plain") if union else ("plain", "union")
            raise GenerationError(
                f"'{chosen}' (role '{role}') is declared a {declared} ControlNet but its weights"
                f" are a {actual} one's ({', '.join(union_keys)}"
                f" {'missing' if union else 'present'}). "
                + (
                    "Use a union checkpoint for it, or a model not declared union."
                    if union
                    else "Declare it a union model (models.registry.register_union_controlnet,"
                    ' or \'"_class_name": "ControlNetUnionModel"\' in its config.json).'
                )
            )
        found.eval()
        if not self.config.cpu_offload:
            found.to(self.device)
        self._prepare(found)
        return found

    def is_union(self, role: str) -> bool:
        """Whether `role`'s ControlNet is a union model: the model table says so (an override
        not in it: its config names ControlNetUnionModel or a num_control_type). Union models
        are SDXL's; one on another base is refused."""
        chosen = model_id(role, self.settings)
        union = is_union_controlnet(chosen)
        if not union and not is_tiny(chosen) and chosen in _overridden(self.settings):
            union = _is_union_config(load_pretrained(_ControlNetConfig, role, self.settings))
        if union and not self.is_xl:
            raise GenerationError(
                f"'{chosen}' (role '{role}') is a union ControlNet, for SDXL bases only; the base"
                f" '{self.base_id}' is not SDXL. Choose a ControlNet for this base."
            )
        return union

    @property
    def loaded_controlnets(self) -> dict[str, ControlNet]:
        return dict(self._controlnets)

    def _prepare(self, module: torch.nn.Module) -> None:
        import torch

        wanted = self.config.channels_last
        if wanted is None:
            wanted = self.device.type == "cuda"
        if wanted:
            module.to(memory_format=torch.channels_last)

    # --- pipelines -------------------------------------------------------------------------

    def pipeline(
        self,
        variant: Variant,
        roles: tuple[str, ...] = (),
        modes: tuple[int | None, ...] | None = None,
    ) -> DiffusionPipeline:
        """The pipeline for `variant` with the ControlNets of `roles` (in order), made once.

        `modes`, one per role, are the control modes of union ControlNets (None for others); a
        union model beside ordinary ControlNets runs in its mode given here, while the union
        pipelines take the modes with each call."""
        modes = tuple(modes) if modes is not None else (None,) * len(roles)
        if len(modes) != len(roles):
            raise GenerationError(f"{len(roles)} ControlNet roles but {len(modes)} control modes.")
        key = (variant, tuple(roles), modes)
        found = self._variants.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._variants.get(key)
            if found is None:
                found = self._make(variant, key[1], modes)
                self._variants[key] = found
        return found

    def _make(
        self, variant: Variant, roles: tuple[str, ...], modes: tuple[int | None, ...]
    ) -> DiffusionPipeline:
        import diffusers
        from diffusers.utils import logging as diffusers_logging

        base = self.base
        if variant == "text" and not roles:
            return base
        extra: dict[str, Any] = {}
        if self.is_xl:
            name, extra = self._xl_variant(variant, roles, modes)
        else:
            name = _PIPELINES[(variant, bool(roles))]
            if roles:
                nets = [self.controlnet(role) for role in roles]
                if len(nets) == 1:
                    extra["controlnet"] = nets[0]
                else:
                    extra["controlnet"] = diffusers.MultiControlNetModel(nets)
        cls = getattr(diffusers, name)
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

    def _xl_variant(
        self, variant: Variant, roles: tuple[str, ...], modes: tuple[int | None, ...]
    ) -> tuple[str, dict[str, Any]]:
        """The SDXL pipeline class name for `variant` and its ControlNet argument."""
        import diffusers
        from diffusers.models import MultiControlNetUnionModel  # not exported at the top

        if not roles:
            return _XL_PIPELINES[(variant, False)], {}
        nets = [self.controlnet(role) for role in roles]
        unions = [isinstance(net, diffusers.ControlNetUnionModel) for net in nets]
        if all(unions):
            single = len(nets) == 1
            net = nets[0] if single else MultiControlNetUnionModel(nets)
            return _XL_UNION_PIPELINES[variant], {"controlnet": net}
        wrapped: list[Any] = []
        for role, net, union, mode in zip(roles, nets, unions, modes, strict=True):
            if not union:
                wrapped.append(net)
                continue
            count = int(net.config.num_control_type)
            if mode is None or not 0 <= mode < count:
                raise GenerationError(
                    f"The union ControlNet of {role} needs a control mode below {count}, not"
                    f" {mode}."
                )
            wrapped.append(_fixed_mode_union()(net, mode))
        net = wrapped[0] if len(wrapped) == 1 else diffusers.MultiControlNetModel(wrapped)
        return _XL_PIPELINES[(variant, True)], {"controlnet": net}

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
        """The chunked, cached text encoder(s) of the base."""
        if self._prompts is None:
            with self._lock:
                if self._prompts is None:
                    base = self.base
                    key = f"{self.base_id}|{self.dtype}|{self.device}"
                    size = self.config.text_cache_size
                    if self.is_xl:
                        self._prompts = XLPromptEncoder(
                            (base.tokenizer, base.tokenizer_2),
                            (base.text_encoder, base.text_encoder_2),
                            key,
                            size,
                            zero_empty_negative=bool(
                                getattr(base.config, "force_zeros_for_empty_prompt", False)
                            ),
                        )
                    else:
                        self._prompts = PromptEncoder(base.tokenizer, base.text_encoder, key, size)
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
        (on a CPU). Hooks follow the pipeline in use, since the variants share modules. Where
        every module was is recorded first, for `restore`."""
        if not self.can_offload:
            return False
        if self._offloaded is not pipe:
            if self._offloaded is None:
                self._placement = self.device_map()
            pipe.enable_model_cpu_offload(device=self.device)
            self._offloaded = pipe
        return True

    def restore(self) -> None:
        """Undo `offload`: no hooks anywhere, every module back where it was before. Where the
        device has no room for them all (the memory that made offload necessary is still in
        use), the pipeline stays offloaded and a later call restores it."""
        if self._offloaded is None:
            return
        import torch
        from accelerate.hooks import remove_hook_from_module

        with self._lock:
            pipe = self._offloaded
            try:
                for variant in [self.base, *self._variants.values()]:
                    variant.remove_all_hooks()
                for name, module in self._modules().items():
                    remove_hook_from_module(module, recurse=True)
                    module.to(self._placement.get(name, self.device))
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if "out of memory" not in str(exc).lower():
                    raise
                for module in self._modules().values():
                    module.to("cpu")
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                pipe.enable_model_cpu_offload(device=self.device)
                return
            self._offloaded = None
            self._placement = {}

    def device_map(self) -> dict[str, torch.device]:
        """Where each module of the base and each loaded ControlNet is (its first parameter)."""
        return {
            name: next(module.parameters()).device
            for name, module in self._modules().items()
            if any(True for _ in module.parameters())
        }

    def _modules(self) -> dict[str, torch.nn.Module]:
        import torch

        found = {
            name: module
            for name, module in self.base.components.items()
            if isinstance(module, torch.nn.Module)
        }
        return found | dict(self._controlnets)

    def memory_fit(self, key: tuple[Any, ...]) -> tuple[int, bool] | None:
        """(batch, offload) that fitted for `key` after running out of memory, if it did."""
        return self._fits.get(key)

    def remember_fit(self, key: tuple[Any, ...], batch: int, offload: bool) -> None:
        """After an out-of-memory error: later calls for `key` start at this batch size."""
        self._fits[key] = (batch, offload)


@contextmanager
def _quiet_dtype_warning() -> Iterator[None]:
    """Newer diffusers renamed torch_dtype to dtype and warn; older ones know only torch_dtype."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
        yield


class _ModelIndex:
    """`from_pretrained` that reads a pipeline's model_index.json (to pick its class)."""

    @classmethod
    def from_pretrained(cls, target: Any, **kwargs: Any) -> dict[str, Any]:
        from diffusers import DiffusionPipeline

        return dict(DiffusionPipeline.load_config(target, **kwargs))


class _ControlNetConfig:
    """`from_pretrained` that reads a ControlNet's config.json (to pick its class)."""

    @classmethod
    def from_pretrained(cls, target: Any, **kwargs: Any) -> dict[str, Any]:
        from diffusers import ControlNetModel

        return dict(ControlNetModel.load_config(target, **kwargs))


def _is_union_config(config: dict[str, Any]) -> bool:
    """An override declares itself a union ControlNet by diffusers' class name, or as xinsir's
    checkpoints do: a config saying ControlNetModel but carrying the number of control types."""
    return config.get("_class_name") == "ControlNetUnionModel" or "num_control_type" in config


# Top-level modules only a ControlNetUnionModel has (its control-type transformer and embeddings).
_UNION_ONLY = frozenset(
    {
        "task_embedding",
        "transformer_layes",
        "spatial_ch_projs",
        "control_type_proj",
        "control_add_embedding",
    }
)


def _overridden(settings: Settings) -> set[str]:
    return {chosen for chosen in settings.models.values() if chosen}


@contextmanager
def _quiet_loading_report() -> Iterator[None]:
    """diffusers logs missing and unexpected weights; the loading info is checked instead."""
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(level)


@cache
def _fixed_mode_union() -> type:
    """The class of a union ControlNet in one control mode, called as a ControlNetModel is."""
    import torch

    class FixedModeUnion(torch.nn.Module):
        """A ControlNetUnionModel running one control mode, with the ControlNetModel call, so it
        sits in a MultiControlNetModel beside ordinary ControlNets. Its output equals the union
        pipelines' for one image in that mode (the control type one-hot, the scale applied to
        the residuals)."""

        def __init__(self, union: ControlNetUnionModel, mode: int):
            super().__init__()
            self.union = union
            self.mode = mode

        @property
        def config(self) -> Any:
            return self.union.config

        def forward(
            self,
            sample: torch.Tensor,
            timestep: Any,
            encoder_hidden_states: torch.Tensor,
            controlnet_cond: torch.Tensor,
            conditioning_scale: float = 1.0,
            class_labels: torch.Tensor | None = None,
            timestep_cond: torch.Tensor | None = None,
            attention_mask: torch.Tensor | None = None,
            added_cond_kwargs: dict[str, torch.Tensor] | None = None,
            cross_attention_kwargs: dict[str, Any] | None = None,
            guess_mode: bool = False,
            return_dict: bool = True,
        ) -> Any:
            control_type = torch.zeros(
                sample.shape[0],
                int(self.union.config.num_control_type),
                device=sample.device,
                dtype=encoder_hidden_states.dtype,
            )
            control_type[:, self.mode] = 1
            return self.union(
                sample,
                timestep,
                encoder_hidden_states=encoder_hidden_states,
                controlnet_cond=[controlnet_cond],
                control_type=control_type,
                control_type_idx=[self.mode],
                conditioning_scale=[float(conditioning_scale)],
                class_labels=class_labels,
                timestep_cond=timestep_cond,
                attention_mask=attention_mask,
                added_cond_kwargs=added_cond_kwargs,
                cross_attention_kwargs=cross_attention_kwargs,
                from_multi=True,
                guess_mode=guess_mode,
                return_dict=return_dict,
            )

    return FixedModeUnion


class _NothingToKeepInFloat32(logging.Filter):
    """Drops diffusers' warning that a model cast with `to(dtype)` has modules to keep in float32
    when the list of such modules is empty: the SDXL img2img and inpainting pipelines cast their
    VAE on every call, and the warning is then about nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []." not in record.getMessage()


def _quiet_fp32_warning() -> None:
    found = logging.getLogger("diffusers.models.modeling_utils")
    if not any(isinstance(f, _NothingToKeepInFloat32) for f in found.filters):
        found.addFilter(_NothingToKeepInFloat32())


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
