"""The cost plan's maths without Ray: the pilot's sample, per-problem values under
escalation, the bootstrap intervals and the console table."""

import pytest

from raydistill.cli import plan as plan_command
from raydistill.config import load
from raydistill.observe.projection import choose_pilot, interval, per_problem, project


def test_the_pilot_is_a_seeded_sample_independent_of_order():
    ids = [f"p{i}" for i in range(1000)]
    pilot = choose_pilot(ids, 7, count=50)
    assert len(pilot) == 50 and pilot == choose_pilot(list(reversed(ids)), 7, count=50)
    assert pilot != choose_pilot(ids, 8, count=50)
    assert 70 <= len(choose_pilot(ids, 7, share=0.1)) <= 130
    assert choose_pilot(ids, 7, count=5) <= pilot  # a smaller pilot is part of a larger one


def test_per_problem_counts_each_request_once_at_its_teachers_price():
    rows = [
        {"problem_id": "a", "wave": 0, "teacher_name": "teacher", "prompt_tokens": 100,
         "completion_tokens": 10, "verified": False, "response": "x"},
        {"problem_id": "a", "wave": 0, "teacher_name": "teacher", "prompt_tokens": 100,
         "completion_tokens": 10, "verified": False, "response": "y"},
        {"problem_id": "a", "wave": 1, "teacher_name": "strong", "prompt_tokens": 100,
         "completion_tokens": 20, "verified": True, "response": "z"},
        {"problem_id": "b", "wave": 0, "teacher_name": "teacher", "prompt_tokens": None,
         "completion_tokens": None, "verified": False, "response": None},  # bad input
    ]
    prices = {"teacher": {"price_input_per_million": 0, "price_output_per_million": 1e6},
              "strong": {"price_input_per_million": 1e6, "price_output_per_million": 1e7}}
    got = per_problem(rows, prices)
    assert got["a"] == {"prompt_tokens": 200, "completion_tokens": 40,
                        "cost": pytest.approx(20 + 100 + 200), "verified": 1, "solved": 1}
    assert got["b"] == dict.fromkeys(got["b"], 0)


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_the_pilot():
    small = interval([0, 1, 0, 3] * 4, 1000, seed=1)
    large = interval([0, 1, 0, 3] * 64, 1000, seed=1)
    for span in (small, large):
        assert span["low"] <= span["estimate"] == 1000.0 <= span["high"]
    assert large["high"] - large["low"] < small["high"] - small["low"]


def test_projection_scales_time_and_accelerator_hours_from_the_pilot_throughput():
    pilot = {p: {"prompt_tokens": 5, "completion_tokens": 100 * (i + 1), "cost": 0.0,
                 "verified": 1, "solved": 1} for i, p in enumerate("abcd")}
    plan = project(pilot, 40, tokens_per_s=50.0, replicas=4, resources={"CPU": 1, "NPU": 2})
    assert plan["completion_tokens"]["estimate"] == 40 * 250
    assert plan["generation_s"] == {k: v / 50 for k, v in plan["completion_tokens"].items()}
    assert plan["accelerator"] == "NPU"
    assert plan["accelerator_hours"]["estimate"] == pytest.approx(200 * 8 / 3600, abs=1e-6)
    assert plan["problems_solved"] == {"estimate": 40, "low": 40, "high": 40}
    table = plan_command.format_plan(plan)
    assert "completion_tokens" in table and "10,000.00" in table
    # The pilot's time between waves is paid once per wave, whatever the run's size.
    waiting = project(pilot, 40, tokens_per_s=50.0, replicas=4, resources={"GPU": 1},
                      between_waves_s=30.0)
    assert waiting["generation_s"] == {k: v + 30 for k, v in plan["generation_s"].items()}


def test_plan_options_and_the_pilot_location(tmp_path):
    options, rest = plan_command.parse(["conf=local", "--share", "0.1", "sampling.n=2"])
    assert (options.share, options.problems, options.seed, rest) == (
        0.1, None, 0, ["conf=local", "sampling.n=2"])
    assert plan_command.parse(["conf=local"])[0].problems == 16
    cfg = load(["conf=local", f"output.uri={tmp_path}/run", "export.formats=[trl_sft]"])
    pilot = plan_command.pilot_config(cfg)
    assert pilot.output.uri == f"{tmp_path}/run/_plan/pilot" and pilot.export.formats == []
    assert cfg.export.formats == ["trl_sft"]  # the real run's config is untouched
    assert plan_command.main(["conf=local", "--problems", "0"]) == 2  # refused before Ray
