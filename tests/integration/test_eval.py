"""``raydistill eval`` end to end on the shipped tiny models, and ``raydistill compare``.

The tiny teacher on the synthetic held-out slice and GSM8K test (12 problems each,
2 samples per problem plus a greedy pass): once killed (SIGKILL of its session)
mid-generation and rerun, once in this session's cluster in one go; the two
eval.json files must hold the same numbers. Then the tiny student in one go, and
the two models side by side.
"""

from __future__ import annotations

import json

import pytest

from raydistill.cli import compare
from raydistill.config import load
from raydistill.eval.evaluate import evaluate
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation
from tests.support.runs import committed, finish, kill_when, launch

pytestmark = pytest.mark.slow

ARGS = ["conf=eval_local", "eval.limit=12", "eval.n=2", "eval.k=[1,2]", "ray.rows_per_block=4",
        "teacher.batch_size=4", "verify.batch_size=4"]
FIELDS = {"problems", "samples", "samples_per_problem", "avg@n", "stderr", "pass@k", "maj@n",
          "truncated_rate", "no_answer_rate", "mean_completion_tokens",
          "median_completion_tokens", "greedy_pass@1"}


def numbers(uri) -> dict:
    result = json.loads((uri / "eval.json").read_text())
    return {"protocol": result["protocol"], "benchmarks": result["benchmarks"]}


@pytest.fixture(scope="module")
def teacher_eval(ray_cluster, tmp_path_factory):
    uri = tmp_path_factory.mktemp("eval") / "teacher"
    evaluate(load([*ARGS, f"output.uri={uri}"]))
    return uri


def test_eval_json_holds_the_protocols_numbers(teacher_eval):
    result = json.loads((teacher_eval / "eval.json").read_text())
    assert list(result["benchmarks"]) == ["synthetic_heldout", "gsm8k_test"]
    for name, figures in result["benchmarks"].items():
        assert FIELDS <= set(figures), name
        assert figures["problems"] == 12 and figures["samples"] == 24
        assert set(figures["pass@k"]) == {"1", "2"}
        assert figures["pass@k"]["1"] == pytest.approx(figures["avg@n"], abs=1e-4)
        assert figures["pass@k"]["2"] >= figures["pass@k"]["1"]
    synthetic = result["benchmarks"]["synthetic_heldout"]
    # The tiny teacher solves its own kind of problem often, GSM8K almost never.
    assert synthetic["avg@n"] > 0.2 > result["benchmarks"]["gsm8k_test"]["avg@n"]
    assert result["protocol"]["model"] == "builtin:tiny-teacher"
    card = (teacher_eval / "eval.md").read_text()
    assert "| synthetic_heldout | 12 |" in card and "temperature 1.0" in card
    assert "Evaluation of builtin:tiny-teacher" in (teacher_eval / "eval.html").read_text()
    assert (teacher_eval / "runs" / "seed-0" / "all").is_dir()
    assert (teacher_eval / "runs" / "greedy" / "all").is_dir()


def test_an_eval_killed_mid_run_and_rerun_gives_the_same_eval_json(teacher_eval, tmp_path):
    uri = tmp_path / "killed"
    run = OutputLocation(OutputConfig(uri=str(uri / "runs" / "seed-0")))
    proc = launch("raydistill.eval", [*ARGS, f"output.uri={uri}"])
    kill_when(proc, lambda: bool(committed(run)))
    assert not (uri / "eval.json").exists()
    finish(launch("raydistill.eval", [*ARGS, f"output.uri={uri}"]))
    assert numbers(uri) == numbers(teacher_eval)


def test_compare_the_teacher_and_the_student(teacher_eval, tmp_path, capsys):
    student = tmp_path / "student"
    evaluate(load([*ARGS, "eval.greedy=false", "teacher.model=builtin:tiny-student",
                   f"output.uri={student}"]))
    out = tmp_path / "compare"
    assert compare.main([str(student), "--baseline", str(teacher_eval), "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert result["baseline"] == str(teacher_eval)
    for row in result["benchmarks"]:
        base, other = row["models"]
        d = other["vs_baseline"]
        assert d["problems"] == 12
        assert d["diff"] == pytest.approx(other["avg@n"] - base["avg@n"], abs=1e-3)
        assert d["low"] <= d["diff"] <= d["high"]
    assert "(baseline)" in (out / "compare.md").read_text()
