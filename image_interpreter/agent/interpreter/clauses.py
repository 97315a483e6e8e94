"""Split a message into clauses: 'raise the left arm and drop the depth map, then undo'.

'then', 'also', ';' and sentence ends always split. 'and' and commas split only where what
follows is a command of its own (it starts with a command verb, or a rule reads it whole), so
'make it black and white' and 'replace the dog with a cat and a bird' stay in one piece, while
'replace the caption with a cat and make it night' is two.
"""

from __future__ import annotations

import re
from collections.abc import Callable

STRONG = re.compile(
    r"\s*(?:;|(?<!\d)\.(?:\s+|$)|!+\s*|\?+\s+|\n+|,?\s+(?:and\s+)?then\s+|,?\s+and\s+also\s+"
    r"|,?\s+also\s+|,?\s+after\s+that,?\s+|,?\s+afterwards,?\s+|,?\s+plus\s+|,?\s+as\s+well\s+as\s+)\s*",
    re.IGNORECASE,
)
WEAK = re.compile(r"(\s*,\s*and\s+|\s*,\s*|\s+and\s+|\s*&\s*|\s+but\s+)", re.IGNORECASE)

VERBS = frozenset(
    (  # noqa: SIM905  (a word list reads better as words)
        "raise lift lower drop put hold bring make set use turn switch replace remove delete"
        " erase get undo redo go generate render draw create show give add move rotate bend"
        " straighten tilt flip mirror duplicate clone copy invert flatten push blur close open"
        " change swap ignore disable enable stop start only keep wave smile frown shift scale"
        " enlarge shrink crop restore revert reset let have increase decrease reduce boost"
        " strengthen weaken seed guidance steps no without avoid exclude try spread stretch"
        " clench point tip lean cock apply exaggerate deepen double halve kick step cross kneel"
        " sit squat stand look nod jump walk run shrug clap hug touch cover scratch fold"
        " uncross shake twist bow"
    ).split()
)


def _starts_command(atom: str) -> bool:
    words = atom.strip().lower().split(maxsplit=1)
    return bool(words) and words[0].strip(",.") in VERBS


def split(message: str, reads_alone: Callable[[str], bool]) -> list[str]:
    """Clauses of `message`; `reads_alone(text)` says whether some rule reads a piece whole."""
    clauses: list[str] = []
    for part in STRONG.split(message):
        part = part.strip(" ,")
        if not part:
            continue
        pieces = WEAK.split(part)
        current = pieces[0]
        for separator, atom in zip(pieces[1::2], pieces[2::2], strict=True):
            whole = current + separator + atom
            if (
                atom.strip()
                and (_starts_command(atom) or reads_alone(atom.strip()))
                and not (not reads_alone(current.strip()) and reads_alone(whole.strip()))
            ):  # 'make the woman and the man hold hands' is one command
                clauses.append(current)
                current = atom
            else:
                current += separator + atom
        clauses.append(current)
    return [c.strip(" ,") for c in clauses if c.strip(" ,")]
