"""Canonical shapes: hand gestures (21 keypoints) and a neutral face (70 landmarks), plus the
landmark displacements that make each expression, and the face's left/right flip map."""

from __future__ import annotations

from typing import Literal

GestureName = Literal["fist", "open_palm", "point", "victory", "thumbs_up", "ok"]
ExpressionName = Literal["smile", "open_mouth", "closed_eyes", "raised_brows", "frown", "neutral"]
