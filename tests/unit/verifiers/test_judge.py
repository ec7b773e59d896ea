"""The LLM judge cascade: reply parsing, policy and the actor's bookkeeping (end to end
in tests/integration/test_judge.py)."""

from __future__ import annotations

import asyncio

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


YES, NO = "含义是否一致：是", "含义是否一致：否"  # "do the meanings agree: yes / no"


@pytest.mark.parametrize("reply, status", [
    ("标准答案是18，回答是18。含义是否一致：是", "pass"),
    ("回答是17，标准答案是18。含义是否一致：否", "fail"),
    # The later verdict decides: the reply weighs "yes" before settling on "no".
    ("若写成18则含义是否一致：是；但回答是17。含义是否一致：否", "fail"),
    ("回答与标准答案一致。", "error"),
    # The default JSON reply does not count once the prompt has its own patterns.
    ('{"equivalent": "yes"}', "error"),
])
def test_a_prompts_own_verdict_patterns(reply, status):
    verdict = parse_reply(reply, yes=YES, no=NO)
    assert verdict.status == status
    assert (verdict.reason == "judge_error") == (status == "error")


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
    assert judged_by(judge, Scripted) == ["pass", "pass", "fail"]


def test_judge_actor_reads_the_verdict_with_the_configured_patterns(monkeypatch):
    """A judge prompt of the user's own, its reply in Chinese (a scripted teacher)."""

    class Scripted:
        def __init__(self, teacher, sampling):
            self.sampling = sampling

        async def complete(self, messages, key):
            assert messages[0]["content"].startswith("判断：")
            reply = {"/0": f"都是18。{YES}", "/2": f"17不是18。{NO}"}.get(key[-2:], "不确定")
            return {"generation_seconds": 0.25, "samples": [
                {"response": reply, "solution": reply, "think_closed": True,
                 "finish_reason": "stop"}]}

    monkeypatch.setitem(teachers.TEACHERS, "scripted", Scripted)
    judge = JudgeConfig(domains=["math"], teacher=TeacherConfig(name="scripted", model=""),
                        prompt="判断：{problem} {reference} {answer}",
                        yes_pattern=YES, no_pattern=NO)
    assert judged_by(judge, Scripted, samples=4) == ["pass", "pass", "fail", "error"]


def judged_by(judge, scripted, samples=3):
    """The verdicts of ``samples`` samples (the second already passed) after the judge."""
    actor = JudgeActor(judge, {"teacher": judge.teacher, "sampling": judge.sampling})
    problem = {**PROBLEM, "input_error": None,
               "samples": [sample("fail"), sample("pass", verdict_detail="18 == 18"),
                           *[sample("fail") for _ in range(samples - 2)]]}
    table = records.table([problem], records.GENERATION)

    async def run():
        return [t async for t in actor(table)]

    [out] = asyncio.run(run())
    done = out.to_pylist()[0]["samples"]
    assert [len(s["verdicts"]) for s in done] == [2, 1] + [2] * (samples - 2)
    assert done[0]["verdicts"][1]["seconds"] == 0.25
    return [s["verdict"] for s in done]








@pytest.mark.parametrize("override, key", [
    ("judge.policy=judge_only", "judge.policy"),
    ("judge.sampling.n=2", "judge.sampling.n"),
    ("judge.teacher.name=openai", "judge.teacher.base_url"),
    ("judge.teacher.replicas=0", "judge.teacher.replicas"),
    ("judge.domains=[math, chess]", "judge.domains"),
    ("judge.yes_pattern=是", "judge.yes_pattern"),
    ("judge.yes_pattern='(是'|judge.no_pattern=否", "judge.yes_pattern"),
    ("judge.yes_pattern=是|judge.no_pattern=''", "judge.no_pattern"),
])
def test_bad_judge_config_fails_naming_the_key(override, key):
    from raydistill.config import ConfigError, load

    policy = [] if override.startswith("judge.policy") else ["judge.policy=rule_or_judge"]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(["conf=local", "output.uri=/tmp/unused", *policy, *override.split("|")])
