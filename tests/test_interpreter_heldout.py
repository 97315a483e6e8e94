"""The held-out phrasings (tests/data/interpreter_heldout.yaml): written before the issue-13
interpreter work and never tuned against, they measure how far the interpreter generalises.
The score is printed (run with -s) and must not fall below the floor recorded in the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from test_interpreter import expected, got, read

PATH = Path(__file__).parent / "data" / "interpreter_heldout.yaml"
HELDOUT = yaml.safe_load(PATH.read_text("utf-8"))


def score(entries: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """How many entries are read exactly right; an expectation naming an action the
    interpreter's language lacks counts as wrong."""
    wrong = []
    for entry in entries:
        try:
            want = expected(entry["actions"])
        except ValidationError:
            wrong.append(f"  {entry['text']!r}: an action the language lacks")
            continue
        found = read(entry)
        if got(found) != want:
            wrong.append(f"  {entry['text']!r}\n    want {want}\n    got  {got(found)}")
    return len(entries) - len(wrong), wrong


def test_the_header_counts_the_phrasings():
    count = re.search(r"^# phrasings: (\d+)$", PATH.read_text("utf-8"), re.M)
    assert count is not None and int(count[1]) == len(HELDOUT)


def test_every_expected_action_is_in_the_language():
    for entry in HELDOUT:
        expected(entry["actions"])


def test_the_heldout_score_holds():
    right, wrong = score(HELDOUT)
    print(f"held-out corpus: {right}/{len(HELDOUT)} exact ({right / len(HELDOUT):.1%})")
    print("\n".join(wrong))
    floor = re.search(r"^# floor: (\d+)$", PATH.read_text("utf-8"), re.M)
    assert floor is not None, "the file records the floor the score must keep"
    assert right >= int(floor[1]), "\n".join(wrong)
