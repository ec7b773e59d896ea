"""`raydistill plan` and the spending caps on the real pipeline, in the session's Ray cluster,
against the session's shared vLLM server (no engine of their own): a pilot of 4 of 12 problems
projected to the whole run, and a run stopped at a token cap then resumed with a higher one."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.dataset as pads
import pytest

from raydistill.cli import plan as plan_command
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest, open_run
from raydistill.pipeline import run
from tests.conftest import http_teacher

pytestmark = pytest.mark.slow


def small(tmp_path, server, *extra):
    return ["conf=local", f"output.uri={tmp_path / 'out'}", *http_teacher(server),
            "source.limit=12", "sampling.max_tokens=64", *extra]


def rows_of(out):
    return pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table().to_pylist()


def test_plan_runs_a_pilot_apart_and_projects_the_run(ray_cluster, vllm_server, tmp_path):
    args = small(tmp_path, vllm_server, "sampling.n=2", "teacher.price_output_per_million=2")
    assert plan_command.main([*args, "--problems", "4", "--seed", "1"]) == 0
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert (plan["problems"], plan["pilot_problems"]) == (12, 4)
    for name in ("completion_tokens", "verified_samples", "generation_s", "cost_usd",
                 "input_tokens", "problems_solved", "accelerator_hours"):
        span = plan[name]
        assert span["low"] <= span["estimate"] <= span["high"], name
    # The pilot's own rows, scaled by 12 / 4; none in the real run's location.
    pilot = OutputLocation(load([*args, f"output.uri={plan['pilot']['uri']}"]).output)
    rows = rows_of(pilot)
    assert len({r["problem_id"] for r in rows}) == 4
    tokens = sum(r["completion_tokens"] for r in rows if r["response"] is not None)
    assert plan["completion_tokens"]["estimate"] == pytest.approx(3 * tokens)
    assert plan["cost_usd"]["estimate"] == pytest.approx(3 * tokens * 2 / 1e6)
    assert plan["generation_s"]["estimate"] > 0
    assert not (tmp_path / "out" / "all").exists()


def test_a_run_stops_at_its_token_cap_and_a_higher_cap_resumes_it_once(ray_cluster,
                                                                        vllm_server, tmp_path):
    waves = ["sampling.waves=[1,1,1]", "sampling.stop_at_verified=3", "source.limit=6"]
    cfg = load([*small(tmp_path, vllm_server, *waves), "output.max_completion_tokens=1"])
    out = OutputLocation(cfg.output)
    summary = run(cfg, out, open_run(out, cfg))
    assert summary["stopped_at_cap"]["cap"] == "output.max_completion_tokens"
    assert summary["stopped_at_cap"]["before_wave"] == 1
    assert {r["wave"] for r in rows_of(out)} == {0}  # published: what wave 0 generated
    assert load_manifest(out).capped

    cfg = load(small(tmp_path, vllm_server, *waves))  # no cap now
    summary = run(cfg, out, open_run(out, cfg))
    assert summary["stopped_at_cap"] is None and summary["attempts"] == 2
    rows = rows_of(out)
    keys = Counter((r["problem_id"], r["sample_idx"]) for r in rows)
    assert max(keys.values()) == 1  # exactly once
    assert {r["wave"] for r in rows} == {0, 1, 2}
