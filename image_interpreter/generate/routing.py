"""Which ControlNet each control image goes to: one table, for SD 1.5 and SDXL.

A ControlNet only follows the kind of image it was trained on: HED soft edges, scribbles or M-LSD
segments sent to the line-art model are followed loosely or not at all. So each prior kind (and,
for edges, each method) names its own role; the role's model per profile is in
`models/registry.py`, and on SDXL a role filled by a union model (xinsir's ControlNet++) runs in
the control mode given here. `routing_table()` renders the whole mapping; the README shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from image_interpreter.generate.errors import GenerationError
from image_interpreter.models.registry import get_role, is_union_controlnet
from image_interpreter.priors.schema import Prior

# The control types of xinsir/controlnet-union-sdxl-1.0 (ControlNet++), as its authors' example
# scripts number them (github.com/xinsir6/ControlNetPlus, controlnet_union_test_*.py): 0 openpose,
# 1 depth, 2 hed/pidi/scribble/ted (soft, thick lines), 3 canny/lineart/anime_lineart/mlsd (thin
# lines), 4 normal, 5 segment. (The ProMax checkpoint adds 6 tile and 7 repaint.)
UNION_MODE_NAMES: dict[int, str] = {
    0: "openpose",
    1: "depth",
    2: "soft edges / scribble",
    3: "thin lines",
    4: "normal",
    5: "segmentation",
}


@dataclass(frozen=True)
class ControlRoute:
    """A control image (prior kind, edge method) -> its ControlNet role and union mode."""

    kind: str
    method: str | None
    role: str
    union_mode: int

    @property
    def label(self) -> str:
        return self.kind if self.method is None else f"{self.kind} ({self.method})"


ROUTES: tuple[ControlRoute, ...] = (
    ControlRoute("people", None, "controlnet.pose", 0),
    ControlRoute("depth", None, "controlnet.depth", 1),
    ControlRoute("segmentation", None, "controlnet.segmentation", 5),
    ControlRoute("edges", "canny", "controlnet.canny", 3),
    ControlRoute("edges", "lineart", "controlnet.lineart", 3),
    ControlRoute("edges", "hed", "controlnet.softedge", 2),
    ControlRoute("edges", "scribble", "controlnet.scribble", 2),
    ControlRoute("edges", "mlsd", "controlnet.mlsd", 3),
    ControlRoute("edges", "other", "controlnet.lineart", 3),  # unknown lines: thin lines
)
_BY_KEY = {(r.kind, r.method): r for r in ROUTES}


def route(kind: str, prior: Prior) -> ControlRoute:
    """The route of a prior: by its kind, and for edges by their method."""
    method = getattr(prior, "method", None) if kind == "edges" else None
    found = _BY_KEY.get((kind, method))
    if found is None:
        what = f"'{kind}' priors" if method is None else f"'{method}' edges"
        raise GenerationError(f"{what} have no ControlNet.")
    return found


def control_role(kind: str, prior: Prior) -> str:
    """The ControlNet role for a prior."""
    return route(kind, prior).role


def union_mode(kind: str, prior: Prior) -> int:
    """The control mode a union ControlNet runs in for a prior."""
    return route(kind, prior).union_mode


def routing_table() -> str:
    """The routes as a Markdown table: control image, role, SD 1.5 and SDXL models, union mode."""
    lines = [
        "| control image | role | SD 1.5 ControlNet | SDXL ControlNet | SDXL union mode |",
        "| --- | --- | --- | --- | --- |",
    ]
    for found in ROUTES:
        role = get_role(found.role)
        sdxl = role.sdxl or "-"
        mode = "-"
        if role.sdxl and is_union_controlnet(role.sdxl):
            mode = f"{found.union_mode} ({UNION_MODE_NAMES[found.union_mode]})"
        lines.append(f"| {found.label} | `{found.role}` | `{role.sd15}` | `{sdxl}` | {mode} |")
    return "\n".join(lines) + "\n"
