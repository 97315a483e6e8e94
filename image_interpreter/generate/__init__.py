"""Generation: one Stable Diffusion base shared by every ControlNet, candidates, inpainting,
upscaling and interpolation. Must not parse language or import `extract`.

    generator = Generator(settings)
    candidates = generator.generate(
        GenerationRequest(priors=priors, mode="combined", candidates=4),
        read_artifact=session.read_artifact,
        progress=lambda step, total, preview: ...,
    )
    record = store_candidates(session, priors.version, candidates)
"""

from image_interpreter.lazy import lazy_exports

_EXPORTS = {
    "Components": "components",
    "clear_shared_components": "components",
    "shared_components": "components",
    "GenerationConfig": "config",
    "config_for": "config",
    "GenerationCancelled": "errors",
    "GenerationError": "errors",
    "Generator": "generator",
    "ProgressCallback": "generator",
    "is_out_of_memory": "generator",
    "latent_preview": "preview",
    "PromptEmbeddings": "prompt",
    "PromptEncoder": "prompt",
    "build_negative": "prompt",
    "build_prompt": "prompt",
    "MODES": "request",
    "Candidate": "request",
    "ControlUse": "request",
    "GenerationRequest": "request",
    "InpaintUse": "request",
    "Mode": "request",
    "Recipe": "request",
    "priors_sha256": "request",
    "control_role": "routing",
    "routing_table": "routing",
    "union_mode": "routing",
    "recipe_from_record": "store",
    "store_candidates": "store",
}

__all__ = [
    "MODES",
    "Candidate",
    "Components",
    "ControlUse",
    "GenerationCancelled",
    "GenerationConfig",
    "GenerationError",
    "GenerationRequest",
    "Generator",
    "InpaintUse",
    "Mode",
    "ProgressCallback",
    "PromptEmbeddings",
    "PromptEncoder",
    "Recipe",
    "build_negative",
    "build_prompt",
    "clear_shared_components",
    "config_for",
    "control_role",
    "is_out_of_memory",
    "latent_preview",
    "priors_sha256",
    "recipe_from_record",
    "routing_table",
    "shared_components",
    "store_candidates",
    "union_mode",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
