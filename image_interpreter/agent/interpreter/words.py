"""The vocabulary: numbers written as words, synonyms of verbs, and the names users give to
priors, limbs, joints, styles and times of day.

Everything here is a plain table or a regex fragment; the rules compose the fragments into
patterns compiled once at import, so matching a message is only regex work.
"""

from __future__ import annotations

import re

# --- numbers ----------------------------------------------------------------------------------

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}  # fmt: skip
SPECIAL = {"a couple": 2, "a couple of": 2, "a pair of": 2, "a few": 3, "a dozen": 12,
           "a hundred": 100, "one hundred": 100, "a single": 1, "an": 1, "a": 1}  # fmt: skip

_UNIT_WORDS = "|".join(sorted((w for w in UNITS if w != "zero"), key=len, reverse=True))
_TEN_WORDS = "|".join(TENS)
NUMBER_WORD = (
    rf"(?:(?:{_TEN_WORDS})(?:[- ](?:{_UNIT_WORDS}))?|zero|{_UNIT_WORDS}"
    r"|a couple(?: of)?|a pair of|a few|a dozen|(?:a|one) hundred)"
)
NUM = rf"(?:[-+]?\d+(?:\.\d+)?|\.\d+|{NUMBER_WORD})"
INT = rf"(?:\d+|{NUMBER_WORD})"

ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
ORDINAL = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|\d+(?:st|nd|rd|th))"
)


def number(text: str) -> float:
    """'30', '0.5', 'thirty', 'twenty-five', 'a couple' -> the number."""
    t = " ".join(re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.strip().lower()).split())
    if t in SPECIAL:
        return float(SPECIAL[t])
    try:
        return float(t)
    except ValueError:
        pass
    if t in UNITS:
        return float(UNITS[t])
    tens, _, unit = t.partition(" ")
    if tens in TENS:
        return float(TENS[tens] + (UNITS[unit] if unit else 0))
    raise ValueError(f"not a number: {text!r}")


def integer(text: str) -> int:
    return round(number(text))


def ordinal(text: str, count: int | None = None) -> int | None:
    """'second' -> 2, '3rd' -> 3, 'last' -> count (None when the count is unknown)."""
    t = text.strip().lower()
    if t == "last":
        return count
    if t in ORDINALS:
        return ORDINALS[t]
    return int(re.sub(r"\D", "", t))


# --- verbs ------------------------------------------------------------------------------------

DISABLE = (
    r"(?:drop|ignore|turn off|switch off|remove|disable|don'?t use|do not use|stop using|skip"
    r"|deactivate|get rid of|lose|mute|forget|leave out|no|without|no more)"
)
ENABLE = (
    r"(?:use|enable|turn on|switch on|bring back|re-?enable|activate|add back|put back|restore"
    r"|keep|start using|include)"
)
REMOVE = r"(?:remove|delete|erase|get rid of|take out|take away|cut out|lose|drop|eliminate)"

# --- priors -----------------------------------------------------------------------------------

PRIOR_NAMES: dict[str, str] = {
    "caption": "caption", "description": "caption", "prompt": "caption", "text prior": "caption",
    "caption prior": "caption",
    "pose": "people", "poses": "people", "skeleton": "people", "skeletons": "people",
    "openpose": "people", "pose map": "people", "pose prior": "people",
    "people prior": "people", "pose control": "people", "pose controlnet": "people",
    "depth": "depth", "depth map": "depth", "depth prior": "depth", "depth control": "depth",
    "depth controlnet": "depth",
    "objects": "objects", "object prior": "objects", "objects prior": "objects",
    "object detection": "objects", "object boxes": "objects",
    "segmentation": "segmentation", "segmentation map": "segmentation",
    "seg map": "segmentation", "segments": "segmentation", "seg": "segmentation",
    "segmentation prior": "segmentation", "segmentation control": "segmentation",
    "edges": "edges", "edge": "edges", "edge map": "edges", "edge maps": "edges",
    "depth maps": "depth", "edge prior": "edges", "edges prior": "edges",
    "canny": "edges", "canny edges": "edges", "lineart": "edges", "outlines": "edges",
    "edge control": "edges", "line art": "edges", "lines": "edges",
    "palette": "palette", "color palette": "palette", "colour palette": "palette",
    "palette prior": "palette",
}  # fmt: skip


def alternatives(words: object) -> str:
    """A regex alternation of phrases, longest first, any whitespace between words."""
    ordered = sorted(words, key=len, reverse=True)  # type: ignore[call-overload]
    return "|".join(re.escape(w).replace("\\ ", " ").replace(" ", r"\s+") for w in ordered)


