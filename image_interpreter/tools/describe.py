"""`describe_priors(priors)`: the current PriorSet as compact text an LLM can reason over.

People are put in words a model can act on: where each person is, which way they face, and for
each arm and leg the anatomical angles the pose edits speak in (shoulder abduction, elbow
flexion...), with the named joints' coordinates for `move_joint`. Then every prior with its
switch, weight and step range, objects numbered from 1 as the edits count them, the caption, and
the generation settings. It is the tool `describe_priors` and the loop's per-turn summary.
"""

from __future__ import annotations

import math
import re

from image_interpreter.errors import EditError
from image_interpreter.priors.edits import geometry as g
from image_interpreter.priors.edits import ik
from image_interpreter.priors.edits import kinematics as kin
from image_interpreter.priors.edits.geometry import extent
from image_interpreter.priors.joints import OPENPOSE_BODY_18
from image_interpreter.priors.schema import (
    CaptionPrior,
    DepthPrior,
    EdgesPrior,
    ObjectsPrior,
    PalettePrior,
    PeoplePrior,
    Person,
    Prior,
    PriorSet,
    SegmentationPrior,
)

EXPRESSION_WORDS = {
    "smile": "smiling",
    "open_mouth": "mouth open",
    "closed_eyes": "eyes closed",
    "raised_brows": "eyebrows raised",
    "frown": "frowning",
    "neutral": "neutral face",
}
GESTURE_WORDS = {
    "open_palm": "open palm",
    "fist": "fist",
    "point": "pointing",
    "victory": "victory sign",
    "thumbs_up": "thumbs up",
    "ok": "OK sign",
}
MAX_LISTED = 8  # regions, tags, classes, colours shown before "and N more"


def describe_priors(priors: PriorSet | None) -> str:
    """A few lines per prior; people and their limbs in words, with coordinates."""
    if priors is None:
        return "There are no priors yet: no photo has been loaded into this session."
    src = priors.source
    parent = f", from version {priors.parent}" if priors.parent is not None else ""
    name = f"“{src.name}”" if src.name else f"image {src.sha256[:12]}"
    lines = [f"Version {priors.version}{parent}: priors of {name}, {src.width}×{src.height}."]
    present = priors.priors()
    if not present:
        lines.append("No priors extracted yet (extract_priors adds them); only settings apply.")
    off = [kind for kind, prior in present.items() if not prior.enabled]
    if off:
        lines.append(f"Switched off (ignored when generating): {', '.join(off)}.")
    lines.extend(describe_kinds(priors, list(present)))
    lines.append(_settings(priors))
    return "\n".join(lines)


def describe_kinds(priors: PriorSet, kinds: list[str]) -> list[str]:
    """The lines of `describe_priors` for these prior kinds only (absent kinds say so)."""
    lines = []
    for kind in kinds:
        prior = getattr(priors, kind, None)
        if prior is None:
            lines.append(f"{kind}: none")
            continue
        lines.extend(_DETAIL[kind](f"{kind} ({_switch(prior)})", prior, priors))
    return lines


# --- per kind ------------------------------------------------------------------------------


def _switch(prior: Prior) -> str:
    parts = ["on" if prior.enabled else "off", f"weight {prior.weight:g}"]
    if (prior.start, prior.end) != (0.0, 1.0):
        parts.append(f"steps {prior.start:.0%}–{prior.end:.0%}")
    return ", ".join(parts)


def _caption(header: str, prior: CaptionPrior, priors: PriorSet) -> list[str]:
    lines = [f"{header}: “{prior.text}”" if prior.text else f"{header}: no text"]
    extras = []
    if prior.style:
        extras.append(f"style: {', '.join(prior.style)}")
    if prior.time_of_day:
        extras.append(f"time of day: {prior.time_of_day}")
    if prior.negative:
        extras.append(f"must not show: {prior.negative}")
    if prior.tags:
        extras.append("tags: " + _listed([t.label for t in prior.tags]))
    if extras:
        lines.append("  " + "; ".join(extras))
    if prior.regions:
        regions = [f"“{r.text}” at {_box(r.box)}" for r in prior.regions]
        lines.append("  regions: " + _listed(regions))
    return lines


