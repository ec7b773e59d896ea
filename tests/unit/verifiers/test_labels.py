"""Majority labels and the gold audit: the decision, the grouping, the verifier actor's rows."""

from __future__ import annotations

import pytest

from raydistill import records
from raydistill.config import ConfigError, load
from raydistill.verifiers.actor import VerifierActor, label_problem
from raydistill.verifiers.config import VerifyConfig
from raydistill.verifiers.judge import needs_judge
from raydistill.verifiers.labels import Label, LabelsConfig, Majority, decide, majority_of
from raydistill.verifiers.votes import equivalence

# ---- the decision (pure) ---------------------------------------------------------------

STRONG, WEAK, FEW = Majority("7", 4, 4), Majority("7", 2, 5), Majority("7", 2, 2)


def never_asked() -> bool:
    raise AssertionError("the gold was compared although no audit was due")


@pytest.mark.parametrize("policy, has_gold, majority, expected", [
    ("gold", True, STRONG, Label("gold")),
    ("gold", False, STRONG, Label("gold")),  # today's behaviour: checked against nothing
    ("majority", False, STRONG, Label("majority", "7")),
    ("majority", False, WEAK, Label("no_label")),  # 2 of 5 < min_share 0.5
    ("majority", False, FEW, Label("no_label")),  # 2 answered < min_votes 3
    ("gold_or_majority", False, STRONG, Label("majority", "7")),
    ("gold_or_majority", False, WEAK, Label("no_label")),
    ("gold_or_majority", True, WEAK, Label("gold")),
    ("majority", False, Majority(None, 2, 4), Label("no_label")),  # a tie
])
def test_policy_share_and_votes_decide_the_label(policy, has_gold, majority, expected):
    cfg = LabelsConfig(policy=policy, min_share=0.5, min_votes=3)
    agrees = (lambda: True) if has_gold and majority.holds(0.75, 4) else never_asked
    assert decide(cfg, has_gold, majority, agrees) == expected


@pytest.mark.parametrize("on_suspect, expected", [
    ("keep", Label("gold", None, True)),
    ("drop", Label("suspect_gold", None, True)),
    ("relabel", Label("majority", "7", True)),
])
def test_a_confident_majority_against_the_gold_is_handled_by_on_suspect(on_suspect, expected):
    cfg = LabelsConfig(on_suspect=on_suspect)
    assert decide(cfg, True, STRONG, lambda: False) == expected
    assert decide(cfg, True, STRONG, lambda: True) == Label("gold")  # it agrees
    assert decide(cfg, True, STRONG, lambda: None) == Label("gold")  # unreadable gold


@pytest.mark.parametrize("majority, audited", [
    (Majority("7", 3, 4), True),  # 0.75 of 4
    (Majority("7", 2, 3), False),  # too few votes to be confident
    (Majority("7", 5, 8), False),  # 0.625 < 0.75
])
def test_only_a_confident_majority_audits_the_gold(majority, audited):
    label = decide(LabelsConfig(), True, majority, lambda: False)
    assert label.suspect is audited
    assert label.check == "gold"  # on_suspect keep: checked against the gold, flagged


def test_under_policy_majority_a_disagreeing_gold_is_still_flagged():
    label = decide(LabelsConfig(policy="majority"), True, STRONG, lambda: False)
    assert label == Label("majority", "7", True)
    assert label.source(True) == "majority"


# ---- grouping by the verifier's equivalence (real math child) --------------------------

def test_math_answers_are_grouped_by_the_verifiers_equivalence_not_by_string():
    majority = majority_of(["\\frac{1}{2}", "0.5", "1/2", "3", None], equivalence("math"))
    assert (majority.votes, majority.answered) == (3, 4)
    assert majority.share == 0.75
    by_string = majority_of(["\\frac{1}{2}", "0.5", "1/2", "3"], str.__eq__)
    assert by_string.answer is None  # four groups of one: a tie


def test_mcq_votes_are_letters():
    majority = majority_of(["B", "B", "C", None], equivalence("mcq"))
    assert majority == Majority("B", 2, 3)


# ---- the actor's rows (real verifiers, no Ray) -----------------------------------------

def sample(answer: str | None, closed: bool = True) -> dict:
    text = None if answer is None else f"<think>hm</think>The answer is \\boxed{{{answer}}}"
    return {"response": text, "reasoning": "hm", "solution": text and text.split("</think>")[1],
            "finish_reason": "stop", "think_closed": closed, "completion_tokens": 9,
            "verdict_detail": None if text else "teacher: boom",
            "reason": None if text else "teacher_error"}


def problem(gold: str | None, answers: list, domain: str = "math", **extra) -> dict:
    samples = [a if isinstance(a, dict) else sample(a) for a in answers]
    return {"problem_id": "p", "source": "s", "source_index": 0, "domain": domain,
            "problem": "q", "ground_truth_solution": gold, "samples": samples, **extra}