def prior_kind(text: str) -> str:
    return PRIOR_NAMES[" ".join(text.lower().split())]


# --- bodies -----------------------------------------------------------------------------------

# limb words -> (RotateLimb limb name without side, sided?)
LIMB_WORDS: dict[str, str] = {
    "upper arm": "upper_arm", "arm": "upper_arm", "shoulder": "upper_arm",
    "forearm": "forearm", "lower arm": "forearm", "elbow": "forearm",
    "hand": "hand", "wrist": "hand",
    "thigh": "thigh", "upper leg": "thigh", "leg": "thigh", "hip": "thigh",
    "shin": "shin", "lower leg": "shin", "calf": "shin", "knee": "shin",
    "head": "head", "neck": "head",
}  # fmt: skip
LIMB = rf"(?P<limb>{alternatives([*LIMB_WORDS, *(w + 's' for w in LIMB_WORDS)])})"

# Words that name a part of a body: a clause with one is about a pose, never an object to
# replace or free text for the caption (what no pose rule reads is reported as not understood).
BODY_WORDS = frozenset(
    (  # noqa: SIM905  (a word list reads better as words)
        "arm arms hand hands leg legs foot feet knee knees elbow elbows shoulder shoulders hip"
        " hips head face neck wrist wrists ankle ankles thigh thighs shin shins chest torso"
        " forearm forearms finger fingers toes toe heel heels waist belly stomach chin palm"
        " palms fist fists eyebrows eyes"
    ).split()
)


def names_body_part(text: str) -> bool:
    return any(word in BODY_WORDS for word in re.findall(r"[a-z]+", text.lower()))


JOINT_WORDS: dict[str, str] = {
    "wrist": "wrist", "hand": "wrist", "elbow": "elbow", "shoulder": "shoulder",
    "hip": "hip", "knee": "knee", "ankle": "ankle", "foot": "ankle", "heel": "heel",
    "eye": "eye", "ear": "ear", "head": "nose", "nose": "nose", "neck": "neck",
}  # fmt: skip
UNSIDED_JOINTS = {"nose", "neck"}
JOINT = rf"(?P<joint>{alternatives(JOINT_WORDS)})"

# --- faces and hands -------------------------------------------------------------------------

GESTURE_WORDS: dict[str, str] = {
    "fist": "fist", "a fist": "fist", "clenched fist": "fist", "a clenched fist": "fist",
    "open palm": "open_palm", "an open palm": "open_palm", "open hand": "open_palm",
    "an open hand": "open_palm", "flat hand": "open_palm", "a flat hand": "open_palm",
    "point": "point", "pointing": "point", "pointing finger": "point", "a point": "point",
    "peace sign": "victory", "a peace sign": "victory", "victory": "victory",
    "victory sign": "victory", "a victory sign": "victory", "v sign": "victory",
    "a v sign": "victory", "peace": "victory", "v": "victory",
    "thumbs up": "thumbs_up", "a thumbs up": "thumbs_up", "thumb up": "thumbs_up",
    "thumbs-up": "thumbs_up", "a thumbs-up": "thumbs_up",
    "ok": "ok", "okay": "ok", "ok sign": "ok", "an ok sign": "ok", "okay sign": "ok",
    "an okay sign": "ok", "ok gesture": "ok", "an ok gesture": "ok",
}  # fmt: skip
GESTURE = rf"(?P<gesture>{alternatives(GESTURE_WORDS)})"

# --- styles and times -------------------------------------------------------------------------

STYLES = (
    "watercolor", "watercolour", "oil painting", "painting", "pencil sketch", "sketch",
    "pencil drawing", "drawing", "charcoal drawing", "charcoal", "ink drawing", "anime",
    "manga", "cartoon", "comic", "comic book", "pixel art", "photorealistic", "photo",
    "photograph", "cinematic", "film noir", "noir", "black and white", "black-and-white",
    "monochrome", "sepia", "vintage", "retro", "impressionist", "impressionism", "cubist",
    "pop art", "ukiyo-e", "3d render", "claymation", "low poly", "vaporwave", "cyberpunk",
    "steampunk", "pastel", "neon", "gouache", "acrylic", "fresco", "mosaic", "stained glass",
    "studio ghibli", "pixar", "disney", "art deco", "art nouveau", "surreal", "surrealist",
    "minimalist", "polaroid", "35mm film", "film photo", "digital art", "concept art",
    "illustration", "storybook illustration", "line drawing", "woodcut", "engraving",
    "baroque", "renaissance painting", "fantasy", "dreamy", "moody", "hdr", "tilt-shift",
)  # fmt: skip
STYLE = rf"(?P<style>{alternatives(STYLES)})"

