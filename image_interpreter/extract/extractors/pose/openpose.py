"""OpenPose (body, hands, face) through controlnet-aux, kept as keypoints, not only a picture.

The detector's own steps run in turn: the body network and its part grouping
(`body_estimation`, `format_body_result`), the hand network on boxes from each arm
(`detect_hands`), and the face network on a box from the head (`util.faceDetect`,
`face_estimation`). Face peaks are read here rather than by controlnet-aux's
`compute_peaks_from_heatmaps`, which drops landmarks below its threshold and so loses which
landmark each point is; here every landmark keeps its name and its heatmap peak as confidence.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import Field

from image_interpreter.extract.base import ExtractContext, Extractor, register_extractor
from image_interpreter.extract.extractors.pose.convert import finish, person_from_pose_result
from image_interpreter.extract.extractors.pose.runtime import (
    NetworkPoseParams,
    detection_image,
    quiet_import,
)
from image_interpreter.models.loading import load_pretrained, resolve_device
from image_interpreter.models.registry import register_role
from image_interpreter.models.tiny import tiny_model
from image_interpreter.priors.schema import PeoplePrior

ROLE = "extract.pose.openpose"
register_role(
    ROLE,
    sd15="lllyasviel/Annotators",
    sdxl="lllyasviel/Annotators",
    tiny="tiny/openpose",
    description="OpenPose body, hand and face networks (body_pose_model.pth,"
    " hand_pose_model.pth, facenet.pth) as controlnet-aux loads them",
)

FACE_THRESHOLD = 0.05  # controlnet-aux's face heatmap threshold


class OpenPoseParams(NetworkPoseParams):
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Leave out weaker points.")


@register_extractor
class OpenPoseExtractor(Extractor):
    name = "pose.openpose"
    kind = "people"
    aliases = ("pose", "people", "openpose")
    default = True
    roles = (ROLE,)
    Params = OpenPoseParams
    description = "People: 18 named body joints, 21 points per hand, 70 face landmarks."

    def load(self) -> None:
        open_pose = quiet_import("controlnet_aux.open_pose")
        self.util = quiet_import("controlnet_aux.open_pose.util")
        self.detector = load_pretrained(open_pose.OpenposeDetector, ROLE, self.settings)
        self.detector.to(resolve_device(self.settings))

    def extract(self, image: Image.Image, params: OpenPoseParams, ctx: ExtractContext):
        import torch

        rgb = detection_image(image, params.detect_resolution)
        results = []
        with torch.inference_mode():
            for result in self.detect(rgb, params.hands, params.face, ctx):
                person = person_from_pose_result(result, params.min_confidence)
                if person is not None:
                    results.append(person)
        return PeoplePrior(people=finish(results, image.width / image.height, params.expressions))

    def detect(self, rgb: Any, hands: bool, face: bool, ctx: ExtractContext) -> list[Any]:
        """controlnet-aux `PoseResult`s, coordinates normalised, as `detect_poses` makes them."""
        from controlnet_aux.open_pose import BodyResult, PoseResult

        bgr = rgb[:, :, ::-1].copy()
        height, width = bgr.shape[:2]
        candidate, subset = self.detector.body_estimation(bgr)
        bodies = self.detector.body_estimation.format_body_result(candidate, subset)
        results = []
        for number, body in enumerate(bodies):
            ctx.progress(f"people: person {number + 1} of {len(bodies)}", 0.4)
            left = right = landmarks = None
            if hands:
                left, right = self.detector.detect_hands(body, bgr)
            if face:
                landmarks = self._face(body, bgr)
            keypoints = [
                kp._replace(x=kp.x / width, y=kp.y / height) if kp is not None else None
                for kp in body.keypoints
            ]
            normalised = BodyResult(keypoints, body.total_score, body.total_parts)
            results.append(PoseResult(normalised, left, right, landmarks))
        return results

    def _face(self, body: Any, bgr: Any) -> list[Any] | None:
        """70 face keypoints in face-landmark order, a missing one at (-1, -1) with score 0."""
        import numpy as np
        from controlnet_aux.open_pose.body import Keypoint

        box = self.util.faceDetect(body, bgr)
        if box is None:
            return None
        x0, y0, size = box
        height, width = bgr.shape[:2]
        heatmaps = self.detector.face_estimation(bgr[y0 : y0 + size, x0 : x0 + size, :])
        points = []
        for part in range(70):
            heat = heatmaps[part]
            y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
            score = float(heat[y, x])
            if not score > FACE_THRESHOLD:
                points.append(Keypoint(-1.0, -1.0, 0.0))
            else:
                points.append(Keypoint((x + x0) / width, (y + y0) / height, score))
        return points


@tiny_model("tiny/openpose")
def build_openpose(folder: Path) -> None:
    """controlnet-aux's own body, hand and face networks (full architecture, random weights) in
    the layout `OpenposeDetector.from_pretrained(folder)` reads.

    Each weight tensor is a strided view of a small He-scaled random buffer of its own, which
    `torch.save` stores as that buffer: the three files take about 1 MB instead of 500, and load
    through the same `torch.load` + `load_state_dict` as the real ones. Biases are zero and each
    first-layer kernel sums to zero, so, like trained networks, they respond to contrast only:
    a featureless (mid-grey) picture finds nobody."""
    import torch

    model = quiet_import("controlnet_aux.open_pose.model")
    face = quiet_import("controlnet_aux.open_pose.face")
    networks = (
        ("body_pose_model.pth", model.bodypose_model, True),
        ("hand_pose_model.pth", model.handpose_model, True),
        ("facenet.pth", face.FaceNet, False),
    )
    for seed, (filename, network, drop_prefix) in enumerate(networks):
        generator = torch.Generator().manual_seed(seed)
        with torch.device("meta"):
            shapes = {key: tuple(t.shape) for key, t in network().state_dict().items()}
        weights = {}
        for index, (key, shape) in enumerate(shapes.items()):
            # Body and Hand read keys without the block prefix ("model0.conv1_1.weight" is saved
            # as "conv1_1.weight"; see controlnet-aux's util.transfer); Face reads them as is.
            name = key.split(".", 1)[1] if drop_prefix else key
            if not key.endswith("weight"):
                weights[name] = torch.zeros(shape)
            elif index == 0:
                kernel = torch.randn(shape, generator=generator) * math.sqrt(
                    2 / math.prod(shape[1:])
                )
                weights[name] = kernel - kernel.mean(dim=(1, 2, 3), keepdim=True)
            else:
                weights[name] = _compact_random(shape, generator)
        torch.save(weights, folder / filename)


_STRIDES = (7, 5, 3, 2, 1)


def _compact_random(shape: tuple[int, ...], generator: Any) -> Any:
    """A He-scaled random tensor of `shape`, as a strided view of a buffer of a few thousand
    numbers (neighbouring weights share values; for random stand-ins that does not matter)."""
    import torch

    strides = _STRIDES[-len(shape) :]
    size = sum((n - 1) * s for n, s in zip(shape, strides, strict=True)) + 1
    buffer = torch.randn(size, generator=generator) * math.sqrt(2.0 / math.prod(shape[1:]))
    return torch.as_strided(buffer, shape, strides)
