"""Render the skeletons of the pose vocabulary into docs/poses/ (small PNGs for the README).

    uv run python docs/poses/make_poses.py

Each picture is the example person (facing the camera) after one edit, drawn as the OpenPose
control image the generator sees."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from image_interpreter.priors.edits import apply
from image_interpreter.priors.examples import example_priorset
from image_interpreter.priors.render.pose import draw_openpose

HERE = Path(__file__).parent
POSES: dict[str, list[dict[str, object]]] = {
    "raise_leg": [{"op": "pose_preset", "preset": "raise_leg", "side": "left"}],
    "kick_side": [{"op": "pose_preset", "preset": "kick_side", "side": "right"}],
    "kneel": [{"op": "pose_preset", "preset": "kneel", "side": "both"}],
    "squat": [{"op": "pose_preset", "preset": "squat"}],
    "turn_head": [{"op": "pose_preset", "preset": "turn_head", "side": "left", "amount": 45}],
    "lean": [{"op": "pose_preset", "preset": "lean", "side": "right"}],
    "jump": [{"op": "pose_preset", "preset": "jump"}],
    "run": [{"op": "pose_preset", "preset": "run"}],
    "cross_arms": [{"op": "pose_preset", "preset": "cross_arms"}],
    "hands_behind_head": [{"op": "pose_preset", "preset": "hands_behind_head"}],
    "shrug": [{"op": "pose_preset", "preset": "shrug"}],
    "clap": [{"op": "pose_preset", "preset": "clap"}],
    "hand_on_head": [{"op": "reach", "side": "left", "to": "head"}],
    "touch_knee": [{"op": "reach", "side": "right", "to": "left_knee"}],
    "point_at": [{"op": "point_at", "side": "right", "target": {"label": "umbrella"}}],
}
SIZE = (128, 192)


def render(name: str, edits: list[dict[str, object]]) -> Image.Image:
    priors = example_priorset()
    for edit in edits:
        priors = apply(edit, priors)
    assert priors.people is not None
    return Image.fromarray(draw_openpose(priors.people.people, *SIZE))


def main() -> None:
    for name, edits in POSES.items():
        render(name, edits).save(HERE / f"{name}.png", optimize=True)
    hold = apply({"op": "join_hands", "how": "hold"}, example_priorset(2))
    assert hold.people is not None
    Image.fromarray(draw_openpose(hold.people.people, 192, 192)).save(
        HERE / "hold_hands.png", optimize=True
    )


if __name__ == "__main__":
    main()