TIMES: dict[str, str] = {
    "night": "night", "nighttime": "night", "night time": "night", "midnight": "midnight",
    "dawn": "dawn", "sunrise": "sunrise", "morning": "morning", "early morning": "early morning",
    "noon": "noon", "midday": "midday", "afternoon": "afternoon", "day": "day",
    "daytime": "day", "day time": "day", "daylight": "day", "golden hour": "golden hour",
    "the golden hour": "golden hour", "blue hour": "blue hour", "the blue hour": "blue hour",
    "sunset": "sunset", "dusk": "dusk", "twilight": "twilight", "evening": "evening",
    "late evening": "late evening", "late afternoon": "late afternoon",
}  # fmt: skip
TIME = rf"(?P<time>{alternatives(TIMES)})"

ASPECT_NAMES = {"square": "square", "portrait": "portrait", "landscape": "landscape",
                "widescreen": "16:9", "wide": "wide", "tall": "tall", "vertical": "portrait",
                "horizontal": "landscape", "panoramic": "wide"}  # fmt: skip
ASPECT = rf"(?P<aspect>\d+(?:\.\d+)?\s*[:/]\s*\d+(?:\.\d+)?|{alternatives(ASPECT_NAMES)})"

# --- politeness -------------------------------------------------------------------------------

FILLER = re.compile(
    r"^(?:(?:please|pls|ok(?:ay)?(?!\s+(?:sign|gesture|hand))|now|so|and|also|then|hey|hi|alright|well|great|cool"
    r"|thanks|thank you|could you|can you|would you|will you|could we|can we|can i"
    r"|could u|can u|would u|will u|pl[sz]|plz"
    r"|would you mind|i(?:'d| would) like (?:you )?to|i want (?:you )?to|i need (?:you )?to"
    r"|let'?s|let us|go ahead and|try to|just|maybe|perhaps|actually|now please)[\s,]+)+",
    re.IGNORECASE,
)
TRAILING = re.compile(
    r"(?:[\s,]+(?:please|pls|plz|thanks|thx|thank you|for me|if you can|if possible|now|too|as well"
    r"|instead))+\s*$|[\s.!?]+$",
    re.IGNORECASE,
)
ARTICLE = re.compile(r"^(?:the|a|an|some|that|this)\s+", re.IGNORECASE)


ASIDES = frozenset(
    (  # noqa: SIM905  (a word list reads better as words)
        "ok okay alright thanks great cool nice good yes yeah sure please hmm hm nope fine"
        " perfect lovely awesome hi hello hey"
    ).split()
) | {
    "thank you", "i don't like it", "i don't like that", "i do not like it", "not quite",
    "that's better", "looks good", "nice one", "well done", "sounds good",
}  # fmt: skip


GERUND_LEAD = re.compile(
    r"^(?:would\s+you\s+mind|could\s+you\s+try|how\s+about|what\s+about|try|consider)\s+"
    r"(?P<verb>[a-z]+ing)\b",
    re.IGNORECASE,
)


def base_form(gerund: str) -> str:
    """'lowering' -> 'lower', 'raising' -> 'raise', 'putting' -> 'put' (a command verb known to
    the clause splitter), else the word as it was."""
    from image_interpreter.agent.interpreter.clauses import VERBS

    stem = gerund.lower().removesuffix("ing")
    for guess in (stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else ""):
        if guess in VERBS:
            return guess
    return gerund


def tidy(clause: str) -> str:
    """Drop politeness and punctuation around a clause: 'please raise her arm!' -> 'raise her
    arm'; an aside alone ('ok', 'thanks', 'I don't like it') leaves nothing to read. Case is
    kept, so free text (a caption) reads as the user wrote it."""
    text = " ".join(clause.replace("’", "'").replace("“", '"').replace("”", '"').split())
    text = GERUND_LEAD.sub(lambda m: base_form(m["verb"]), text)  # 'would you mind lowering'
    previous = None
    while previous != text:
        previous = text
        text = FILLER.sub("", text).strip(" ,")
        text = TRAILING.sub("", text).strip(" ,")
    return "" if text.lower() in ASIDES else text


def strip_article(text: str) -> str:
    return ARTICLE.sub("", text.strip()).strip()


def unquote(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1].strip()
    return t
