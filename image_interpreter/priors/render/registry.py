"""The renderer registry: prior kind -> the function that draws its ControlNet control image.

Each renderer module registers itself with `@renderer("kind")`; the functions here look kinds up,
check sizes and options, and go through a `RenderCache` when given one, so the caller never
needs to know which module draws what. Artifacts are read only through the `read_artifact`
callable the caller passes (a Session's `read_artifact` or an `ArtifactStore.get`), so rendering
never reaches around access control.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from image_interpreter.errors import PriorsError
from image_interpreter.priors.render.cache import RenderCache, RenderKey
from image_interpreter.priors.schema import PRIOR_KINDS, Prior, PriorSet

Size = tuple[int, int]
"""(width, height) in pixels, as PIL orders them."""

ReadArtifact = Callable[[str], bytes]
"""sha256 -> the artifact's bytes; raises ArtifactError (or SessionError) when it cannot."""

# Larger control images are of no use to any Stable Diffusion model, and this bound keeps every
# pixel coordinate the pose renderer hands OpenCV inside its fixed-point range.
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000

# Fields every prior has that change how a control image is *used*, not how it looks: an edit
# that only changes them re-renders nothing.
_NOT_DRAWN = frozenset({"enabled", "weight", "start", "end", "provenance"})


@dataclass(frozen=True)
class Renderer:
    """A registered renderer and the keyword options (with defaults) it accepts."""

    kind: str
    fn: Callable[..., Image.Image]
    defaults: Mapping[str, Any] = field(default_factory=dict)


RENDERERS: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Callable[..., Image.Image]], Callable[..., Image.Image]]:
    """Register `fn(prior, size, read_artifact, *, option=default, ...) -> PIL.Image` for `kind`."""
    if kind not in PRIOR_KINDS:
        raise ValueError(f"'{kind}' is not a prior kind ({', '.join(PRIOR_KINDS)}).")

    def register(fn: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
        if kind in RENDERERS:
            raise ValueError(f"A renderer for '{kind}' is already registered.")
        params = inspect.signature(fn).parameters.values()
        defaults = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
        RENDERERS[kind] = Renderer(kind, fn, defaults)
        return fn

    return register


def control_kinds() -> tuple[str, ...]:
    """The prior kinds that have a control image (a ControlNet), in PriorSet order."""
    return tuple(kind for kind in PRIOR_KINDS if kind in RENDERERS)


def check_size(size: Iterable[int]) -> Size:
    """A (width, height) of positive whole pixels within MAX_SIDE and MAX_PIXELS, or PriorsError."""
    try:
        width, height = size
    except (TypeError, ValueError):
        raise PriorsError(f"A size is (width, height) in pixels, not {size!r}.") from None
    for value in (width, height):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise PriorsError(
                f"A control image needs a positive whole number of pixels on each side, not"
                f" {width!r}x{height!r}. Pass size=(width, height), e.g. (1024, 1024)."
            )
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise PriorsError(
            f"A {width}x{height} control image is too large (at most {MAX_SIDE} pixels a side and"
            f" {MAX_PIXELS // 1_000_000} megapixels). Render at the generation size and upscale"
            " the result instead."
        )
    return width, height


def prior_digest(prior: Prior) -> str:
    """A hash of everything about a prior that shows in its control image."""
    return hashlib.sha256(prior.model_dump_json(exclude=set(_NOT_DRAWN)).encode()).hexdigest()


def render_prior(
    kind: str,
    prior: Prior,
    size: Iterable[int],
    read_artifact: ReadArtifact | None = None,
    *,
    cache: RenderCache | None = None,
    **options: Any,
) -> Image.Image:
    """One prior's control image at `size`, enabled or not; from `cache` when it has it."""
    entry = _lookup(kind)
    if getattr(prior, "kind", None) != kind:
        raise PriorsError(
            f"render_prior('{kind}', ...) was given a {type(prior).__name__}; pass the PriorSet's"
            f" '{kind}' field."
        )
    size = check_size(size)
    settled = _options(entry, options)
    reader = read_artifact or _no_reader(kind)
    if cache is None:
        return entry.fn(prior, size, reader, **settled)
    key: RenderKey = (kind, prior_digest(prior), size, tuple(sorted(settled.items())))
    image = cache.get(key)
    if image is None:
        image = entry.fn(prior, size, reader, **settled)
        cache.put(key, image.copy())  # the caller may draw on the one it gets
    return image


def render_controls(
    priors: PriorSet,
    size: Iterable[int] | None = None,
    read_artifact: ReadArtifact | None = None,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    kinds: Iterable[str] | None = None,
    cache: RenderCache | None = None,
) -> dict[str, Image.Image]:
    """The control images of every enabled prior that has a ControlNet, by kind.

    `size` defaults to the source image's; `options` are per kind (`{"people": {"draw_face":
    False}}`); `kinds` limits which are drawn. With a `cache`, only priors that changed since the
    last call (or a new size or options) are drawn again. A cache must not be shared between
    callers with different access to artifacts: one per session.
    """
    options = dict(options or {})
    for kind in options:
        _lookup(kind)
    wanted = set(control_kinds()) if kinds is None else {_lookup(kind).kind for kind in kinds}
    if size is None:
        size = (priors.source.width, priors.source.height)
    size = check_size(size)
    return {
        kind: render_prior(
            kind, prior, size, read_artifact, cache=cache, **dict(options.get(kind, {}))
        )
        for kind, prior in priors.enabled().items()
        if kind in wanted
    }


def _lookup(kind: str) -> Renderer:
    entry = RENDERERS.get(kind)
    if entry is None:
        have = ", ".join(control_kinds())
        if kind in PRIOR_KINDS:
            raise PriorsError(
                f"'{kind}' priors have no ControlNet, so no control image; control images exist"
                f" for {have}."
            )
        raise PriorsError(f"'{kind}' is not a prior kind; control images exist for {have}.")
    return entry


def _options(entry: Renderer, given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(entry.defaults))
    if unknown:
        accepted = ", ".join(sorted(entry.defaults)) or "none"
        raise PriorsError(
            f"Unknown render option {', '.join(unknown)} for '{entry.kind}';"
            f" it accepts: {accepted}."
        )
    settled = {**entry.defaults, **given}
    try:
        hash(tuple(settled.items()))
    except TypeError:
        raise PriorsError(
            f"Render options for '{entry.kind}' must be plain values (True, 3, 'x'), not lists or"
            " dicts."
        ) from None
    return settled


def _no_reader(kind: str) -> ReadArtifact:
    def read(sha256: str) -> bytes:
        raise PriorsError(
            f"Drawing the {kind} control image needs its map (artifact {sha256[:12]}): pass"
            " read_artifact (a Session's read_artifact or an ArtifactStore's get)."
        )

    return read
