"""The LLM judge end to end on the shipped tiny model: as an OpenAI-compatible judge (the
session's shared `vllm serve`) through ``python -m raydistill.verify``, and in vLLM on CPU
inside a pipeline run."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

ROWS = [
    ("rule-pass", "math", "<think>9+9</think>\\boxed{18}", "#### 18"),
    ("rule-fail", "math", "<think>9+8</think>The answer is 17.", "#### 18"),
    ("rule-cannot-parse", "math", "<think>hmm</think>eighteen", "#### 18"),
    ("truncated", "math", "<think>9+9 is", "#### 18"),
    ("mcq-fail", "mcq", "<think>A?</think>Answer: A", "B"),
    ("code-fail", "code", "<think>x</think>no code", None),
]


def tiny_judge(server) -> list[str]:
    """The shipped tiny model as the judge, served by the session's `vllm serve`."""
    return ["judge.policy=rule_or_judge", "judge.teacher.name=openai",
            f"judge.teacher.base_url={server.url}", "judge.teacher.model=tiny-teacher",
            "judge.teacher.resources={CPU: 0.25}", "judge.teacher.env={}",
            "judge.teacher.batch_size=8", "judge.sampling.max_tokens=64"]


@pytest.mark.slow
def test_tiny_model_judge_end_to_end(ray_cluster, vllm_server, tmp_path):
    from raydistill.cli import verify

    source, target = tmp_path / "in.jsonl", tmp_path / "judged.parquet"
    source.write_text("".join(json.dumps(
        {"id": i, "domain": d, "response": r, "ground_truth_solution": g, "problem": "9+9?",
         "test_cases": json.dumps({"inputs": ["1"], "outputs": ["1"]})}) + "\n"
        for i, d, r, g in ROWS))
    args = [str(source), str(target), "verify.replicas=1", "verify.num_cpus=0.25",
            *tiny_judge(vllm_server)]
    assert verify.main(args) == 0
    import pyarrow.parquet as pq

    out = {row["id"]: row for row in pq.read_table(target).to_pylist()}
    judged = {"rule-fail", "rule-cannot-parse", "mcq-fail"}
    for key, row in out.items():
        names = [e["verifier"] for e in row["verdicts"]]
        assert names == ([row["domain"], "judge"] if key in judged else [row["domain"]]), row
        assert row["verified"] is (row["verdict"] == "pass")
        if key in judged:  # the tiny judge's opinion is noise; its record must be complete
            entry = row["verdicts"][1]
            assert entry["status"] in ("pass", "fail", "error") and entry["detail"] is not None
            assert entry["seconds"] > 0
            assert row["verdict"] == entry["status"]  # rule_or_judge after a rule failure
            detail = row["verdict_detail"]
            assert detail.startswith("judge") or "; judge: no" in detail
            assert row["verdicts"][0]["detail"] in row["verdict_detail"]  # the rule's reason kept
    assert out["rule-pass"]["verdict"] == "pass"
    assert out["truncated"]["verdict"] == "fail"  # never judged: cut off
    assert out["code-fail"]["verdict"] == "fail"  # code is not the judge's domain
    assert pa.Table.from_pylist(list(out.values())).num_rows == len(ROWS)


@pytest.mark.slow
def test_pipeline_with_the_tiny_judge(ray_cluster, tmp_path):
    """conf=local with judge.policy=rule_or_judge: teacher and judge engines on CPU."""
    import pyarrow.dataset as pads

    from raydistill.config import load
    from raydistill.output.location import OutputLocation
    from raydistill.pipeline import run

    uri = tmp_path / "run"
    cfg = load(["conf=local", f"output.uri={uri}", "source.limit=8", "sampling.n=2",
                "judge.policy=rule_or_judge", "judge.sampling.max_tokens=64",
                # the tiny judge mostly answers noise (error verdicts): publish anyway
                "output.max_error_fraction=1.0"])
    run(cfg, OutputLocation(cfg.output))
    rows = pads.dataset(uri / "all", format="parquet").to_table().to_pylist()
    assert len(rows) == 16
    judged = 0
    for row in rows:
        rule, *rest = row["verdicts"]
        assert rule["verifier"] == "math" and rule["seconds"] >= 0
        assert row["verified"] is (row["verdict"] == "pass")
        if rest:
            [judge] = rest
            judged += 1
            assert judge["verifier"] == "judge" and rule["status"] in ("fail", "error")
            assert row["verdict"] == judge["status"]
        else:
            assert row["verdict"] == rule["status"]
            assert rule["status"] == "pass" or not row["think_closed"] or \
                row["finish_reason"] == "length"
    summary = json.loads((uri / "summary.json").read_text())
    latency = summary["verifier_latency"]
    math = latency["math"]
    assert math["checks"] == 16 and math["p99_ms"] >= math["p50_ms"]
    assert judged > 0 and latency["judge"]["checks"] == judged
