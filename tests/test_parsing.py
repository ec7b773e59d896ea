import pytest

from raydistill.parsing import Trace, split_response

CASES = [
    ("closed", "<think>\nlet me see\n</think>\n\\boxed{4}",
     Trace("let me see", "\\boxed{4}", True)),
    ("unclosed (truncated)", "<think>\n2 + 2 = ", Trace("2 + 2 =", "", False)),
    ("no think tags: all answer", "The answer is 4.", Trace("", "The answer is 4.", True)),
    ("opening tag in the prompt (R1-distill template)", "hmm\n</think>\n4",
     Trace("hmm", "4", True)),
    ("multiple closes: answer after the last", "<think>a</think>\\boxed{3}</think>\\boxed{4}",
     Trace("a</think>\\boxed{3}", "\\boxed{4}", True)),
    ("empty", "", Trace("", "", True)),
    ("empty answer after close", "<think>x</think>", Trace("x", "", True)),
]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_split_response(name, text, expected):
    assert split_response(text) == expected
