"""Evaluation: how well an LLM drives the editor, on fixed conversation tasks.

Each task (bench/agent_tasks/*.yaml, the dialogue format) is a short conversation a user could
have, scored by what it leaves behind: the priors (checks such as `caption.time_of_day ==
"evening"`), the version it ends at, generations made, words the reply must hold. The tool
calls a model makes are its own business; only the result counts. Printed per task and overall:

    success      tasks whose every check held
    valid calls  the model's tool calls that ran (no bad arguments, no unknown tool)
    tokens/turn  the largest request of each LLM turn, as counted against the budget
    latency      seconds per turn (median, and the slowest)

Against your own endpoint (the tasks' scripted replies are then ignored):

    uv run python bench/agent_eval.py --base-url http://localhost:8080 --backend tgi \\
        --model OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5 --context-tokens 2048

Without --base-url it plays the scripted replies (what CI runs): a check of the tasks and the
harness, not of a model. Tiny profile, CPU; generation is 64 px, 2 steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from image_interpreter.agent.dialogue import (
    Dialogue,
    DialogueReport,
    Runtime,
    load_dialogue,
    run_dialogue,
)
from image_interpreter.agent.llm import LLMConfig, make_backend
from image_interpreter.settings import load_settings

TASKS = Path(__file__).resolve().parent / "agent_tasks"
MODEL_CHECKS = ("tools", "llm_calls", "path", "fell_back", "tool_error")  # how, not what


@dataclass
class Unscripted:
    """The dialogue runner's model for a real endpoint: it takes no script."""

    left: int = 0
    unscripted: int = 0

    def script(self, replies: Any) -> None:
        pass


@dataclass
class Scores:
    tasks: int = 0
    passed: int = 0
    calls: int = 0
    valid: int = 0
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def for_a_model(dialogue: Dialogue) -> Dialogue:
    """The task without the expectations about how a scripted model gets there."""
    unchecked: dict[str, Any] = dict.fromkeys(MODEL_CHECKS)
    turns = [
        turn.model_copy(update={"expect": turn.expect.model_copy(update=unchecked)})
        for turn in dialogue.turns
    ]
    return dialogue.model_copy(update={"turns": turns})


def succeeded(report: DialogueReport) -> bool:
    """Every check of the result held. A tool error the model recovered from is not a failed
    task (it counts against `valid calls`)."""
    if report.error or len(report.turns) < report.planned:
        return False
    result = [
        f for t in report.turns for f in t.failures if not f.startswith(("tool error:", "(reply:"))
    ]
    return not result


def score(report: DialogueReport, scores: Scores) -> None:
    scores.tasks += 1
    scores.passed += succeeded(report)
    for turn in report.turns:
        scores.seconds.append(turn.timings.get("total", 0.0))
        if turn.llm_calls:
            scores.tokens.append(turn.tokens.get("request_max", turn.tokens.get("prompt", 0)))
        llm = [c for c in turn.calls if c.get("source") == "llm"]
        scores.calls += len(llm)
        scores.valid += sum(1 for c in llm if "error" not in c)


def run(args: argparse.Namespace) -> Scores:
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="agent-eval-"))
    settings = load_settings(profile="tiny", device="cpu", data_dir=data)
    runtime = Runtime.open(settings)
    scores = Scores()
    llm = None
    if args.base_url:
        llm = LLMConfig(
            backend=args.backend,
            base_url=args.base_url,
            model=args.model,
            tokenizer=args.tokenizer,
            context_tokens=args.context_tokens,
            max_new_tokens=args.max_new_tokens,
            native_tools=args.native_tools,
            timeout_s=args.timeout,
        )
    paths = sorted(Path(p) for p in args.tasks) if args.tasks else sorted(TASKS.glob("*.yaml"))
    try:
        for path in paths[: args.limit or None]:
            dialogue = load_dialogue(path)
            connect = None
            if llm is not None:
                dialogue = for_a_model(dialogue)

                def connect(_dialogue: Dialogue, llm: LLMConfig = llm) -> tuple[Any, Any]:
                    return Unscripted(), make_backend(llm)

            report = run_dialogue(dialogue, "scripted", runtime, connect=connect)
            score(report, scores)
            mark = "ok  " if succeeded(report) else "FAIL"
            print(f"{mark} {path.stem}: {report.title}")
            for line in report.failures():
                print(f"       {line}")
    finally:
        runtime.close()
    return scores


def summary(scores: Scores) -> str:
    calls = f"{scores.valid}/{scores.calls}" if scores.calls else "none made"
    tokens = (
        f"median {statistics.median(scores.tokens):.0f}, largest {max(scores.tokens)}"
        if scores.tokens
        else "no LLM turns"
    )
    latency = (
        f"median {statistics.median(scores.seconds):.2f} s, slowest {max(scores.seconds):.2f} s"
        if scores.seconds
        else "-"
    )
    return "\n".join(
        [
            f"success      {scores.passed}/{scores.tasks} tasks",
            f"valid calls  {calls}",
            f"tokens/turn  {tokens}",
            f"latency      {latency}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="your server (TGI root, or an OpenAI-style /v1)")
    parser.add_argument("--backend", choices=["tgi", "openai"], default="tgi")
    parser.add_argument("--model", help="model name sent to the server")
    parser.add_argument("--tokenizer", help="hub id or folder of the model's tokenizer")
    parser.add_argument("--context-tokens", type=int, default=4096)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--native-tools", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--tasks", nargs="*", help="task files (default: bench/agent_tasks)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks")
    parser.add_argument("--data-dir", help="where sessions and tiny models go (default: temp)")
    args = parser.parse_args(argv)
    scores = run(args)
    print(summary(scores))
    return 0 if scores.passed == scores.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
