"""Unit tests of the loop's pieces that need no Ray: configs, manifest, selection, report."""

from __future__ import annotations

import json

import pytest

from raydistill import records
from raydistill.config import ConfigError, load
from raydistill.eval.evaluate import benchmarks_of, plan_runs
from raydistill.export.formats import SCHEMAS
from raydistill.export.plan import export_rows
from raydistill.loop.__main__ import main
from raydistill.loop.rounds_report import render
from raydistill.loop.state import LoopLocation, LoopState, loop_fingerprint, open_loop
from raydistill.loop.steps import eval_config, round_config, training_options
from raydistill.output.storage import StorageError


def bootstrap(tmp_path, *more):
    return load(["conf=bootstrap_local", f"output.uri={tmp_path}/loop", *more])


def test_round_and_eval_configs(tmp_path):
    cfg = bootstrap(tmp_path)
    loc = LoopLocation(cfg)
    r2 = round_config(cfg, loc, 2, "/m/1")
    assert (r2.teacher.model, r2.output.uri) == ("/m/1", f"{tmp_path}/loop/rounds/2")
    assert r2.sampling.seed == cfg.sampling.seed + 2
    assert [d.name for d in r2.source.datasets] == ["train", "heldout"]
    ev = eval_config(cfg, loc, 2, "/m/1")
    assert ev.output.uri == f"{tmp_path}/loop/rounds/2/eval"
    # The round's evaluation is a `raydistill eval`: one greedy run of the held-out split.
    (greedy,) = plan_runs(ev, benchmarks_of(ev))
    assert greedy.cfg.output.uri == f"{tmp_path}/loop/rounds/2/eval/runs/seed-{cfg.sampling.seed}"
    assert [d.name for d in greedy.cfg.source.datasets] == ["heldout"]
    assert greedy.cfg.teacher.model == "/m/1"
    sampling = greedy.cfg.sampling
    assert (sampling.n, sampling.temperature, sampling.seed) == (1, 0.0, cfg.sampling.seed)
    # Benchmarks the conf names are evaluated with it, each round.
    named = eval_config(bootstrap(tmp_path, "eval.benchmarks=[{name: gsm8k_test}]"), loc, 2, "m")
    assert [b.name for b in benchmarks_of(named)] == ["heldout", "gsm8k_test"]
    # The checkpoint is named by an absolute path: Ray workers have another cwd.
    assert loc.model_ref(0) == f"{loc.root}/rounds/0/model" and loc.model_ref(0).startswith("/")


def test_fresh_problems_each_round(tmp_path):
    from raydistill.sources import read_dataset

    cfg = bootstrap(tmp_path, "loop.problems_per_round=64", "source.datasets.0.limit=256")
    loc = LoopLocation(cfg)
    slices = []
    for r in range(3):
        train, heldout = round_config(cfg, loc, r, "m").source.datasets
        assert (train.offset, train.limit) == (64 * r, 64)
        assert (heldout.offset, heldout.limit) == (0, 100)  # the held-out split never moves
        slices.append([p["problem_id"] for p in read_dataset(train, None)])
    # Consecutive slices of the one data set: no problem twice, the same as reading it whole.
    whole = [p["problem_id"] for p in read_dataset(cfg.source.datasets[0], 192)]
    assert sum(slices, []) == whole and len(set(whole)) == 192
    (heldout_eval,) = plan_runs(eval_config(cfg, loc, 2, "m"), benchmarks_of(
        eval_config(cfg, loc, 2, "m")))
    assert heldout_eval.cfg.source.datasets[0].offset == 0
    # Without the key, every round samples the same problems (as before).
    same = bootstrap(tmp_path, "loop.problems_per_round=null")
    assert round_config(same, loc, 2, "m").source.datasets[0].offset == 0
    # rounds + 1 slices must fit in a training data set's limit: refused before Ray starts.
    assert main(["conf=bootstrap_local", f"output.uri={tmp_path}/x", "loop.problems_per_round=64",
                 "source.datasets.0.limit=255"]) == 2
    assert main(["conf=bootstrap_local", f"output.uri={tmp_path}/x",
                 "loop.problems_per_round=0"]) == 2
    with pytest.raises(ConfigError, match=r"source.datasets\[0\].offset"):
        bootstrap(tmp_path, "source.datasets.0.offset=-1")


