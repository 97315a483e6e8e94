"""Benchmark: chat messages on a 3-person 1024x1024 scene, against the 20 ms target.

    parse   interpret() of a two-command message (priors given, so references are checked);
            one message of the arm presets, and messages of the body vocabulary (kneeling,
            reaching, hands held, head turns: two-bone IK included)
    edit    apply_all() of the actions it produced
    render  the people skeleton via render_controls, with a fresh RenderCache each time so it
            really draws (an unchanged prior would otherwise come from the cache)

Each message is timed on its own; the total is checked per message. `ik.solve` alone (one arm
to the head) is timed too.

Run: uv run python bench/edit.py [--repeat N]   (medians of N runs, default 100)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from image_interpreter.agent.interpreter import interpret
from image_interpreter.priors.edits import EditBase, apply_all, ik
from image_interpreter.priors.examples import example_priorset
from image_interpreter.priors.render import RenderCache, render_controls

TARGET_MS = 20.0
MESSAGES = (
    "raise the left arm of the woman on the right a bit and make the man in the middle smile",
    "the man should kneel and put his left hand on his head",
    "make the woman on the left and the man hold hands",
    "cross the arms of the woman on the right and turn her head to the left",
    "raise the left leg of the man and make the woman on the left lean forward",
)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()

    priors = example_priorset(people=3)
    source = priors.source.model_copy(update={"width": 1024, "height": 1024})
    labels = ("the woman", "the man", "the woman")
    named = [
        p.model_copy(update={"label": n}) for p, n in zip(priors.people.people, labels, strict=True)
    ]
    people = priors.people.model_copy(update={"people": named})
    priors = priors.model_copy(update={"source": source, "people": people})

    worst = 0.0
    for message in MESSAGES:
        worst = max(worst, bench_message(message, priors, args.repeat))
    bench_ik(priors, args.repeat)
    verdict = "within" if worst <= TARGET_MS else "OVER"
    print(f"slowest message: {worst:.3f} ms   {verdict} the {TARGET_MS:g} ms target")


def bench_message(message: str, priors, repeat: int) -> float:
    found = interpret(message, priors)
    edits = [a for a in found.actions if isinstance(a, EditBase)]
    edited = apply_all(edits, priors)
    print(f"message: {message!r}")
    print(f"  -> {'; '.join(a.summary() for a in found.actions)} (confidence {found.confidence})")
    parse = median_ms(lambda: interpret(message, priors), repeat)
    edit = median_ms(lambda: apply_all(edits, priors), repeat)
    render = median_ms(
        lambda: render_controls(edited, kinds=["people"], cache=RenderCache()), repeat
    )
    total = parse + edit + render
    print(f"  {'step':<8} {'median':>10}   (of {repeat}, 3 people, 1024x1024)")
    for name, value in (("parse", parse), ("edit", edit), ("render", render)):
        print(f"  {name:<8} {value:>7.3f} ms")
    verdict = "within" if total <= TARGET_MS else "OVER"
    print(f"  {'total':<8} {total:>7.3f} ms   {verdict} the {TARGET_MS:g} ms target")
    return total


def bench_ik(priors, repeat: int) -> None:
    person = priors.people.people[0]
    aspect = priors.source.width / priors.source.height
    target = ik.body_target(person, "head", "left", aspect, 1)
    solve = median_ms(lambda: ik.solve(person, "arm", "left", target, aspect, [], 1), repeat)
    print(f"IK solve (one arm to the head, both elbow solutions tried): {solve:.3f} ms")


if __name__ == "__main__":
    main()
