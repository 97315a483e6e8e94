"""What a generation is asked for (`GenerationRequest`), what it makes (`Candidate`), and how each
candidate was made (`Recipe`): everything needed to draw the same pixels again."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from image_interpreter.generate.guidance.record import GuidanceUse
from image_interpreter.priors.schema import PriorSet, Sha256

Mode = Literal["combined", "per_prior", "img2img", "inpaint"]
MODES: tuple[Mode, ...] = ("combined", "per_prior", "img2img", "inpaint")
ControlKind = Literal["people", "depth", "segmentation", "edges"]
MAX_SEED = 2**63 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED - 64)]


class GenerationRequest(BaseModel):
    """Draw candidates from a PriorSet. Unset numbers come from `priors.generation`.

    - combined: text-to-image with every enabled control prior at once (MultiControlNet);
    - per_prior: one set of candidates per enabled control prior, and one from the text alone;
    - img2img: from the source image, moved by `strength`, under the enabled control priors;
    - inpaint: repaint the objects marked replace or remove, keeping the rest of the source.
    """

    model_config = ConfigDict(extra="forbid")

    priors: PriorSet
    mode: Mode = "combined"
    candidates: int | None = Field(None, ge=1, le=64, description="Images per set.")
    seed: Seed | None = Field(None, description="Candidate i gets seed + i. None: the priors'.")
    steps: int | None = Field(None, ge=1, le=200)
    guidance: float | None = Field(None, ge=0.0, le=30.0)
    strength: float | None = Field(
        None, ge=0.0, le=1.0, description="img2img: the priors' strength; inpaint: 1.0."
    )
    width: int | None = Field(None, ge=64, le=4096)
    height: int | None = Field(None, ge=64, le=4096)
    kinds: list[ControlKind] | None = Field(
        None, description="Only these enabled control priors (None: all; []: text only)."
    )
    prompt: str | None = Field(None, description="Replaces the prompt built from the captions.")
    negative_prompt: str | None = Field(
        None, description="Replaces the negative prompt built from the captions and objects."
    )
    scheduler: str | None = Field(
        None, description="A diffusers scheduler class name (None: the model's own)."
    )
    scheduler_config: dict[str, JsonValue] | None = Field(
        None, description="The scheduler's config (None: the model's)."
    )
    guided_steps: list[int] | None = Field(
        None,
        description="Prior guidance only at these 0-based steps (a recipe's); None: where the"
        " priors' guides say.",
    )


class ControlUse(BaseModel):
    """One ControlNet in a candidate's recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ControlKind
    role: str
    model_id: str
    weight: float
    start: float
    end: float
    prior_digest: str = Field(description="Hash of what the prior draws (its control image).")
    control_mode: int | None = Field(
        None, ge=0, description="The control type a union ControlNet ran in (SDXL); else None."
    )


class InpaintUse(BaseModel):
    """What an inpainting candidate repainted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replaced: list[int] = Field(default_factory=list, description="Object indices replaced.")
    removed: list[int] = Field(default_factory=list, description="Object indices removed.")
    grow: int = Field(0, ge=0, description="Pixels the mask was grown by.")
    overlay: bool = Field(True, description="Pixels outside the mask are the source's.")


class Recipe(BaseModel):
    """Everything needed to recreate one candidate: `Generator.regenerate(recipe, priors)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipe_version: Literal[1] = 1
    mode: Mode
    label: str = Field(description="'combined', 'img2img', 'inpaint', 'text' or a prior kind.")
    pipeline: str = Field(description="The diffusers pipeline class that drew it.")
    base_pipeline: str | None = Field(
        None,
        description="The base model's pipeline class (StableDiffusionPipeline,"
        " StableDiffusionXLPipeline); None in recipes from before it was recorded.",
    )
    source_sha256: Sha256
    priors_version: int
    priors_sha256: Sha256 = Field(description="sha256 of the PriorSet's JSON.")
    prompt: str
    negative_prompt: str
    prompt_chunks: int = Field(ge=1, description="77-token windows the prompt was encoded in.")
    model_ids: dict[str, str] = Field(description="Model role -> id, base and ControlNets.")
    controls: list[ControlUse] = Field(default_factory=list)
    inpaint: InpaintUse | None = None
    seed: int = Field(description="This candidate's seed (base_seed + index).")
    base_seed: int
    index: int = Field(ge=0, description="Position in its set.")
    width: int
    height: int
    steps: int
    guidance: float
    strength: float | None = None
    scheduler: str
    scheduler_config: dict[str, JsonValue]
    profile: str
    device: str
    dtype: str
    diffusers_version: str
    torch_version: str
    batch: int = Field(ge=1, description="Images in the pipeline call that drew it.")
    batch_first: int = Field(
        0, ge=0, description="Index (in its set) of the first image of that call."
    )
    cpu_offload: bool = False
    custom_inputs: list[str] = Field(
        default_factory=list,
        description="Inputs given directly ('latents', 'embeddings'): the seed alone does not"
        " recreate it.",
    )
    prior_guidance: GuidanceUse | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="Prior guidance during sampling, with the steps it guided; None: none.",
    )

    def request(self, priors: PriorSet, *, exact: bool = False) -> GenerationRequest:
        """The request that draws this candidate again from `priors`: alone, or with `exact`,
        in the same batch as before (the candidate is then image `index - batch_first`)."""
        return GenerationRequest(
            priors=priors,
            mode="combined" if self.mode == "per_prior" else self.mode,
            candidates=self.batch if exact else 1,
            seed=self.base_seed + self.batch_first if exact else self.seed,
            steps=self.steps,
            guidance=self.guidance,
            strength=self.strength,
            width=self.width,
            height=self.height,
            kinds=[c.kind for c in self.controls],
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            scheduler=self.scheduler,
            scheduler_config=self.scheduler_config,
            guided_steps=list(self.prior_guidance.guided_steps) if self.prior_guidance else None,
        )


class Candidate(BaseModel):
    """One generated image with its seed and recipe. The image is not serialised."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    image: Image.Image = Field(exclude=True, repr=False)
    index: int = Field(ge=0, description="Position in the request's list of candidates.")
    label: str
    seed: int
    recipe: Recipe

    def recipe_json(self, **kwargs: Any) -> str:
        return self.recipe.model_dump_json(**kwargs)


def priors_sha256(priors: PriorSet) -> str:
    """sha256 of a PriorSet's compact JSON: what a recipe records to recognise its priors."""
    import hashlib

    return hashlib.sha256(priors.model_dump_json().encode()).hexdigest()