def test_changed_config_is_refused(tmp_path):
    cfg = bootstrap(tmp_path)
    loc = LoopLocation(cfg)
    loc.save(open_loop(loc, cfg))
    open_loop(loc, bootstrap(tmp_path, "train.threads=1"))  # performance only: accepted
    with pytest.raises(StorageError, match=r"train.learning_rate"):
        open_loop(loc, bootstrap(tmp_path, "train.learning_rate=0.5"))
    with pytest.raises(StorageError, match=r"loop.export.k \(2 -> 1\)"):
        open_loop(loc, bootstrap(tmp_path, "loop.export.k=1"))
    assert main(["conf=bootstrap_local", f"output.uri={tmp_path}/loop",
                 "sampling.n=2"]) == 2  # refused before Ray starts
    assert open_loop(loc, bootstrap(tmp_path, "loop.export.k=1",
                                    "output.overwrite=true")).rounds == []


def test_loop_checks(tmp_path):
    # Refused by the config checks, before Ray starts.
    assert main(["conf=bootstrap_local", f"output.uri={tmp_path}/x", "loop.heldout=nope"]) == 2
    with pytest.raises(ConfigError, match="train.method"):
        bootstrap(tmp_path, "train.method=ppo")
    assert "loop.rounds" in loop_fingerprint(bootstrap(tmp_path))


def test_training_rows_are_the_trl_sft_export(tmp_path):
    rows = [{"problem_id": "p", "sample_idx": i, "source": "train", "source_index": 0,
             "problem": "2+2?", "domain": "math", "verified": i % 2 == 0,
             "verdict": "pass" if i % 2 == 0 else "fail", "response": f"<think>\n{i}\n</think>",
             "reasoning": str(i), "solution": "", "finish_reason": "stop", "think_closed": True,
             "messages": [{"role": "user", "content": "2+2? (as asked)"}]} for i in range(6)]
    held_out = {**rows[0], "problem_id": "h", "source": "heldout"}
    table = records.table([*rows, held_out], records.OUTPUT)

    def selected(*more):
        given = training_options(bootstrap(tmp_path, *more), "trl_sft", "/x")
        out = export_rows(table, "trl_sft", given)
        return out.filter(out["_left_out"].is_null()).select(SCHEMAS["trl_sft"].names)

    out = selected("loop.export.k=2")
    assert out.schema == SCHEMAS["trl_sft"] and out["sample_idx"].to_pylist() == [0, 2]
    # The prompt each row was asked with, the completion as the model wrote it.
    assert out["prompt"][0].as_py() == [{"role": "user", "content": "2+2? (as asked)"}]
    assert out["completion"][0].as_py() == [{"role": "assistant",
                                              "content": "<think>\n0\n</think>"}]
    assert set(out["problem_id"].to_pylist()) == {"p"}  # loop.heldout left out
    assert selected("loop.export.min_pass_rate=0.6").num_rows == 0
    assert selected("loop.export.max_pass_rate=0.5", "loop.export.k=null").num_rows == 3


def test_old_selection_keys_name_the_new_ones(tmp_path):
    for old, new in [("loop.max_per_problem=2", "loop.export.k"),
                     ("loop.pass_rate_min=0.1", "loop.export.min_pass_rate"),
                     ("loop.pass_rate_max=0.9", "loop.export.max_pass_rate"),
                     ("loop.pairs.rule=length", "loop.export.pairs")]:
        with pytest.raises(ConfigError, match=f"is now '{new}"):
            bootstrap(tmp_path, old)
    conf = tmp_path / "old.yaml"
    conf.write_text("base: bootstrap_local\nloop:\n  max_per_problem: 2\n")
    assert main([f"conf={conf}", f"output.uri={tmp_path}/x"]) == 2  # before Ray starts
    with pytest.raises(ConfigError, match="'loop.max_per_problem' is now 'loop.export.k'"):
        load([f"conf={conf}"])
    # Keys the loop decides itself are refused too.
    assert main(["conf=bootstrap_local", f"output.uri={tmp_path}/x",
                 "loop.export.formats=[verl]"]) == 2


def test_report_renders_rounds():
    state = LoopState(fingerprint={}, best_round=1, best_model="/m/0", finished="rounds", rounds=[
        {"round": 0, "model": "builtin:tiny-student", "eval": {"pass@1": 0.2, "pass@k": 0.5},
         "run": {"samples": 8, "verified": 2, "yield": 0.25, "mean_completion_tokens": 30.0},
         "selected": 2, "train": {"loss": 0.5}},
        {"round": 1, "model": "/m/0", "eval": {"pass@1": 0.4, "pass@k": 0.7}},
    ])
    html = render(state, "out/x")
    assert "1 (best)" in html and "40.0%" in html and "<svg" in html
    json.dumps(state.__dict__)
