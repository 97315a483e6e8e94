"""The bundled demo: a small photo and a hand-made OpenPose person that matches it.

The miniature (`tiny`) models find nobody in a photo, so a new user could not edit a pose
without one of their own; the demo gives every front end the same starting point ("try the
demo"): the photo becomes version 1 and the person is imported over it.

The photo is NASA's portrait of astronaut Eileen Collins, as scikit-image ships it
(`skimage.data.astronaut()`, "no known copyright restrictions, released into the public
domain"), reduced to 256×256. The pose was placed by hand on it (see README.md here).
"""

from __future__ import annotations

from importlib.resources import files

PHOTO_NAME = "astronaut.jpg"
POSE_NAME = "astronaut.openpose.json"


def demo_photo() -> bytes:
    """The demo photo (JPEG bytes)."""
    return files(__package__).joinpath(PHOTO_NAME).read_bytes()


def demo_pose() -> bytes:
    """The demo person as OpenPose JSON (one person, a 256×256 canvas)."""
    return files(__package__).joinpath(POSE_NAME).read_bytes()


__all__ = ["PHOTO_NAME", "POSE_NAME", "demo_photo", "demo_pose"]
