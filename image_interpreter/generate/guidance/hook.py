"""The sampling hook: at a guided step, predict the clean latent from the model output, decode
it, run every active term's loss, and move the clean latent down the gradient by rewriting the
model output the scheduler steps with (Universal Guidance's forward guidance, FreeDoM's
training-free energy step). No gradient goes through the UNet: the loss is a function of the
predicted clean latent alone. Any diffusers scheduler works, since only its input changes.

The step is per image: each term's loss is divided by its own (detached) value, so terms of
different scales pull comparably and a weight means the same thing for every prior; the summed
gradient is rescaled to unit RMS per image and the clean latent moves by `step_size` times the
active weights. The images of a batch never mix, so a candidate drawn alone is guided as in its
batch.

Out of memory in a guided step: that step runs unguided, and the hook guides every second
guided step from then on, then every fourth, ... then none, saying so each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from image_interpreter.generate.guidance.decode import LatentDecoder
from image_interpreter.generate.guidance.terms import Term

if TYPE_CHECKING:
    import torch

STEP_SIZE = 0.15  # RMS move of the clean latent per step, per unit of weight
MAX_MOVE = 1.0  # and never more than this (latents have about unit variance)


def clean_latent(scheduler: Any, output: torch.Tensor, timestep: Any, sample: torch.Tensor):
    """(predicted clean latent, d clean / d output) for a scheduler's step inputs."""
    import math

    prediction = scheduler.config.get("prediction_type", "epsilon")
    sigma_form = hasattr(scheduler, "sigmas") and float(scheduler.init_noise_sigma) > 1.0
    if sigma_form:  # Euler-like: sample = x0 + sigma * eps, unscaled
        index = scheduler.step_index
        if index is None:
            index = scheduler.index_for_timestep(timestep)
        sigma = float(scheduler.sigmas[index])
        if prediction == "epsilon":
            return sample - sigma * output, -sigma
        if prediction == "v_prediction":
            root = math.sqrt(sigma**2 + 1)
            return output * (-sigma / root) + sample / (sigma**2 + 1), -sigma / root
    else:  # DDPM-like: sample = sqrt(a) x0 + sqrt(1 - a) eps
        alpha = float(scheduler.alphas_cumprod[int(timestep)])
        a, b = math.sqrt(alpha), math.sqrt(1.0 - alpha)
        if prediction == "epsilon":
            return (sample - b * output) / a, -b / a
        if prediction == "v_prediction":
            return a * sample - b * output, -b
    if prediction == "sample":
        return output, 1.0
    raise ValueError(f"guidance cannot read a {type(scheduler).__name__} with {prediction!r}")


class GuidedSampling:
    """Installed on one pipeline call's scheduler (`attach`); `guided` lists the steps it
    guided. `only` restricts guidance to those steps (a recipe's)."""

    def __init__(
        self,
        terms: list[Term],
        decoder: LatentDecoder,
        *,
        step_size: float = STEP_SIZE,
        only: list[int] | None = None,
        notes: Callable[[str], None] | None = None,
        is_oom: Callable[[BaseException], bool] | None = None,
        free: Callable[[], None] | None = None,
    ):
        self.terms = terms
        self.decoder = decoder
        self.step_size = step_size
        self.only = None if only is None else set(only)
        self.notes = notes
        self.is_oom = is_oom or (lambda exc: False)
        self.free = free or (lambda: None)
        self.stride = 1  # grows on out-of-memory
        self.fallback: str | None = None
        self.guided: list[int] = []
        self._scheduler: Any = None
        self._calls = 0
        self._planned = 0

    def attach(self, scheduler: Any) -> None:
        """Guide the next call that uses `scheduler` (a fresh one per call)."""
        self._scheduler = scheduler
        self._calls = 0
        self.guided = []
        self._planned = 0
        inner = scheduler.step

        def step(model_output: Any, timestep: Any, sample: Any, *args: Any, **kwargs: Any):
            order = max(int(getattr(scheduler, "order", 1)), 1)
            index = self._calls // order
            self._calls += 1
            total = max(len(scheduler.timesteps) // order, 1)
            model_output = self.guide(model_output, timestep, sample, index, total)
            return inner(model_output, timestep, sample, *args, **kwargs)

        scheduler.step = step  # this call's scheduler only: the pipeline sets a fresh one next

    def guide(self, output: Any, timestep: Any, sample: Any, index: int, total: int) -> Any:
        terms = [term for term in self.terms if term.runs_at(index, total)]
        if self.only is None and terms:
            self._planned += 1
            terms = terms if (self._planned - 1) % self.stride == 0 else []
        elif self.only is not None and index not in self.only:
            terms = []
        if not terms:
            return output
        began = time.perf_counter()
        try:
            moved = self._move(output, timestep, sample, terms)
        except FloatingPointError as exc:
            self._note(f"step {index + 1}/{total}: not guided ({exc})")
            return output
        except Exception as exc:
            if not self.is_oom(exc):
                raise
            self.free()
            self.stride *= 2
            self.fallback = (
                f"out of memory at step {index + 1}: guiding every {_ordinal(self.stride)}"
                " guided step"
                if self.stride <= total
                else f"out of memory at step {index + 1}: guidance off for the rest"
            )
            self._note(self.fallback)
            return output
        self.guided.append(index)
        kinds = ", ".join(term.kind for term in terms)
        self._note(
            f"step {index + 1}/{total}: guided by {kinds} ({time.perf_counter() - began:.2f} s)"
        )
        return moved

    def _move(self, output: Any, timestep: Any, sample: Any, terms: list[Term]) -> Any:
        import torch

        x0, slope = clean_latent(self._scheduler, output.float(), timestep, sample.float())
        half = self.decoder.dtype in (torch.float16, torch.bfloat16)
        cast = torch.autocast(output.device.type, dtype=self.decoder.dtype, enabled=half)
        with torch.enable_grad(), cast:  # half precision where the pipeline runs in it
            latent = x0.detach().requires_grad_(True)
            images = self.decoder(latent)
            total = 0.0
            for term in terms:
                loss = term.loss(images)
                total = total + term.guide.weight * loss / loss.detach().clamp_min(1e-8)
            (gradient,) = torch.autograd.grad(total.float().sum(), latent)
        if not torch.isfinite(gradient).all():  # e.g. a half-precision decoder overflowing
            raise FloatingPointError("the guidance gradient is not finite")
        rms = gradient.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12)
        direction = gradient / rms.view(-1, *([1] * (gradient.ndim - 1)))
        weight = sum(term.guide.weight for term in terms)
        move = -min(self.step_size * weight, MAX_MOVE) * direction
        return (output.float() + move / slope).to(output.dtype)

    def _note(self, text: str) -> None:
        if self.notes is not None:
            self.notes(text)


def _ordinal(number: int) -> str:
    return f"{number}{'nd' if number == 2 else 'th'}"  # strides are 2, 4, 8, ...