def _people(header: str, prior: PeoplePrior, priors: PriorSet) -> list[str]:
    count = len(prior.people)
    aspect = priors.source.width / priors.source.height
    poses = [pose_summary(p, aspect) for p in prior.people]
    shown = "; ".join(f"{n}: {w}" if count > 1 else w for n, w in enumerate(poses, 1) if w)
    lines = [f"{header}: {count} {'person' if count == 1 else 'people'}"
             + (f" — {shown}" if shown else "")]  # fmt: skip
    for number, person in enumerate(prior.people, 1):
        lines.extend("  " + line for line in describe_person(person, number, aspect))
    return lines


def _depth(header: str, prior: DepthPrior, priors: PriorSet) -> list[str]:
    a = prior.adjust
    changed = []
    if a.scale != 1.0:
        changed.append(f"contrast ×{a.scale:g}")
    if a.flatten:
        changed.append(f"flattened {a.flatten:.0%}")
    if a.invert:
        changed.append("inverted")
    if a.blur:
        changed.append(f"blurred {a.blur:g}")
    if a.push_background:
        changed.append(f"background pushed back {a.push_background:.0%}")
    return [f"{header}: a depth map" + (f", adjusted: {', '.join(changed)}" if changed else "")]


def _objects(header: str, prior: ObjectsPrior, priors: PriorSet) -> list[str]:
    if not prior.objects:
        return [f"{header}: none found"]
    lines = [f"{header}: {len(prior.objects)}, numbered from 1"]
    for number, obj in enumerate(prior.objects, 1):
        what = f"  {number}. {obj.label} at {_box(obj.box)}"
        if obj.score < 1.0:
            what += f", score {obj.score:.2f}"
        if obj.description:
            what += f" — {obj.description}"
        if obj.action == "replace":
            what += f" → to be replaced with “{obj.replacement}”"
        elif obj.action == "remove":
            what += " → to be removed"
        lines.append(what)
    return lines


def _segmentation(header: str, prior: SegmentationPrior, priors: PriorSet) -> list[str]:
    classes = _listed([c.label for c in prior.classes]) if prior.classes else "none listed"
    return [f"{header}: {prior.palette} classes: {classes}"]


def _edges(header: str, prior: EdgesPrior, priors: PriorSet) -> list[str]:
    return [f"{header}: {prior.method} edge map"]


def _palette(header: str, prior: PalettePrior, priors: PriorSet) -> list[str]:
    colours = [f"{c.hex} {c.fraction:.0%}" for c in prior.colors]
    return [f"{header}: {_listed(colours) if colours else 'no colours'}"]


_DETAIL = {
    "caption": _caption,
    "people": _people,
    "depth": _depth,
    "objects": _objects,
    "segmentation": _segmentation,
    "edges": _edges,
    "palette": _palette,
}


def _settings(priors: PriorSet) -> str:
    g = priors.generation
    size = (
        f"{g.width}×{g.height}"
        if g.width and g.height
        else f"the source's shape ({priors.source.width}×{priors.source.height})"
    )
    seed = g.seed if g.seed is not None else "random"
    many = "candidate" if g.candidates == 1 else "candidates"
    return (
        f"generation settings: size {size}, seed {seed}, {g.steps} steps, guidance"
        f" {g.guidance:g}, {g.candidates} {many}, img2img strength {g.strength:g}"
    )


# --- people --------------------------------------------------------------------------------


