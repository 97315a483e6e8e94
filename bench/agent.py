"""Benchmark: the agent loop's own cost per turn, and how much of a session the fast path takes.

A 20-turn session (the woman of tests/dialogues/scenes, tiny profile, CPU) mixes commands the
built-in interpreter reads with requests a scripted chat model answers with real tool calls
(edits, extraction, choosing a candidate, history). Every turn is checked as in a dialogue test,
so the figures are of a session that did what it should.

    overhead  a turn's total time minus the time spent inside models (extraction, generation,
              ranking: the Toolbox's model_seconds): interpretation, the loop, the scripted
              model's LangChain round trips, tool wrappers, session reads and writes (SQLite)
    split     the loop's own record per turn: interpret, llm (the scripted model: its cost is
              the loop's, not a model's), tools (without model time)
    fast path the share of turns the interpreter handled without an LLM call

One untimed run loads the models first; then medians over --runs fresh sessions.

Run: uv run python bench/agent.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from image_interpreter.agent.dialogue import Dialogue, Runtime, run_dialogue
from image_interpreter.settings import load_settings

SCENES = Path(__file__).resolve().parents[1] / "tests" / "dialogues" / "scenes"


def llm(*steps: dict) -> list[dict]:
    return [*steps]


def call(name: str, **args: object) -> dict:
    return {"tool_calls": [{"name": name, "args": args}]}


TURNS: list[dict] = [
    {"user": "raise her left arm"},
    {"user": "make her smile"},
    {
        "user": "make it feel like a rainy evening in Paris",
        "model": llm(
            call(
                "apply_edits",
                edits=[
                    {"op": "set_time_of_day", "time": "evening"},
                    {"op": "amend_caption", "text": "in the rain on a Paris street"},
                ],
            ),
            {"say": "It is a rainy evening in Paris now."},
        ),
    },
    {"user": "turn off the pose"},
    {"user": "turn the pose back on"},
    {"user": "undo"},
    {"user": "redo"},
    {
        "user": "what colours are in this picture?",
        "model": llm(call("extract_priors", kinds=["palette"]), {"say": "The palette is in."}),
    },
    {"user": "replace the umbrella with a red balloon"},
    {"user": "set the seed to 42"},
    {"user": "generate 1 candidate"},
    {
        "user": "keep that first picture",
        "model": llm(call("choose_candidate", generation=1, candidate=1), {"say": "Kept."}),
    },
    {"user": "make it watercolor"},
    {
        "user": "which version still had her arm down? go back there",
        "model": llm(call("history"), call("go_to_version", version=1), {"say": "Version 1."}),
    },
    {"user": "bend her right elbow"},
    {"user": "make the pose stronger"},
    {
        "user": "give the whole scene a calmer mood",
        "model": llm(
            call("apply_edits", edits=[{"op": "add_style", "style": "calm"}]),
            {"say": "Calmer now."},
        ),
    },
    {"user": "show the priors"},
    {"user": "make it dusk"},
    {
        "user": "what did the second version look like?",
        "model": llm(call("describe_priors", version=2), {"say": "Her left arm was raised."}),
    },
]


def session_script() -> Dialogue:
    dialogue = Dialogue.model_validate(
        {"title": "bench: 20 turns", "start": {"priors": "woman.json"}, "turns": TURNS}
    )
    return dialogue.model_copy(update={"file": SCENES / "bench.yaml"})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1e3:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="Timed sessions (default 3).")
    args = parser.parse_args()
    dialogue = session_script()
    assert len(dialogue.turns) == 20

    with tempfile.TemporaryDirectory(prefix="bench-agent-") as folder:
        settings = load_settings(profile="tiny", device="cpu", data_dir=Path(folder))
        runtime = Runtime.open(settings)
        try:
            started = time.perf_counter()
            warm = run_dialogue(dialogue, "scripted", runtime)
            print(f"warm-up session (models loaded): {time.perf_counter() - started:.1f} s")
            if not warm.passed:
                raise SystemExit(
                    "The session did not do what it should:\n" + "\n".join(warm.failures())
                )
            reports = [run_dialogue(dialogue, "scripted", runtime) for _ in range(args.runs)]
        finally:
            runtime.close()

    failed = [line for r in reports for line in r.failures()]
    if failed:
        raise SystemExit("The session did not do what it should:\n" + "\n".join(failed))
    turns = [t for r in reports for t in r.turns]
    overhead = [t.timings["total"] - t.model_seconds for t in turns]
    fast = [t for t in turns if t.path == "fast"]
    by_llm = [t for t in turns if t.path == "llm"]
    share = sum(t.path == "fast" for t in reports[0].turns) / len(reports[0].turns)
    totals = [sum(t.timings["total"] for t in r.turns) for r in reports]
    models = [sum(t.model_seconds for t in r.turns) for r in reports]

    print(f"20-turn scripted session on tiny (CPU), {args.runs} timed runs:")
    first = reports[0].turns
    print(
        f"  fast path: {share:.0%} of turns ({sum(t.path == 'fast' for t in first)} of 20 handled"
        " by the interpreter with no LLM call; the other"
        f" {sum(t.path == 'llm' for t in first)} went to the scripted model)"
    )
    print("  per-turn loop overhead (total minus model compute), medians:")
    print(
        f"    all turns  {ms(statistics.median(overhead))}"
        f"  (p90 {ms(percentile(overhead, 0.9)).strip()}, max {ms(max(overhead)).strip()})"
    )
    for name, group in (("fast path", fast), ("LLM turns", by_llm)):
        if not group:
            continue
        values = [t.timings["total"] - t.model_seconds for t in group]
        split = {
            "interpret": [t.timings["interpret"] for t in group],
            "llm": [t.timings["llm"] for t in group],
            "tools": [
                t.timings["tools"] + t.timings["generation"] - t.model_seconds for t in group
            ],
        }
        parts = ", ".join(f"{k} {ms(statistics.median(v)).strip()}" for k, v in split.items())
        calls = statistics.mean(t.llm_calls for t in group)
        print(f"    {name}  {ms(statistics.median(values))}  ({parts}; {calls:.1f} LLM requests)")
    print(
        f"  a whole session: {statistics.median(totals):.2f} s, of which"
        f" {statistics.median(models):.2f} s inside models (a 64 px 2-step candidate, ranking,"
        " palette)"
    )


if __name__ == "__main__":
    main()
