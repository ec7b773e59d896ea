import pytest

from raydistill import verifiers
from raydistill.parsing import split_response
from raydistill.verifiers.mcq import gold_letter, letter, verify_mcq


@pytest.mark.parametrize("text, expected", [
    ("Answer: B", "B"),
    ("answer: (C)", "C"),
    ("**Answer:** D", "D"),
    ("\\boxed{A}", "A"),
    ("\\boxed{(J)}", "J"),
    ("\\boxed{\\text{E}}", "E"),
    ("Answer: A ... on second thought \\boxed{C}", "C"),
    ("\\boxed{C}. Final Answer: B", "B"),
    ("The answer is B.", None),  # only the two forms count
    ("B", None),
    ("Answer: Because it is 4", None),  # a word, not a letter
    ("Answer: 4", None),
    ("Answer: K", None),  # no option K
    ("\\boxed{AB}", None),
    ("", None),
])
def test_letter(text, expected):
    assert letter(text) == expected


@pytest.mark.parametrize("gold, expected", [
    ("B", "B"), ("(c)", "C"), (" D. ", "D"), ("Answer: E", "E"), ("\\boxed{F}", "F"),
    ("The second one", None), ("", None),
])
def test_gold_letter(gold, expected):
    assert gold_letter(gold) == expected


@pytest.mark.parametrize("response, gold, status", [
    ("<think>It is B.</think>\nAnswer: B", "B", "pass"),
    ("<think>It is B.</think>\nAnswer: C", "B", "fail"),
    ("<think>Answer: B</think>\nI am not sure.", "B", "fail"),  # only the answer text counts
    ("<think>hmm</think>\\boxed{D}", "(D)", "pass"),
    ("<think>hmm</think>Answer: D", "the fourth", "error"),
])
def test_verify_mcq(response, gold, status):
    trace = split_response(response)
    verdict = verify_mcq({"solution": trace.solution, "ground_truth_solution": gold}, {})
    assert verdict.status == status, verdict.detail


def test_registered_as_domain_mcq():
    assert verifiers.get("mcq") is verify_mcq
    assert "mcq" in verifiers.known_domains()
