"""bench/agent_eval.py runs its tasks and prints the scores (here on the scripted replies, as
in CI; with --base-url on a real model)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "agent_eval.py"


def _bench():
    spec = importlib.util.spec_from_file_location("agent_eval", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_evaluation_scores_tasks_by_their_results(tmp_path, capsys):
    bench = _bench()
    code = bench.main(["--limit", "3", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "success      3/3 tasks" in out
    assert "valid calls  4/4" in out  # apply_edits; edit; apply_edits and undo: all ran
    assert "tokens/turn  median" in out and "latency      median" in out


def test_a_task_whose_result_is_wrong_fails_whatever_the_model_said(tmp_path, capsys):
    bench = _bench()
    task = tmp_path / "wrong.yaml"
    source = (BENCH.parent / "agent_tasks" / "01_mood.yaml").read_text()
    scenes = BENCH.parents[1] / "tests" / "dialogues" / "scenes" / "woman.json"
    task.write_text(
        source.replace("../../tests/dialogues/scenes/woman.json", str(scenes)).replace(
            'caption.time_of_day == "evening"', 'caption.time_of_day == "morning"'
        )
    )
    code = bench.main(["--tasks", str(task), "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 1 and "success      0/1 tasks" in out and "FAIL wrong" in out
