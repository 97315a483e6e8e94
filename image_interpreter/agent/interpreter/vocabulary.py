"""The words the interpreter knows, gathered from its rules' patterns and tables: to say which
words of a message it did not understand, to offer the closest commands it can do, and to read
a typo ('rasie', 'trun', 'rigth') as the known word one keystroke away.
"""

from __future__ import annotations

import functools
import re

from image_interpreter.agent.interpreter import words
from image_interpreter.agent.interpreter.people import NOUNS
from image_interpreter.agent.interpreter.rules import RULES

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Words any sentence may hold; never worth reporting as 'not understood'.
COMMON = frozenset(
    (  # noqa: SIM905  (a word list reads better as words)
        "a an the this that these those it its is are be been to of in on at by for with and or"
        " but her his him she he they them their my me i you your we our us one some any all"
        " both each other please so just very too also then now can could would should will"
        " do does did don't not no make let have has"
    ).split()
)

# Commands to offer, by the words that suggest them.
SUGGESTIONS: tuple[str, ...] = (
    "raise the left arm", "lower both arms", "bend the right elbow", "hands on hips",
    "wave with the left hand", "put the left hand on the head",
    "touch the left knee with the right hand", "point at the dog", "raise the left leg",
    "kick with the right leg", "kick sideways with the left leg",
    "step forward with the left foot", "bend the knees", "kneel", "sit down", "squat",
    "stand up", "cross the legs", "turn her head to the right", "tilt her head to the left",
    "look up", "look down", "nod", "lean to the left", "lean forward", "bend over",
    "turn the shoulders to the left", "jump", "walk", "run", "cross the arms",
    "hands behind the head", "shrug", "clap", "hug", "they hold hands", "shake hands",
    "make him smile", "close her eyes", "thumbs up", "make a fist with the right hand",
    "move the man to the left", "make her bigger", "drop the depth map",
    "make the pose stronger", "replace the dog with a cat", "make it a watercolor",
)  # fmt: skip


@functools.cache
def known() -> frozenset[str]:
    """Every word some rule or table spells out."""
    found: set[str] = set(COMMON)
    for entry in RULES.values():
        for pattern in entry.patterns:
            source = re.sub(r"\\[a-zA-Z]", " ", pattern.pattern)  # \s, \w are not words
            found.update(w for w in re.findall(r"[a-z]+", source) if len(w) > 1)
    tables = (words.UNITS, words.TENS, words.ORDINALS, words.PRIOR_NAMES, words.LIMB_WORDS,
              words.JOINT_WORDS, words.GESTURE_WORDS, words.TIMES, NOUNS)  # fmt: skip
    for table in tables:
        for phrase in table:
            found.update(re.findall(r"[a-z]+", phrase.lower()))
    for style in words.STYLES:
        found.update(re.findall(r"[a-z]+", style))
    found |= words.BODY_WORDS
    return frozenset(found)


def unknown_words(clause: str) -> list[str]:
    """The words of `clause` no rule knows, in order, once each."""
    seen: list[str] = []
    for word in _WORD.findall(clause.lower()):
        if word not in known() and word.replace("'", "") not in known() and word not in seen:
            seen.append(word)
    return seen


def closest(clause: str, n: int = 3) -> list[str]:
    """Up to `n` commands that resemble `clause`: those sharing its body part, prior or verb
    first, then the most alike in spelling."""
    said = set(_WORD.findall(clause.lower())) - COMMON
    singular = {w.rstrip("s") for w in said}

    stems = {w[:4] for w in said}

    def score(example: str) -> tuple[int, int, int]:
        words_ = set(example.split()) - COMMON
        shared = len(said & words_) + len(singular & {w.rstrip("s") for w in words_})
        return shared, len(stems & {w[:4] for w in words_}), -len(example)

    ranked = sorted(SUGGESTIONS, key=score, reverse=True)
    return ranked[:n]


# --- typos -----------------------------------------------------------------------------------


def _one_edit_away(a: str, b: str) -> bool:
    """One letter changed, added, dropped, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _deletions(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


@functools.cache
def _by_deletion() -> dict[str, tuple[str, ...]]:
    """Known words by each spelling with one letter left out: two words one keystroke apart
    share one (a symmetric-delete index), so a typo finds its candidates without a scan."""
    table: dict[str, set[str]] = {}
    for word in known():
        if len(word) >= 3 and word.isalpha():
            for variant in _deletions(word):
                table.setdefault(variant, set()).add(word)
    return {k: tuple(sorted(v)) for k, v in table.items()}


def correction(word: str) -> str | None:
    """The known word `word` is most likely a typo of (one keystroke away, the same first
    letter preferred), or None."""
    w = word.lower()
    if len(w) < 4 or w in known() or not w.isalpha():
        return None
    table = _by_deletion()
    found = {c for v in _deletions(w) for c in table.get(v, ())}
    candidates = [c for c in found if _one_edit_away(w, c)]
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0] != w[0], sorted(c) != sorted(w), c))
    return candidates[0]


def corrected(text: str) -> tuple[str, list[str]]:
    """`text` with typos of known words corrected, and what was read as what."""
    notes: list[str] = []

    def fix(m: re.Match[str]) -> str:
        found = correction(m.group(0))
        if found is None:
            return m.group(0)
        notes.append(f"read “{m.group(0)}” as “{found}”")
        return found

    return re.sub(r"[A-Za-z]+", fix, text), notes
