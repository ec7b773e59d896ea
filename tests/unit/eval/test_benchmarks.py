"""Benchmarks are data: resolved from the built-in ones, refused before any work when bad."""

import json

import pytest

from raydistill.cli import eval as eval_cli
from raydistill.config import load
from raydistill.errors import ConfigError
from raydistill.eval.benchmarks import BUILTIN, check_benchmarks, resolve
from raydistill.eval.config import BenchmarkSpec
from raydistill.eval.evaluate import plan_runs


def test_shipped_benchmarks_read_and_have_gold():
    shipped = [resolve(BUILTIN[name], None) for name in
               ("synthetic_heldout", "gsm8k_test", "humaneval")]
    check_benchmarks(shipped, None)
    with open("data/gsm8k/test.jsonl") as f:
        assert sum(1 for _ in f) == 1319


def test_a_benchmark_without_gold_or_file_or_verifier_is_named(tmp_path):
    empty = tmp_path / "nogold.jsonl"
    empty.write_text("".join(json.dumps({"question": f"q{i}", "answer": ""}) + "\n"
                             for i in range(3)))
    cases = [
        (BenchmarkSpec(name="nogold", format="jsonl", path=str(empty)), "has no gold answers"),
        (BenchmarkSpec(name="gone", format="jsonl", path=str(tmp_path / "x.jsonl")),
         "cannot be read"),
        (BenchmarkSpec(name="poems", format="jsonl", path=str(empty), domain="poetry"),
         "no verifier for domain 'poetry'"),
    ]
    for spec, message in cases:
        with pytest.raises(ConfigError, match=f"benchmark '{spec.name}'.*{message}"):
            check_benchmarks([resolve(spec, None)], None)


def test_eval_cli_refuses_bad_protocols_before_ray(tmp_path, capsys):
    out = f"output.uri={tmp_path / 'e'}"
    for args, key in [(["eval.k=[1,5]"], "eval.k"), (["eval.n=0"], "eval.n"),
                      (["eval.benchmarks=[{name: nosuch}]"], "nosuch"),
                      (["teacher.model=/no/model"], "teacher.model"),
                      (["eval.benchmarks=[]"], "eval.benchmarks")]:
        assert eval_cli.main(["conf=eval_local", out, *args]) == 2
        assert key in capsys.readouterr().err


def test_runs_of_an_evaluation():
    cfg = load(["conf=eval_local", "eval.seeds=[0,1]", "output.uri=/tmp/e"])
    runs = plan_runs(cfg, [resolve(s, None, cfg.prompt) for s in cfg.eval.benchmarks])
    assert [r.key for r in runs] == ["seed-0", "seed-1", "greedy"]
    greedy = runs[-1].cfg.sampling
    assert (greedy.n, greedy.temperature) == (1, 0.0)
    assert runs[1].cfg.sampling.seed == 1 and runs[1].cfg.sampling.n == 4
    assert runs[0].cfg.output.uri == "/tmp/e/runs/seed-0"
    assert [d.name for d in runs[0].cfg.source.datasets] == ["synthetic_heldout", "gsm8k_test"]
    assert not runs[0].cfg.filters.traces.enabled
    # A benchmark asking for another template gets runs of its own.
    cfg.eval.benchmarks.append(BenchmarkSpec(name="humaneval", template="bespoke"))
    keys = [r.key for r in plan_runs(cfg, [resolve(s, None, cfg.prompt)
                                           for s in cfg.eval.benchmarks])]
    assert len(keys) == 6 and len(set(keys)) == 6
