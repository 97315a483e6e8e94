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

from image_interpreter.generate.components import (
    Components,
    clear_shared_components,
    shared_components,
)
from image_interpreter.generate.config import GenerationConfig, config_for
from image_interpreter.generate.errors import GenerationCancelled, GenerationError
from image_interpreter.generate.generator import Generator, ProgressCallback, is_out_of_memory
from image_interpreter.generate.preview import latent_preview
from image_interpreter.generate.prompt import (
    PromptEmbeddings,
    PromptEncoder,
    build_negative,
    build_prompt,
)
from image_interpreter.generate.request import (
    MODES,
    Candidate,
    ControlUse,
    GenerationRequest,
    InpaintUse,
    Mode,
    Recipe,
    priors_sha256,
)
from image_interpreter.generate.routing import control_role, routing_table, union_mode
from image_interpreter.generate.store import recipe_from_record, store_candidates

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