def describe_person(person: Person, number: int, aspect: float) -> list[str]:
    """'person 1 (the woman, centre): facing the camera; left arm raised ...' and a line of
    joint coordinates. Left and right are the person's own."""
    where = _where(person)
    label = ", ".join(x for x in (person.label, where) if x)
    facing = {
        "camera": "facing the camera",
        "away": "facing away",
        "left": "in profile, facing the picture's left",
        "right": "in profile, facing the picture's right",
    }[kin.view(person, aspect)]
    said = [facing, *posture_words(person, aspect)]
    for side in ("left", "right"):
        said.append(_arm(person, side, aspect))
    for side in ("left", "right"):
        said.append(_leg(person, side, aspect))
    head = _head(person, aspect)
    if head:
        said.append(head)
    feelings = _expression(person)
    if feelings:
        said.append(feelings)
    hands = _hands(person)
    if hands:
        said.append(hands)
    lines = [f"person {number}{f' ({label})' if label else ''}: " + "; ".join(said)]
    joints = [
        f"{name} {kp.x:.2f},{kp.y:.2f}"
        for name in OPENPOSE_BODY_18
        if (kp := person.body.get(name)) is not None  # type: ignore[call-overload]
    ]
    missing = [n for n in OPENPOSE_BODY_18 if n not in person.body]
    coords = "joints (x,y): " + ("; ".join(joints) if joints else "none")
    if joints and missing:
        coords += f"; not seen: {', '.join(missing)}"
    lines.append("  " + coords)
    return lines


def pose_summary(person: Person, aspect: float) -> str:
    """Only what differs from standing at ease, in the commands' words ('left leg raised, knee
    bent; head turned to their right'): the web table's line for a person."""
    words = posture_words(person, aspect)
    legs = any(w.startswith(("kneeling", "sitting", "squatting", "leaning", "bent")) for w in words)
    arms = any(w.startswith(("arms", "hands")) for w in words)
    for side in ("left", "right"):
        limbs = ([] if arms else [_arm(person, side, aspect)]) + (
            [] if legs else [_leg(person, side, aspect)])  # fmt: skip
        for said in limbs:
            plain = said.split(" (")[0]
            if "not seen" in plain:
                continue
            parts = [p for p in plain.split(", ") if p != "elbow straight" and p != "knee straight"]
            if parts[0].endswith(" down") and len(parts) == 1:
                continue
            words.append(", ".join(parts))
    head = _head(person, aspect)
    if head:
        words.append(re.sub(r" \d+°", "", head))
    return "; ".join(words)


def _where(person: Person) -> str:
    """Where the torso is across the picture (the box grows with raised arms; the torso not)."""
    torso = [person.body.get(n) for n in ("neck", "left_hip", "right_hip", "left_shoulder",
                                          "right_shoulder")]  # fmt: skip
    xs = [kp.x for kp in torso if kp is not None]
    if not xs:
        box = extent(person)
        if box is None:
            return ""
        xs = [(box[0] + box[2]) / 2]
    x = sum(xs) / len(xs)
    for limit, words in ((0.2, "on the far left"), (0.4, "on the left"), (0.6, "in the centre"),
                         (0.8, "on the right")):  # fmt: skip
        if x < limit:
            return words
    return "on the far right"


def _angle(person: Person, limb: str, aspect: float) -> float | None:
    return kin.joint_angle(person, kin.LIMBS[limb], aspect)


def _bend(angle: float | None, joint: str) -> str:
    if angle is None:
        return ""
    bent = abs(angle)
    word = (
        "straight"
        if bent < 20
        else "slightly bent"
        if bent < 40
        else "bent"
        if bent < 120
        else "sharply bent"
    )
    return f"{joint} {word}"


def _arm(person: Person, side: str, aspect: float) -> str:
    shoulder = _angle(person, f"{side}_upper_arm", aspect)
    if shoulder is None:
        return f"{side} arm not seen"
    profile = kin.view(person, aspect) in ("left", "right")
    if shoulder < -20:
        word = "reaching back" if profile else "across the body"
    elif shoulder < 25:
        word = "down"
    elif shoulder < 65:
        word = "held forward, low" if profile else "slightly away from the body"
    elif shoulder < 115:
        word = "held forward" if profile else "out to the side"
    elif shoulder < 150:
        word = "raised"
    else:
        word = "raised straight up"
    elbow = _angle(person, f"{side}_forearm", aspect)
    parts = [f"{side} arm {word}"]
    bend = _bend(elbow, "elbow")
    if bend:
        parts.append(bend)
    wrist, nose = person.body.get(f"{side}_wrist"), person.body.get("nose")  # type: ignore[call-overload]
    if wrist is not None and nose is not None and wrist.y < nose.y:
        parts.append("hand above the head")
    numbers = f"shoulder {shoulder:.0f}°" + (f", elbow {elbow:.0f}°" if elbow is not None else "")
    return f"{', '.join(parts)} ({numbers})"


