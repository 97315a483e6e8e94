"""Who a clause is about: 'the woman on the left', 'him', 'person 2', 'the second person'.

Two meanings of left and right, on purpose:
- where a person is ("the woman on the left", "the leftmost person", "move him to the left") is
  the *picture's* left, as the user looks at it; people are ordered by their box centre (else
  their neck, else the mean of their keypoints);
- a body part ("her left arm", "his right hand") is the *subject's own* left, as in the edits
  and OpenPose: for someone facing the camera their left arm is on the picture's right.

`extract` replaces every reference in a clause by the token `@p` (eating a possessive 's), so
the rules match "raise @p left arm" whoever it is; `Scene.resolve` turns the first reference into
person numbers (1-based, as a user counts), using the labels and positions of the priors when it
has them, and the last person talked about for pronouns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from image_interpreter.agent.interpreter.words import INT, ORDINAL, integer, ordinal
from image_interpreter.priors.schema import Person, PriorSet

TOKEN = "@p"

# noun -> the words in a label that match it
NOUNS: dict[str, frozenset[str]] = {
    "person": frozenset(),  # anyone
    "figure": frozenset(), "subject": frozenset(), "individual": frozenset(),
    "character": frozenset(), "one": frozenset(),
    "woman": frozenset({"woman", "women", "lady", "girl", "female", "mother", "mom", "bride"}),
    "lady": frozenset({"woman", "lady", "girl", "female"}),
    "girl": frozenset({"girl", "woman", "lady", "female", "daughter"}),
    "man": frozenset({"man", "men", "guy", "boy", "gentleman", "male", "father", "dad", "groom"}),
    "guy": frozenset({"man", "guy", "boy", "gentleman", "male"}),
    "gentleman": frozenset({"man", "guy", "gentleman", "male"}),
    "boy": frozenset({"boy", "man", "guy", "male", "son"}),
    "child": frozenset({"child", "kid", "boy", "girl", "baby", "toddler", "son", "daughter"}),
    "kid": frozenset({"child", "kid", "boy", "girl", "baby", "toddler"}),
    "baby": frozenset({"baby", "toddler", "infant"}),
}  # fmt: skip
FEMALE = NOUNS["woman"]
MALE = NOUNS["man"]
_NOUN = "|".join(sorted((n for n in NOUNS if n != "one"), key=len, reverse=True))
_WHERE = (
    r"(?:far\s+)?(?:left|right)(?:(?:-hand)?\s+side)?|middle|center|centre|front|back"
    r"|left\s+side|right\s+side"
)
_POSSESSIVE = r"(?:'s|s'|’s)?"
# What someone wears, to tell people apart: 'the man in the red shirt', 'the woman in blue'.
COLOURS = (
    "red|blue|green|yellow|black|white|grey|gray|pink|purple|orange|brown|beige|navy|striped"
    "|dark|light|gold|silver"
)
GARMENTS = (
    "t-shirt|shirt|dress|hat|cap|coat|jacket|jeans|skirt|suit|sweater|jumper|hoodie|top|scarf"
    "|glasses|sunglasses|uniform|shorts|trousers|pants|blouse|vest|boots|shoes|helmet|apron"
    "|backpack|tie|bag"
)
_WEAR = (
    rf"\s+(?:in|wearing|with)\s+(?:(?:a|an|the)\s+)?(?P<wear>(?:(?:{COLOURS})\s+){{0,2}}"
    rf"(?:{GARMENTS})|(?:{COLOURS}))\b"
)

REFERENCE = re.compile(
    r"\b(?:"
    r"(?P<all>everyone|everybody|all\s+of\s+them|all\s+the\s+people|each\s+person|every\s+person"
    r"|both\s+of\s+them|all\s+(?:three|four|five|two)\s+of\s+them|the\s+people|all\s+people)"
    rf"|(?:the\s+)?(?:person|figure|subject|character|people)\s*(?:#|no\.?\s*|number\s+)?(?P<number>{INT})(?![\w.])"
    rf"|(?:the\s+)?(?P<ordinal>{ORDINAL})(?:\s+(?P<onoun>{_NOUN}|one)"
    r"(?:\s+from\s+the\s+(?P<from>left|right))?|\s+from\s+the\s+(?P<from2>left|right))"
    rf"|(?:the\s+)?(?P<adj>leftmost|rightmost|left-most|right-most|middle|central|center|centre"
    rf"|left|right)\s+(?P<anoun>{_NOUN}|one)"
    r"|(?:the\s+)?other\s+(?P<other>" + _NOUN + r"|one)"
    rf"|(?:the|that|this)\s+(?P<noun>{_NOUN}|one(?=\s+(?:on|in|at|wearing|with)\s))"
    rf"(?:\s+(?:on|at|in)\s+the\s+(?P<where>{_WHERE})|{_WEAR})?"
    r"|(?P<pronoun>him|her|them|he|she|they|his|their|hers|himself|herself|themselves|theirs)"
    r")" + _POSSESSIVE + r"(?![\w@])",
    re.IGNORECASE,
)
_PARTS = (
    r"arms?|hands?|legs?|elbows?|knees?|head|wrists?|foot|feet|shoulders?|eyes|mouth|eyebrows"
    r"|brows|face|fingers|fist|thumbs?|pose|expression|hips?|ankles?|forearms?|thighs?|shins?"
    r"|neck|upper\s+arms?|lower\s+arms?|lower\s+legs?|upper\s+legs?"
)
_OF_TOKEN = re.compile(
    rf"^(?P<head>.*?\b(?:the|a|an)\s+(?:(?:left|right|both)\s+)?(?:{_PARTS}))"
    r"\s+(?:of|for|on)\s+@p(?P<rest>\s.*)?$",
    re.IGNORECASE,
)


_WORD = re.compile(r"[a-z]+")
_TRIGGERS = frozenset(
    [*NOUNS, "people", "everyone", "everybody", "them", "him", "her", "he", "she", "they", "his",
     "their", "hers", "himself", "herself", "themselves", "theirs", "st", "nd", "rd", "th",
     "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
     "tenth", "last"]
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PersonRef:
    """One reference as said; exactly one kind of field is set."""

    text: str
    every: bool = False
    number: int | None = None
    ordinal: str | None = None
    noun: str | None = None
    where: Literal["left", "right", "middle"] | None = None
    pronoun: Literal["male", "female", "neutral"] | None = None
    other: bool = False
    wear: str | None = None  # 'red shirt': words their label must hold


def _where(text: str | None) -> Literal["left", "right", "middle"] | None:
    if not text:
        return None
    t = text.lower()
    if "left" in t:
        return "left"
    if "right" in t:
        return "right"
    if t in ("middle", "center", "centre", "central"):
        return "middle"
    return None


def _ref(m: re.Match[str]) -> PersonRef:
    text = m.group(0)
    if m["all"]:
        return PersonRef(text, every=True)
    if m["number"]:
        return PersonRef(text, number=integer(m["number"]))
    if m["ordinal"]:
        noun = (m["onoun"] or "person").lower()
        side = m["from"] or m["from2"]  # "the second from the left": counted from that side
        return PersonRef(text, ordinal=m["ordinal"].lower(), noun=noun, where=_where(side))
    if m["adj"]:
        return PersonRef(text, noun=m["anoun"].lower(), where=_where(m["adj"]))
    if m["other"]:
        return PersonRef(text, noun=m["other"].lower(), other=True)
    if m["noun"]:
        wear = m["wear"].lower() if m["wear"] else None
        return PersonRef(text, noun=m["noun"].lower(), where=_where(m["where"]), wear=wear)
    word = m["pronoun"].lower()
    if word.startswith(("her", "she")):
        return PersonRef(text, pronoun="female")
    if word.startswith(("him", "he", "his")):
        return PersonRef(text, pronoun="male")
    return PersonRef(text, pronoun="neutral")


def references(clause: str) -> list[PersonRef]:
    """Every person reference of a clause, in order ('the woman on the left and the man')."""
    if _TRIGGERS.isdisjoint(_WORD.findall(clause.lower())):
        return []
    return [_ref(m) for m in REFERENCE.finditer(clause)]


def extract(clause: str) -> tuple[str, PersonRef | None]:
    """The clause with each person reference replaced by `@p`, and the first reference.

    'raise the left arm of the woman' becomes 'raise @p left arm', like 'raise her left arm',
    so a rule has one place for the person, not three."""
    if _TRIGGERS.isdisjoint(_WORD.findall(clause.lower())):
        return clause, None  # most clauses name nobody: skip the big pattern
    refs: list[PersonRef] = []

    def swap(m: re.Match[str]) -> str:
        refs.append(_ref(m))
        return TOKEN

    form = REFERENCE.sub(swap, clause)
    if not refs:
        return clause, None
    moved = _OF_TOKEN.match(form) if form.count(TOKEN) == 1 else None
    if moved is not None:
        head = re.sub(r"\b(?:the|a|an)\s+(?=\S+$|(?:left|right|both)\s)", TOKEN + " ",
                      moved["head"], count=1)  # fmt: skip
        form = head + (moved["rest"] or "")
    return re.sub(r"@p(?:\s+@p)+", TOKEN, form), refs[0]


# --- the scene --------------------------------------------------------------------------------


IMPORT_POSE_HINT = (
    "To pose someone, upload an OpenPose .json file (any OpenPose editor makes one), or say"
    " “try the demo” for a photo with a person ready to edit."
)


def no_people_reason(priors: PriorSet) -> str:
    """Why `priors` hold nobody (the pose extractor was not run, found nobody, or an imported
    file was empty), and how to bring a person in."""
    prior = priors.people
    if prior is None:
        why = (
            "no pose was extracted from this picture (the pose extractor was not run on it, or"
            " it failed: the reply to the photo says which)."
        )
    elif prior.provenance is not None and prior.provenance.extractor == "import":
        why = "the imported OpenPose file has nobody in it."
    else:
        name = prior.provenance.extractor if prior.provenance is not None else "pose"
        model = prior.provenance.model_id if prior.provenance is not None else None
        by = f"{name} ({model})" if model else name
        why = f"the pose extractor, {by}, found nobody in this picture."
    return f"{why} {IMPORT_POSE_HINT}"


def _centre_x(person: Person) -> float | None:
    if person.box is not None:
        return (person.box.x0 + person.box.x1) / 2
    neck = person.body.get("neck")
    if neck is not None:
        return neck.x
    if person.body:
        return sum(kp.x for kp in person.body.values()) / len(person.body)
    return None


def _matches(noun: str, label: str | None) -> bool | None:
    """Does a person labelled `label` fit `noun`? None when the label cannot say."""
    words = NOUNS.get(noun, frozenset())
    if not words:
        return True
    if not label:
        return None
    said = set(re.findall(r"[a-z]+", label.lower()))
    return bool(said & words)


def _wears(wear: str, label: str | None) -> bool:
    """Does a label ('a man in a red shirt') hold every word of `wear` ('red shirt')?"""
    said = set(re.findall(r"[a-z-]+", (label or "").lower()))
    return set(wear.split()) <= said


@dataclass
class Resolved:
    """Person numbers for a reference, how sure, and what the user should be told."""

    numbers: list[int]
    confidence: float = 1.0
    assumption: str | None = None
    problem: str | None = None


@dataclass
class Scene:
    """The people of a PriorSet as the interpreter needs them: count, labels, positions."""

    labels: list[str | None] = field(default_factory=list)
    xs: list[float | None] = field(default_factory=list)
    known: bool = False  # False: no priors, so references cannot be checked
    nobody_because: str = ""  # why there are no people, when there are none

    @classmethod
    def of(cls, priors: PriorSet | None) -> Scene:
        if priors is None:
            return cls()
        people = priors.people.people if priors.people is not None else []
        return cls(
            [p.label for p in people],
            [_centre_x(p) for p in people],
            known=True,
            nobody_because="" if people else no_people_reason(priors),
        )

    @property
    def count(self) -> int:
        return len(self.labels)

    def describe_count(self) -> str:
        n = self.count
        if n == 0:
            return "there are no people in this picture"
        which = "person 1" if n == 1 else f"people 1 to {n}"
        many = f"is {n} person" if n == 1 else f"are {n} people"
        return f"there {many} in this picture ({which})"

    def _by_x(self, numbers: list[int]) -> list[int]:
        return sorted(numbers, key=lambda n: (self.xs[n - 1] is None, self.xs[n - 1] or 0.0, n))

    def resolve(self, ref: PersonRef | None, last: int | None) -> Resolved:
        """Person numbers for `ref` (None: nobody named, so the person talked about)."""
        if not self.known:
            return self._blind(ref, last)
        if self.count == 0:
            return Resolved(
                [1],
                0.3,
                problem="There is nobody to edit: " + self.nobody_because,
            )
        everyone = list(range(1, self.count + 1))
        if ref is None:
            return self._default(last, everyone, "")
        if ref.every:
            return Resolved(everyone)
        if ref.number is not None:
            return self._check(ref.number, ref.text)
        if ref.pronoun is not None:
            return self._pronoun(ref, last, everyone)
        fitting = [n for n in everyone if _matches(ref.noun or "person", self.labels[n - 1])]
        if ref.wear:
            wearing = [n for n in fitting if _wears(ref.wear, self.labels[n - 1])]
            if not wearing:
                return Resolved(
                    [fitting[0] if fitting else 1], 0.3,
                    problem=f"No one here is labelled as wearing {ref.wear}: {self._listing()}.",
                )  # fmt: skip
            fitting = wearing
        if not fitting and ref.noun in NOUNS and NOUNS[ref.noun]:
            unknown = [n for n in everyone if self.labels[n - 1] is None]
            fitting = unknown  # unlabelled people may be anyone
            if not fitting:
                return Resolved(
                    [1], 0.3, problem=f"No one here is labelled as a {ref.noun}: {self._listing()}."
                )
        if ref.other:
            rest = [n for n in fitting if n != last] if last else fitting
            if len(rest) == 1:
                return Resolved(rest)
            return Resolved(
                [rest[0] if rest else 1],
                0.6,
                assumption=f"“{ref.text}” is person {rest[0] if rest else 1}",
            )
        if ref.ordinal is not None:
            order = self._by_x(fitting) if ref.where else fitting
            if ref.where == "right":
                order = order[::-1]
            k = ordinal(ref.ordinal, len(order))
            if k is None or not 1 <= k <= len(order):
                return Resolved(
                    [1], 0.3, problem=f"There is no {ref.text}: {self.describe_count()}."
                )
            return Resolved([order[k - 1]])
        if ref.where is not None:
            if len(fitting) == 1 and self.count == 1:
                return Resolved(fitting)
            order = self._by_x(fitting)
            if ref.where == "left":
                return Resolved([order[0]])
            if ref.where == "right":
                return Resolved([order[-1]])
            if len(order) % 2 == 1:
                return Resolved([order[len(order) // 2]])
            return Resolved(
                [order[len(order) // 2]],
                0.6,
                assumption=f"“{ref.text}” is person {order[len(order) // 2]}",
            )
        if len(fitting) == 1:
            return Resolved(fitting)
        return self._default(last, fitting, ref.text)

    def _check(self, number: int, text: str) -> Resolved:
        if 1 <= number <= self.count:
            return Resolved([number])
        return Resolved(
            [number], 0.3, problem=f"There is no {text.strip()}: {self.describe_count()}."
        )

    def _pronoun(self, ref: PersonRef, last: int | None, everyone: list[int]) -> Resolved:
        gendered = (
            None if ref.pronoun == "neutral" else (FEMALE if ref.pronoun == "female" else MALE)
        )
        if gendered is not None and any(self.labels):
            fitting = [
                n
                for n in everyone
                if _matches("woman" if ref.pronoun == "female" else "man", self.labels[n - 1])
            ]
            if last in fitting:
                return Resolved([last])  # type: ignore[list-item]
            if len(fitting) == 1:
                return Resolved(fitting)
        return self._default(last, everyone, ref.text)

    def _default(self, last: int | None, candidates: list[int], text: str) -> Resolved:
        if last is not None and 1 <= last <= self.count and last in candidates:
            return Resolved([last])
        if len(candidates) == 1:
            return Resolved(candidates)
        said = f"“{text}”" if text else "that"
        return Resolved(
            [candidates[0]],
            0.6,
            assumption=f"{said} is person {candidates[0]} ({self.describe_count()}; say"
            " “person 2” or “the one on the right” for another)",
        )

    def _blind(self, ref: PersonRef | None, last: int | None) -> Resolved:
        """Without priors: numbers as said, else the last person talked about, else person 1."""
        if ref is not None and ref.number is not None:
            return Resolved([ref.number])
        if ref is not None and ref.ordinal is not None and ref.ordinal != "last" and not ref.where:
            return Resolved([ordinal(ref.ordinal) or 1])
        if ref is not None and (
            ref.where is not None or ref.ordinal is not None or ref.other or ref.every
        ):
            n = last or 1
            return Resolved(
                [n],
                0.6,
                assumption=f"“{ref.text}” is person {n} (without the priors I cannot see where"
                " people are)",
            )
        return Resolved([last or 1])

    def _listing(self) -> str:
        return ", ".join(
            f"person {i} ({label or 'unlabelled'})" for i, label in enumerate(self.labels, 1)
        )


def last_person(history: object) -> int | None:
    """The last person a conversation referred to: from Interpretations (their `last_person`),
    or stored edits (dicts with 'actions' or a 'person'), newest last."""
    if not history:
        return None
    for item in reversed(list(history)):  # type: ignore[call-overload]
        found = getattr(item, "last_person", None)
        if found is not None:
            return int(found)
        data = item if isinstance(item, dict) else getattr(item, "edit", None)
        if isinstance(data, dict):
            actions = data.get("actions", [data])
            for action in reversed(actions if isinstance(actions, list) else []):
                if isinstance(action, dict) and isinstance(action.get("person"), int):
                    return action["person"]
    return None
