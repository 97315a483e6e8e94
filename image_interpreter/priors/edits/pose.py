"""Pose edits: rotate a limb, apply a named pose preset, or move one joint.

Rotations turn a limb about its proximal joint (the upper arm about the shoulder, the head about
the neck), keep every bone's length, and carry everything beyond it: the elbow, wrist and whole
hand move with the upper arm. Degrees are counter-clockwise as seen in the picture. Joints stop
at anatomical limits (an elbow or knee flexes 0 to 160°; a knee never bends forwards); a rotation
past a limit stops there, and `describe` says so.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits import poses, presets  # noqa: F401  (poses registers presets)
from image_interpreter.priors.edits.base import (
    EditBase,
    PersonNumber,
    aspect,
    degrees_text,
    person_at,
    register_edit,
    replace_person,
)
from image_interpreter.priors.joints import BodyJoint
from image_interpreter.priors.schema import Point, PriorSet

LimbName = Literal[
    "left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm",
    "left_hand", "right_hand",
    "left_thigh", "right_thigh", "left_shin", "right_shin",
    "head",
]  # fmt: skip

PresetName = Literal[
    "raise_arm", "lower_arm", "arm_over_head", "arm_out", "bend_elbow", "straighten_elbow",
    "hands_on_hips", "wave", "bend_knee", "straighten_knee", "tilt_head",
    # legs
    "raise_leg", "lower_leg", "kick", "kick_side", "step_forward", "cross_legs", "kneel", "sit",
    "squat", "stand",
    # head and torso
    "turn_head", "look_up", "look_down", "lean", "lean_forward", "lean_back", "bend_over",
    "turn_shoulders",
    # whole body
    "jump", "walk", "run", "cross_arms", "hands_behind_head", "shrug", "clap", "hug",
]  # fmt: skip

# Presets that need a side named: the way the head or body turns or leans.
ONE_SIDE_PRESETS = frozenset({"tilt_head", "turn_head", "lean", "turn_shoulders"})

# What `amount` means for each preset; presets missing here take no amount.
PRESET_AMOUNTS: dict[str, tuple[str, float, float]] = {
    "raise_arm": ("degrees above horizontal the arm points", 1.0, 90.0),
    "bend_elbow": ("elbow flexion in degrees", 1.0, 160.0),
    "bend_knee": ("knee flexion in degrees", 1.0, 160.0),
    "tilt_head": ("degrees the head tilts towards that shoulder", -70.0, 70.0),
    "raise_leg": ("degrees the hip flexes (the thigh raised)", 1.0, 135.0),
    "kick": ("degrees the straight leg is kicked up", 1.0, 135.0),
    "turn_head": ("degrees the head turns by", 1.0, 90.0),
    "look_up": ("degrees the face turns up by", 1.0, 60.0),
    "look_down": ("degrees the face turns down by", 1.0, 60.0),
    "lean": ("degrees the upper body leans by", 1.0, 60.0),
    "lean_forward": ("degrees the upper body leans forwards by", 1.0, 80.0),
    "lean_back": ("degrees the upper body leans back by", 1.0, 40.0),
    "turn_shoulders": ("degrees the shoulders turn by", 1.0, 90.0),
}

assert set(get_args(LimbName)) == set(kin.LIMBS), "LimbName != kinematics.LIMBS"
assert set(get_args(PresetName)) == set(presets.PRESETS), "PresetName != presets.PRESETS"


@register_edit
class RotateLimb(EditBase):
    """Turn one limb about its proximal joint by `degrees`, counter-clockwise as seen in the
    picture (negative: clockwise). Limbs: upper arm (shoulder), forearm (elbow), hand (wrist),
    thigh (hip), shin (knee), head (neck). Everything beyond the limb moves with it."""

    op: Literal["rotate_limb"] = "rotate_limb"
    person: PersonNumber = 1
    limb: LimbName
    degrees: float = Field(
        ge=-360.0,
        le=360.0,
        description="Counter-clockwise as seen in the picture; negative: clockwise.",
    )

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        moved = kin.rotate_limb(person, self.limb, self.degrees, aspect(priors), notes, self.person)
        return replace_person(priors, self.person, moved)

    def summary(self) -> str:
        sense = "counter-clockwise" if self.degrees >= 0 else "clockwise"
        limb = self.limb.replace("_", " ")
        return f"rotated person {self.person}'s {limb} {degrees_text(abs(self.degrees))} {sense}"


@register_edit
class PosePreset(EditBase):
    """A named pose change for one side, the other, or both (left and right are the subject's
    own). Presets: raise_arm (straight arm pointing `amount`° above horizontal, default 45, or
    higher than it already is), lower_arm (hanging down), arm_over_head (wrist above the head),
    arm_out (horizontal, to the side), bend_elbow / bend_knee (`amount` = flexion, default 90),
    straighten_elbow / straighten_knee, hands_on_hips, wave (upper arm out, forearm up),
    tilt_head (`amount`° towards `side`'s shoulder, default 15; side must be left or right).
    Legs: raise_leg (`amount` = hip flexion, knee bent), lower_leg, kick, kick_side,
    step_forward, cross_legs, kneel (both knees, or one `side`), sit, squat, stand. Head:
    turn_head (`amount`° to `side`), look_up, look_down (`amount`°; a nod is look_down 15).
    Torso: lean (`side`), lean_forward, lean_back, bend_over, turn_shoulders (`side`). Whole
    body: jump, walk, run, cross_arms, hands_behind_head, shrug, clap, hug. Each has an opposite
    (lower_leg, stand, the other side or direction) that undoes it."""

    op: Literal["pose_preset"] = "pose_preset"
    person: PersonNumber = 1
    preset: PresetName
    side: Literal["left", "right", "both"] = Field("both", description="The subject's own side.")
    amount: float | None = Field(
        None,
        description="raise_arm: degrees above horizontal (1-90); bend_elbow/bend_knee: flexion"
        " (1-160); tilt_head: degrees towards that shoulder (-70-70). Other presets: none.",
    )

    @model_validator(mode="after")
    def _amount_fits(self) -> PosePreset:
        if self.preset in ONE_SIDE_PRESETS and self.side == "both":
            raise ValueError(
                f"{self.preset} needs side 'left' or 'right': the way it turns, tilts or leans"
            )
        if self.amount is None:
            return self
        spec = PRESET_AMOUNTS.get(self.preset)
        if spec is None:
            raise ValueError(f"the {self.preset} preset takes no amount")
        meaning, low, high = spec
        if not low <= self.amount <= high:
            raise ValueError(
                f"{self.preset}: amount is the {meaning}, from {low:g} to {high:g};"
                f" got {self.amount:g}"
            )
        return self

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        moved = presets.pose_preset(
            person, self.preset, self.side, self.amount, aspect(priors), notes, self.person
        )
        return replace_person(priors, self.person, moved)

    def summary(self) -> str:
        return presets.preset_summary(self.person, self.preset, self.side, self.amount)


@register_edit
class MoveJoint(EditBase):
    """Move one body joint `to` a point or `by` an offset (normalised coordinates). Only that
    joint moves, except that a hand follows its wrist and a foot its ankle. `to` may place a
    joint that was not seen; `by` needs one that was."""

    op: Literal["move_joint"] = "move_joint"
    person: PersonNumber = 1
    joint: BodyJoint
    to: Point | None = Field(None, description="Where it goes, normalised (x right, y down).")
    by: Point | None = Field(None, description="How far it moves, normalised (x right, y down).")

    @model_validator(mode="after")
    def _one_target(self) -> MoveJoint:
        if (self.to is None) == (self.by is None):
            raise ValueError("give exactly one of `to` (a point) or `by` (an offset)")
        return self

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        person = person_at(priors, self.person)
        moved = kin.move_joint(person, self.joint, self.to, self.by, self.person)
        return replace_person(priors, self.person, moved)

    def summary(self) -> str:
        joint = self.joint.replace("_", " ")
        if self.to is not None:
            return f"moved person {self.person}'s {joint} to ({self.to.x:.2f}, {self.to.y:.2f})"
        assert self.by is not None
        return f"moved person {self.person}'s {joint} by ({self.by.x:+.2f}, {self.by.y:+.2f})"