def _leg(person: Person, side: str, aspect: float) -> str:
    hip = _angle(person, f"{side}_thigh", aspect)
    if hip is None:
        return f"{side} leg not seen"
    profile = kin.view(person, aspect) in ("left", "right")
    knee = _angle(person, f"{side}_shin", aspect)
    bent = knee is not None and abs(knee) >= 20
    if profile:  # the words of the commands: 'raise the left leg', 'kick', 'step forward'
        word = (
            "back"
            if hip < -15
            else "down"
            if hip < 20
            else "stepping forward"
            if hip < 40
            else "raised"
            if bent
            else "kicked forward"
        )
    else:
        word = (
            "crossed"
            if hip < -8
            else "down"
            if hip < 15
            else "raised"
            if bent
            else "slightly apart"
            if hip < 35
            else "kicked out to the side"
        )
    bend = _bend(knee, "knee")
    numbers = f"hip {hip:.0f}°" + (f", knee {knee:.0f}°" if knee is not None else "")
    return f"{side} leg {word}{', ' + bend if bend else ''} ({numbers})"


def posture_words(person: Person, aspect: float) -> list[str]:
    """What the whole body does, in the words of the commands that make it: 'kneeling',
    'sitting', 'arms crossed', 'left hand on the head', 'head turned to their right', 'leaning
    to their left'. Empty for someone standing at ease."""
    try:
        frame = ik.frame(person, aspect, 1)
    except EditError:
        return []
    found = (
        _legs_posture(person, aspect, frame),
        *_hands_at(person, aspect, frame),
        _turned(person, aspect, frame),
        _leaning(frame, person, aspect),
    )
    return [w for w in found if w]


def _legs_posture(person: Person, aspect: float, frame: ik.Frame) -> str:
    knees = {s: kin.point(person, f"{s}_knee", aspect) for s in ("left", "right")}
    ankles = [p for s in ("left", "right") if (p := kin.point(person, f"{s}_ankle", aspect))]
    if ankles and all(knees.values()):
        ground = max(p[1] for p in ankles)
        low = [s for s, p in knees.items() if p is not None and p[1] >= ground - 0.05 * frame.torso]
        if len(low) == 2:
            return "kneeling"
        if len(low) == 1:
            return f"kneeling on the {low[0]} knee"
    hips = [_angle(person, f"{s}_thigh", aspect) for s in ("left", "right")]
    shins = [_angle(person, f"{s}_shin", aspect) for s in ("left", "right")]
    if None in hips or None in shins:
        return ""
    if frame.view in ("left", "right"):
        if min(hips) >= 100 and min(shins) >= 100:  # type: ignore[type-var]
            return "squatting"
        if min(hips) >= 60 and min(shins) >= 60:  # type: ignore[type-var]
            return "sitting"
    elif min(hips) >= 30 and min(shins) >= 60:  # type: ignore[type-var]
        return "squatting"
    return ""