def verify(labels: LabelsConfig, *problems: dict) -> list[list[dict]]:
    actor = VerifierActor(VerifyConfig(), labels)
    out = actor(records.table(list(problems), records.GENERATION)).to_pylist()
    return [p["samples"] for p in out]


def test_without_gold_the_majority_labels_and_its_samples_are_verified_against_it():
    [rows] = verify(LabelsConfig(policy="gold_or_majority"),
                    problem(None, ["0.5", "1/2", "\\frac{1}{2}", "3"]))
    assert [r["verdict"] for r in rows] == ["pass", "pass", "pass", "fail"]
    assert {r["label_source"] for r in rows} == {"majority"}
    assert {r["majority_answer"] for r in rows} == {"0.5"}
    assert {r["majority_share"] for r in rows} == {0.75}
    assert not any(r["suspect_gold"] for r in rows)


def test_below_the_bar_the_samples_fail_with_no_label_and_never_pass():
    [rows] = verify(LabelsConfig(policy="majority"),
                    problem("#### 2", ["2", "3", sample("2", closed=False), sample(None)]))
    assert [r["reason"] for r in rows] == ["no_label", "no_label", "truncated", "teacher_error"]
    assert {r["label_source"] for r in rows} == {"none"}
    assert rows[0]["majority_answer"] is None  # 1 vote each: a tie


@pytest.mark.parametrize("on_suspect, verdicts, reasons, source", [
    ("keep", ["fail"] * 3 + ["pass"], ["wrong_answer"] * 3 + ["pass"], "gold"),
    ("drop", ["fail"] * 4, ["suspect_gold"] * 4, "gold"),
    ("relabel", ["pass"] * 3 + ["fail"], ["pass"] * 3 + ["wrong_answer"], "majority"),
])
def test_a_wrong_gold_is_flagged_and_handled_three_ways(on_suspect, verdicts, reasons, source):
    [rows] = verify(LabelsConfig(on_suspect=on_suspect), problem("#### 5", ["4", "4", "4", "5"]))
    assert [r["verdict"] for r in rows] == verdicts
    assert [r["reason"] for r in rows] == reasons
    assert {(r["label_source"], r["suspect_gold"]) for r in rows} == {(source, True)}


def test_the_default_changes_no_verdict_and_a_right_gold_is_not_suspect():
    [rows] = verify(LabelsConfig(), problem("#### 4", ["4", "4", "4", "4.0"]))
    assert [r["verdict"] for r in rows] == ["pass"] * 4
    assert {(r["label_source"], r["suspect_gold"]) for r in rows} == {("gold", False)}


def test_multiple_choice_majority_labels():
    mcq = [{**sample("x"), "solution": f"Answer: {x}"} for x in "BBBA"]
    [rows] = verify(LabelsConfig(policy="majority"), problem("C", mcq, domain="mcq"))
    assert [r["verdict"] for r in rows] == ["pass", "pass", "pass", "fail"]
    assert {(r["label_source"], r["suspect_gold"]) for r in rows} == {("majority", True)}


def test_code_is_unaffected_by_the_policy():
    code = problem(None, ["1", "1", "1"], domain="code", test_cases='{"inputs": [], "outputs": []}')
    label, majority = label_problem(code, {}, LabelsConfig(policy="majority"))
    assert label == Label("gold") and label.source(True) == "gold"
    assert majority.answer is None


def test_with_waves_the_majority_is_the_waves_own_samples():
    # A wave of 2 samples (an earlier wave's answers are not in the row) stays unlabelled
    # under min_votes 3, however strongly the two agree.
    [rows] = verify(LabelsConfig(policy="majority"), problem(None, ["4", "4"]))
    assert [r["reason"] for r in rows] == ["no_label", "no_label"]
    [rows] = verify(LabelsConfig(policy="majority", min_votes=2), problem(None, ["4", "4"]))
    assert [r["verdict"] for r in rows] == ["pass", "pass"]


def test_the_judge_is_not_asked_about_unlabelled_or_dropped_samples():
    p = problem(None, [])
    for reason in ("no_label", "suspect_gold"):
        assert not needs_judge(p, {**sample("4"), "verdict": "fail", "reason": reason}, ["math"])
    assert needs_judge(p, {**sample("4"), "verdict": "fail", "reason": "wrong_answer"}, ["math"])


# ---- config --------------------------------------------------------------------------

@pytest.mark.parametrize("override, named", [
    ("labels.policy=vote", "labels.policy"),
    ("labels.min_share=0", "labels.min_share"),
    ("labels.min_share=1.5", "labels.min_share"),
    ("labels.min_votes=0", "labels.min_votes"),
    ("labels.audit_share=0", "labels.audit_share"),
    ("labels.audit_votes=0", "labels.audit_votes"),
    ("labels.on_suspect=fix", "labels.on_suspect"),
])
def test_bad_label_settings_fail_before_work_naming_the_key(override, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(["conf=local", override])


def test_the_default_is_the_gold():
    assert load(["conf=local"]).labels == LabelsConfig()
