"""Rendering: a PriorSet -> the control images its ControlNets expect, and inpainting masks.

No torch and no model code here: drawing is OpenCV and NumPy only. Importing this package
registers every renderer (people, depth, segmentation, edges).
"""

from image_interpreter.priors.render import maps, pose  # noqa: F401  (they register renderers)
from image_interpreter.priors.render.ade20k import (
    ADE20K_CLASSES,
    ADE20K_PALETTE,
    ade20k_index,
    ade20k_label,
)
from image_interpreter.priors.render.cache import RenderCache
from image_interpreter.priors.render.masks import render_inpaint_mask
from image_interpreter.priors.render.pose import draw_openpose
from image_interpreter.priors.render.registry import (
    RENDERERS,
    ReadArtifact,
    Renderer,
    Size,
    check_size,
    control_kinds,
    prior_digest,
    render_controls,
    render_prior,
    renderer,
)

__all__ = [
    "ADE20K_CLASSES",
    "ADE20K_PALETTE",
    "RENDERERS",
    "ReadArtifact",
    "RenderCache",
    "Renderer",
    "Size",
    "ade20k_index",
    "ade20k_label",
    "check_size",
    "control_kinds",
    "draw_openpose",
    "prior_digest",
    "render_controls",
    "render_inpaint_mask",
    "render_prior",
    "renderer",
]
