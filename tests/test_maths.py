import pytest

from raydistill.verifiers.maths import gold_answer, verify_math

# (gold solution, text after </think>, expected status)
CASES = [
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "So she sold \\boxed{72} clips.", "pass"),
    ("#### 72", "\\boxed{71}", "fail"),
    ("#### 1,200", "The total is \\boxed{1200}.", "pass"),
    ("#### 1200", "The total is \\boxed{1,200}.", "pass"),
    ("#### 18", "The answer is 18", "pass"),
    ("#### 18", "#### 18", "pass"),
    ("#### 18", "$18$", "pass"),
    ("#### -5", "\\boxed{-5}", "pass"),
    ("#### 0.5", "\\boxed{\\frac{1}{2}}", "pass"),
    ("The area is $\\boxed{\\frac{3}{4}}$.", "\\boxed{0.75}", "pass"),
    ("The area is $\\boxed{\\frac{3}{4}}$.", "\\boxed{\\dfrac{3}{4}}", "pass"),
    ("$\\boxed{2\\sqrt{2}}$", "\\boxed{\\sqrt{8}}", "pass"),
    ("$\\boxed{x^2+1}$", "\\boxed{1+x^2}", "pass"),
    ("$\\boxed{(1,2)}$", "\\boxed{(2,1)}", "fail"),
    ("42", "\\boxed{42}", "pass"),
    ("#### 72", "", "fail"),
    ("#### 72", "I don't know.", "fail"),
    ("", "\\boxed{3}", "error"),
]


@pytest.mark.parametrize("gold, answer, expected", CASES)
def test_math_verdicts(gold, answer, expected):
    verdict = verify_math({"ground_truth_solution": gold, "solution": answer}, {})
    assert verdict.status == expected, verdict.detail


def test_gold_from_gsm8k_hash_line():
    assert gold_answer("a\n#### 3,000") == "$3000$"


def test_no_answer_is_a_fail_with_reason():
    verdict = verify_math({"ground_truth_solution": "#### 3", "solution": "hmm"}, {})
    assert verdict.status == "fail" and "no answer" in verdict.detail
