"""Prompts are files shipped with the package, filled in one place."""

import pytest

from image_interpreter.errors import ImageInterpreterError
from image_interpreter.prompts import load_prompt


def test_system_prompt_is_filled_with_the_priors_summary():
    text = load_prompt("system", priors="person 1: left arm raised")
    assert "person 1: left arm raised" in text
    assert "subject's own left" in text
    assert "$" not in text


def test_an_unfilled_placeholder_is_an_error_not_a_literal():
    with pytest.raises(ImageInterpreterError, match=r"\$priors"):
        load_prompt("system")


def test_unknown_prompt_lists_the_known_ones():
    with pytest.raises(ImageInterpreterError, match="system"):
        load_prompt("nonexistent")
