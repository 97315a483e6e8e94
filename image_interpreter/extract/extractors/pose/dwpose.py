"""DWPose (whole body: 18 body joints, 6 foot points, 68 face landmarks, 2 x 21 hand points)
through controlnet-aux 0.0.10.

That release runs DWPose on OpenMMLab (`controlnet_aux.dwpose.wholebody.Wholebody`: an mmdet
YOLOX-L person detector, then the mmpose DWPose-L estimator on each person); it has no
torch-only or onnxruntime path. The extractor checks for those packages before anything else,
so a missing one is named, with the command that installs it, on every profile.
"""

from __future__ import annotations

import importlib.util

from PIL import Image
from pydantic import Field

from image_interpreter.errors import ExtractionError
from image_interpreter.extract.base import ExtractContext, Extractor, register_extractor
from image_interpreter.extract.extractors.pose.convert import finish, people_from_wholebody
from image_interpreter.extract.extractors.pose.runtime import (
    NO_TINY,
    NetworkPoseParams,
    detection_image,
    model_file,
    quiet_import,
)
from image_interpreter.models.loading import resolve_device
from image_interpreter.models.registry import register_role
from image_interpreter.priors.schema import PeoplePrior

ROLE = "extract.pose.dwpose"
DETECTOR_ROLE = "extract.pose.dwpose.detector"
POSE_FILE = "dw-ll_ucoco_384.pth"
_YOLOX = (
    "https://download.openmmlab.com/mmdetection/v2.0/yolox/yolox_l_8x8_300e_coco/"
    "yolox_l_8x8_300e_coco_20211126_140236-d3bd2b23.pth"
)  # controlnet-aux's own default
register_role(
    ROLE,
    sd15="wanghaofan/dw-ll_ucoco_384",
    sdxl="wanghaofan/dw-ll_ucoco_384",
    tiny=NO_TINY,
    description=f"DWPose-L whole-body estimator checkpoint for mmpose ({POSE_FILE})",
)
register_role(
    DETECTOR_ROLE,
    sd15=_YOLOX,
    sdxl=_YOLOX,
    tiny=NO_TINY,
    description="YOLOX-L person detector checkpoint for mmdet, which DWPose crops people with",
)

# What controlnet-aux's Wholebody imports; pip names and the versions it asks for.
REQUIRED = {"mmengine": "mmengine", "mmcv": "mmcv>=2.0.1", "mmdet": "mmdet>=3.1.0",
            "mmpose": "mmpose>=1.1.0"}  # fmt: skip


def require_openmmlab() -> None:
    """Raise one ExtractionError naming every OpenMMLab package DWPose needs but lacks."""
    missing = [
        spec for module, spec in REQUIRED.items() if importlib.util.find_spec(module) is None
    ]
    if missing:
        quoted = " ".join(f"'{spec}'" for spec in missing)
        raise ExtractionError(
            f"pose.dwpose needs {', '.join(missing)}, which are not installed (controlnet-aux runs"
            f" DWPose on OpenMMLab). Install them with `pip install -U openmim && mim install"
            f" {quoted}` (mmcv builds against the installed torch), or use pose.openpose."
        )


class DWPoseParams(NetworkPoseParams):
    threshold: float = Field(0.3, ge=0.0, le=1.0, description="Leave out points scored below.")


@register_extractor
class DWPoseExtractor(Extractor):
    name = "pose.dwpose"
    kind = "people"
    aliases = ("dwpose",)
    roles = (ROLE, DETECTOR_ROLE)
    Params = DWPoseParams
    description = "People, whole body: body and foot joints, 2 x 21 hand points, 68 face points."

    def model_ids(self) -> dict[str, str]:
        require_openmmlab()  # before the roles: no model helps while the packages are missing
        return super().model_ids()

    def load(self) -> None:
        require_openmmlab()
        wholebody = quiet_import("controlnet_aux.dwpose.wholebody")
        pose = model_file(ROLE, self.settings, POSE_FILE)
        detector = model_file(DETECTOR_ROLE, self.settings, _YOLOX.rsplit("/", 1)[1])
        device = str(resolve_device(self.settings))
        self.model = wholebody.Wholebody(det_ckpt=str(detector), pose_ckpt=str(pose), device=device)

    def extract(self, image: Image.Image, params: DWPoseParams, ctx: ExtractContext):
        import torch

        rgb = detection_image(image, params.detect_resolution)
        height, width = rgb.shape[:2]
        with torch.inference_mode():
            keypoints, scores = self.model(rgb[:, :, ::-1].copy())
        people = people_from_wholebody(
            keypoints, scores, width, height, params.threshold, hands=params.hands, face=params.face
        )
        return PeoplePrior(people=finish(people, image.width / image.height, params.expressions))
