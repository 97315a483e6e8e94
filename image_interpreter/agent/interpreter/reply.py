"""What to tell the user: what was understood and done, or what was not understood, with
examples of what can be said (by family, so the help stays in step with the rules)."""

from __future__ import annotations

from image_interpreter.agent.interpreter import vocabulary
from image_interpreter.agent.interpreter.result import Parsed

EXAMPLES: dict[str, tuple[str, ...]] = {
    "pose": ("raise her left arm a bit", "lower both arms", "hands on hips",
             "bend his right elbow", "tilt her head to the left", "wave"),
    "body": ("raise the left leg", "kneel", "sit down", "turn her head to the right",
             "look up", "lean forward", "jump", "cross the arms",
             "put the left hand on the head", "point at the dog", "they hold hands"),
    "hands and face": ("make him smile", "close her eyes", "make a fist with the right hand",
                       "thumbs up", "peace sign"),
    "people": ("move the man to the left", "make her bigger", "mirror the pose",
               "remove the second person", "duplicate the person"),
    "priors": ("drop the depth map", "use the edges again", "make the pose stronger",
               "depth weight 0.5", "only use the pose for the first half"),
    "words": ("make it a watercolor", "at sunset", "replace the caption with a cat on a sofa",
              "no people in the background"),
    "objects": ("replace the dog with a cat", "remove the car", "get rid of the umbrella"),
    "depth": ("flatten the depth", "push the background back", "invert the depth"),
    "settings": ("make it 16:9", "seed 42", "30 steps", "guidance 9", "four candidates"),
    "history": ("undo", "redo", "go back to version 3", "make three variations",
                "show the priors"),
}  # fmt: skip


def help_text() -> str:
    lines = ["I can change the priors and settings. For example:"]
    for family, examples in EXAMPLES.items():
        lines.append(f"  {family}: " + "; ".join(f"“{e}”" for e in examples))
    lines.append(
        "Several commands in one message work too: “raise the left arm and drop the depth map”."
    )
    return "\n".join(lines)


def not_understood(unparsed: list[str]) -> str:
    """Which words were not understood, and the closest things that can be done."""
    unknown = [w for clause in unparsed for w in vocabulary.unknown_words(clause)]
    if unknown:
        what = "The words I do not know: " + ", ".join(f"“{w}”" for w in dict.fromkeys(unknown))
    else:
        what = "I know each of those words, but not said that way"
    near = [e for clause in unparsed for e in vocabulary.closest(clause)]
    offer = ", ".join(f"“{e}”" for e in dict.fromkeys(near))
    return f"{what}. The closest things I can do: {offer}."


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def compose(
    parsed: list[Parsed], unparsed: list[str], problems: list[str], assumptions: list[str]
) -> str:
    """The reply for an interpretation, before anything is applied."""
    done = [a.summary() for p in parsed for a in p.actions]
    if not parsed and not unparsed:
        return "Tell me what to change. " + help_text()
    if not parsed:
        said = ", ".join(f"“{u}”" for u in unparsed)
        return f"Sorry, I did not understand {said}. {not_understood(unparsed)}\n" + help_text()
    parts = []
    if done and (problems or unparsed):
        parts.append("I read this as: " + "; ".join(done) + ".")
    elif done:
        parts.append(_sentence("; ".join(done)))
    if unparsed:
        said = ", ".join(f"“{u}”" for u in unparsed)
        parts.append(
            f"I did not understand {said}, so I have not done anything yet: rephrase it or"
            " leave it out."
        )
        parts.append(not_understood(unparsed))
        parts.append(help_text())
    parts.extend(_sentence(p) for p in problems)
    if assumptions and not unparsed:
        parts.append("Assumed: " + "; ".join(assumptions) + ".")
    if any(a.op == "help" for p in parsed for a in p.actions) and not unparsed:
        parts.append(help_text())
    return " ".join(parts[:1]) + ("\n" + "\n".join(parts[1:]) if len(parts) > 1 else "")
