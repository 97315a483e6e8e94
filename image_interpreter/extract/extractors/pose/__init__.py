"""People extractors: body joints, hands and faces as named keypoints, with expressions and
gestures read from them (`extract.rules`). One module per backend; none imports torch,
controlnet-aux or mediapipe until its models load."""

from image_interpreter.extract.extractors.pose import dwpose, mediapipe, openpose

__all__ = ["dwpose", "mediapipe", "openpose"]