def _hands_at(person: Person, aspect: float, frame: ik.Frame) -> list[str]:
    near = 0.025 * math.hypot(aspect, 1.0)
    wrists = {s: kin.point(person, f"{s}_wrist", aspect) for s in ("left", "right")}
    if all(wrists.values()):
        left, right = wrists["left"], wrists["right"]
        across = g.dot(g.sub(left, right), frame.left)  # type: ignore[arg-type]
        chest = g.add(frame.neck, g.mul(frame.up, -0.4 * frame.torso))
        if (frame.view in ("camera", "away") and across < -0.1 * frame.torso
                and g.length(g.sub(g.mid(left, right), chest)) < 0.3 * frame.torso):  # type: ignore[arg-type]  # fmt: skip
            return ["arms crossed"]
        if frame.view in ("camera", "away") and g.length(g.sub(left, right)) < near:  # type: ignore[arg-type]
            return ["hands together"]
        if all(g.length(g.sub(w, frame.head)) < 1.5 * frame.head_radius  # type: ignore[arg-type]
               for w in (left, right)):  # fmt: skip
            return ["hands behind the head"]
    said = []
    for side, wrist in wrists.items():
        if wrist is None:
            continue
        for part in ("head", "face", "chest", f"{_other(side)}_shoulder", "belly",
                     f"{_other(side)}_hip", f"{_other(side)}_knee"):  # fmt: skip
            try:
                target = ik.body_target(person, part, side, aspect, 1)  # type: ignore[arg-type]
            except EditError:
                continue
            if g.length(g.sub(wrist, target)) < near:
                said.append(f"{side} hand on the {part.replace('_', ' ')}")
                break
    return said


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _turned(person: Person, aspect: float, frame: ik.Frame) -> str:
    """Turned (the face slid sideways, its eye line level), as 'turn her head to the right'."""
    nose = kin.point(person, "nose", aspect)
    eyes = [kin.point(person, f"{s}_eye", aspect) for s in ("left", "right")]
    if nose is None:
        return ""
    if all(eyes):
        line = g.sub(eyes[0], eyes[1])  # type: ignore[arg-type]
        if abs(g.angle_between(line, frame.left if g.dot(line, frame.left) >= 0 else g.mul(
                frame.left, -1.0))) > 10:  # fmt: skip
            return ""  # tilted, not turned
    if frame.view not in ("camera", "away"):
        return ""
    off = g.dot(g.sub(nose, frame.neck), frame.left)
    if abs(off) < 0.06 * frame.torso:
        return ""
    return f"head turned to their {'left' if off > 0 else 'right'}"


def _leaning(frame: ik.Frame, person: Person, aspect: float) -> str:
    """Leaning, as 'lean to the left' / 'lean forward' say it."""
    upright = (0.0, -1.0)
    tilt = g.angle_between(upright, frame.up)  # counter-clockwise: the top towards the left
    if abs(tilt) < 8:
        return ""
    top_to = g.turn(upright, 90.0 if tilt > 0 else -90.0)  # where the top has gone
    if frame.view in ("camera", "away"):
        side = "left" if g.dot(top_to, frame.left) > 0 else "right"
        return f"leaning to their {side}"
    forward = g.dot(top_to, frame.left) > 0
    return "bent over" if abs(tilt) >= 50 and forward else (
        f"leaning {'forward' if forward else 'back'}")  # fmt: skip


def _head(person: Person, aspect: float) -> str:
    try:
        if _turned(person, aspect, ik.frame(person, aspect, 1)):
            return ""  # a turned head is said by posture_words
    except EditError:
        pass
    tilt = _angle(person, "head", aspect)
    if tilt is None or abs(tilt) < 12:
        return ""
    nose, neck = person.body.get("nose"), person.body.get("neck")
    towards = ""
    if nose is not None and neck is not None and abs(nose.x - neck.x) > 0.005:
        towards = " towards the picture's " + ("left" if nose.x < neck.x else "right")
    return f"head tilted {abs(tilt):.0f}°{towards}"


def _expression(person: Person) -> str:
    if not person.expression:
        return ""
    strong = [k for k, v in sorted(person.expression.items(), key=lambda kv: -kv[1]) if v >= 0.5]
    if not strong:
        top = max(person.expression, key=person.expression.__getitem__)
        return f"face: a hint of {EXPRESSION_WORDS.get(top, top)}"
    return ", ".join(EXPRESSION_WORDS.get(k, k.replace("_", " ")) for k in strong)


def _hands(person: Person) -> str:
    said = []
    for side in ("left", "right"):
        hand = person.hands.get(side)  # type: ignore[call-overload]
        if hand is None:
            continue
        if hand.gestures:
            top = max(hand.gestures, key=hand.gestures.__getitem__)
            said.append(f"{side} {GESTURE_WORDS.get(top, top.replace('_', ' '))}")
        elif hand.keypoints:
            said.append(f"{side} seen ({len(hand.keypoints)} points)")
    return "hands: " + ", ".join(said) if said else ""


# --- small helpers -------------------------------------------------------------------------


def _box(box) -> str:
    return f"({box.x0:.2f},{box.y0:.2f})–({box.x1:.2f},{box.y1:.2f})"


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")
