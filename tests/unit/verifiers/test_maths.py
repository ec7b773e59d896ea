import time

import pytest

from raydistill.config.loader import to_dict
from raydistill.verifiers.config import VerifyConfig
from raydistill.verifiers.math_child import MathChild
from raydistill.verifiers.math_compare import compare
from raydistill.verifiers.maths import final_answer, gold_answer, verify_math

PARAMS = to_dict(VerifyConfig())  # the pipeline passes the verify section

# (gold solution, text after </think>, expected status)
CASES = [
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "So she sold \\boxed{72} clips.", "pass"),
    ("#### 72", "\\boxed{71}", "fail"),
    ("#### 1,200", "The total is \\boxed{1200}.", "pass"),
    ("#### 1200", "The total is \\boxed{1,200}.", "pass"),
    ("#### -5", "\\boxed{-5}", "pass"),
    ("#### 0.5", "\\boxed{\\frac{1}{2}}", "pass"),
    ("The area is $\\boxed{\\frac{3}{4}}$.", "\\boxed{0.75}", "pass"),
    ("The area is $\\boxed{\\frac{3}{4}}$.", "\\boxed{\\dfrac{3}{4}}", "pass"),
    ("$\\boxed{2\\sqrt{2}}$", "\\boxed{\\sqrt{8}}", "pass"),
    ("$\\boxed{x^2+1}$", "\\boxed{1+x^2}", "pass"),
    ("$\\boxed{(1,2)}$", "\\boxed{(2,1)}", "fail"),
    ("$\\boxed{(1,2)}$", "\\boxed{(1,2)}", "pass"),  # a comma that is no thousands separator
    ("42", "\\boxed{42}", "pass"),
    ("#### 72", "", "fail"),
    ("#### 72", "I don't know.", "fail"),
    ("", "\\boxed{3}", "error"),
    ("#### 18", "\\boxed{18", "fail"),
]

# Every prediction form the issue names, against the gold 18 (or 1200).
FORMS = [
    ("#### 18", "\\boxed{18}"),
    ("#### 18", "So the answer is $\\boxed{18}$."),
    ("#### 18", "The answer is 18"),
    ("#### 18", "The answer is: 18."),
    ("#### 18", "A: 18"),
    ("#### 18", "#### 18"),
    ("#### 18", "**18**"),
    ("#### 18", "She has 3 apples and 18 pears, so **18**."),
    ("#### 18", "The answer is 18 dollars."),
    ("#### 18", "The answer is \\$18."),
    ("#### 18", "\\boxed{18\\text{ cm}}"),
    ("#### 18", "$18$"),
    ("#### 18", "18."),
    ("#### 1,200", "The answer is 1,200."),
    ("#### 1200", "\\boxed{1,200}"),
    ("#### 1,200,000", "The answer is 1,200,000 people."),
    ("#### 1200000", "\\boxed{1\\,200\\,000}"),
    ("#### 1200", "\\boxed{1{,}200}"),
    ("#### 18", "The answer is: **18**"),
    ("#### 18", "**Answer:** 18"),
    ("#### 18", "The answer is 18%."),
    ("#### 18", "Final Answer: The final answer is $18$. I hope it is correct."),
]


@pytest.mark.parametrize("gold, answer, expected", CASES)
def test_math_verdicts(gold, answer, expected):
    status, detail, _ = compare(gold, answer)
    assert status == expected, detail


@pytest.mark.parametrize("gold, answer", FORMS)
def test_prediction_forms_pass(gold, answer):
    status, detail, _ = compare(gold, answer)
    assert status == "pass", detail
    wrong = gold.replace("18", "19").replace("1,200", "1,300").replace("1200", "1300")
    assert compare(wrong, answer)[0] == "fail"


def test_gold_forms():
    assert gold_answer("a\n#### 3,000") == "3000"
    assert gold_answer("so $\\boxed{\\dfrac{1}{2}}$.") == "\\dfrac{1}{2}"
    assert gold_answer(" 42 ") == "42"


def test_final_answer_takes_the_last_box_only():
    assert final_answer("\\boxed{1} or rather \\boxed{2}") == "2"
    assert final_answer("first \\boxed{1}, then \\boxed{2") is None


@pytest.mark.parametrize("gold, answer, reason", [
    ("#### 3", "hmm", "no_answer"),
    ("#### 3", "", "no_answer"),
    ("#### 3", "So it is \\boxed{3", "no_answer"),
    ("#### 3", "\\boxed{4}", "wrong_answer"),
    ("#### 3", "\\boxed{3}", "pass"),
    ("", "\\boxed{3}", "verifier_error"),
])
def test_reason_codes(gold, answer, reason):
    assert compare(gold, answer)[2] == reason


def test_verify_math_runs_in_the_child():
    record = {"ground_truth_solution": "#### 18", "solution": "\\boxed{18}"}
    verdict = verify_math(record, PARAMS)
    assert (verdict.status, verdict.reason) == ("pass", "pass"), verdict.detail
    no_answer = verify_math({**record, "solution": "I give up."}, PARAMS)
    assert (no_answer.status, no_answer.reason) == ("fail", "no_answer")


def test_the_deadline_has_one_home():
    verdict = verify_math({"ground_truth_solution": "#### 1", "solution": "1"}, {})
    assert (verdict.status, verdict.reason) == ("error", "verifier_error")
    assert "math_timeout_s" in verdict.detail


def test_hanging_input_is_killed_and_the_child_respawned():
    # math-verify 0.9.0 hangs on this in verify() (sympy evaluates the tower):
    # a real pathological input, the kind Math-Verify issue 65 reports.
    child = MathChild()
    try:
        # The first check starts the child.
        assert child.check("#### 5", "\\boxed{18}", 30.0)[::2] == ("fail", "wrong_answer")
        first = child.proc
        started = time.monotonic()
        status, detail, reason = child.check("#### 5", "\\boxed{9^{9^{9^{9}}}}", 2.0)
        assert time.monotonic() - started < 4.0
        assert status == "error" and reason == "verifier_error" and "over 2 s" in detail
        assert first.poll() is not None and child.restarts == 1  # killed, not leaked
        assert child.check("#### 18", "The answer is 18.", 30.0) == ("pass", "18 == 18", "pass")
        assert child.proc is not first
    finally:
        child.close()


def test_dead_child_gives_error_then_recovers():
    child = MathChild()
    try:
        assert child.check("#### 1", "1", 30.0)[0] == "pass"
        child.proc.stdout.close()  # a broken pipe to the checker, as if it crashed
        child.proc.kill()
        child.proc.wait()
        status, _, _ = child.check("#### 1", "1", 30.0)
        assert status in ("pass", "error")  # poll() sees the death and respawns first
        assert child.check("#### 2", "2", 30.0)[0] == "pass"
    finally:
        child.close()
