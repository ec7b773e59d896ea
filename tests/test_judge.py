"""The LLM judge cascade: reply parsing and policy (unit), then end to end on the
shipped tiny model: as an OpenAI-compatible judge (the session's shared `vllm serve`)
through ``python -m raydistill.verify``, and in vLLM on CPU inside a pipeline run."""

from __future__ import annotations

import asyncio
import json

import pyarrow as pa
import pytest

from raydistill import records, teachers
from raydistill.teachers.config import TeacherConfig
from raydistill.verifiers import Verdict
from raydistill.verifiers.config import JudgeConfig
from raydistill.verifiers.judge import (
    JudgeActor,
    apply_policy,
    judge_messages,
    needs_judge,
    parse_reply,
)


@pytest.mark.parametrize("reply, status, reason", [
    ('{"equivalent": "yes", "reason": "same value"}', "pass", "same value"),
    ('Sure. {"equivalent": "no", "reason": "17 is not 18"}', "fail", "17 is not 18"),
    ('{"equivalent": true}', "pass", ""),
    ("Yes - both are 18.", "pass", "both are 18."),
    ("no", "fail", ""),
    ('{"equivalent": "maybe"}', "error", "judge reply not parseable"),
    ("The answer looks right", "error", "judge reply not parseable"),
    ("", "error", "judge reply not parseable"),
])
def test_parse_reply(reply, status, reason):
    verdict = parse_reply(reply)
    assert verdict.status == status and verdict.detail.startswith(reason)


PROBLEM = {"problem_id": "p", "domain": "math", "problem": "9+9?",
           "ground_truth_solution": "9+9\n#### 18"}


def sample(verdict="fail", **kw):
    base = {"response": "<think>x</think>\\boxed{17}", "solution": "\\boxed{17}",
            "think_closed": True, "finish_reason": "stop", "verdict": verdict,
            "verdict_detail": "17 != 18",
            "verdicts": [{"verifier": "math", "status": verdict, "detail": "17 != 18",
                          "seconds": 0.001, "retries": 0}]}
    return {**base, **kw}


def test_only_failed_or_unparsed_checked_samples_go_to_the_judge():
    assert needs_judge(PROBLEM, sample("fail"), ["math"])
    assert needs_judge(PROBLEM, sample("error"), ["math"])
    assert not needs_judge(PROBLEM, sample("pass"), ["math"])
    assert not needs_judge(PROBLEM, sample("fail", think_closed=False), ["math"])
    assert not needs_judge(PROBLEM, sample("fail", finish_reason="length"), ["math"])
    assert not needs_judge(PROBLEM, sample("error", response=None), ["math"])
    assert not needs_judge({**PROBLEM, "domain": "code"}, sample("fail"), ["math", "mcq"])


def test_judge_prompt_holds_the_reference_and_the_final_answer_only():
    [message] = judge_messages(PROBLEM, sample())
    assert "9+9?" in message["content"] and "\\boxed{17}" in message["content"]
    assert "Reference answer:\n18\n" in message["content"]  # the gold answer, not its working
    assert "<think>" not in message["content"]


@pytest.mark.parametrize("judged, verdict", [
    (Verdict("pass", "same"), "pass"), (Verdict("fail", "differs"), "fail"),
    (Verdict("error", "unparseable"), "error"),
])
def test_rule_or_judge_policy(judged, verdict):
    out = apply_policy(sample(), judged, 0.5)
    assert out["verdict"] == verdict
    assert [e["verifier"] for e in out["verdicts"]] == ["math", "judge"]
    assert out["verdicts"][1]["status"] == judged.status and out["verdicts"][1]["seconds"] == 0.5
    assert "17 != 18" in out["verdict_detail"]  # the rule's reason is kept


def test_judge_actor_maps_replies_back_to_their_samples(monkeypatch):
    """A scripted teacher (this test only) answers by the request's key."""

    class Scripted:
        def __init__(self, teacher, sampling):
            self.sampling = sampling

        async def complete(self, messages, key):
            reply = "yes" if key.endswith("/0") else '{"equivalent": "no"}'
            return {"generation_seconds": 0.25, "samples": [
                {"response": reply, "solution": reply, "think_closed": True,
                 "finish_reason": "stop"}]}

    monkeypatch.setitem(teachers.TEACHERS, "scripted", Scripted)
    judge = JudgeConfig(domains=["math"], teacher=TeacherConfig(name="scripted", model=""))
    actor = JudgeActor(judge, {"teacher": judge.teacher, "sampling": judge.sampling})
    problem = {**PROBLEM, "input_error": None,
               "samples": [sample("fail"), sample("pass", verdict_detail="18 == 18"),
                           sample("fail")]}
    table = records.table([problem], records.GENERATION)

    async def run():
        return [t async for t in actor(table)]

    [out] = asyncio.run(run())
    samples = out.to_pylist()[0]["samples"]
    assert [s["verdict"] for s in samples] == ["pass", "pass", "fail"]
    assert [len(s["verdicts"]) for s in samples] == [2, 1, 2]
    assert samples[0]["verdicts"][1]["seconds"] == 0.25


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
    from raydistill import verify

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


@pytest.mark.parametrize("override, key", [
    ("judge.policy=judge_only", "judge.policy"),
    ("judge.sampling.n=2", "judge.sampling.n"),
    ("judge.teacher.name=openai", "judge.teacher.base_url"),
    ("judge.teacher.replicas=0", "judge.teacher.replicas"),
    ("judge.domains=[math, chess]", "judge.domains"),
])
def test_bad_judge_config_fails_naming_the_key(override, key):
    from raydistill.config import ConfigError, load

    policy = [] if override.startswith("judge.policy") else ["judge.policy=rule_or_judge"]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(["conf=local", "output.uri=/tmp/unused", *policy, override])
