"""Known false positives and negatives of math-verify 0.9.0, and raydistill's verdicts.

Each row: the gold solution, the full teacher response, what a naive pipeline
gets from math-verify alone (``verify(parse(gold), parse(response))``), the
verdict raydistill gives, and why. The math-verify column is checked too, so an
upgrade that fixes (or changes) math-verify shows up here.
"""

import pytest

from raydistill.parsing import split_response
from raydistill.verifiers.math_compare import compare

# (case, gold, response, math-verify 0.9.0 alone, raydistill, why)
TABLE = [
    ("tiny values equal after evalf", "$0.0000001$", "\\boxed{0.0000002}", True, "fail",
     "math-verify rounds to 6 decimals, so 1e-7 == 2e-7; we also require a relative 1e-4"),
    ("tiny values, scientific form", "$1.5 \\times 10^{-8}$", "\\boxed{1.5e-8}", False, "pass",
     "math-verify reads 1.5e-8 as 1.5*e - 8; we rewrite it as 1.5\\times 10^{-8}"),
    ("\\mathrm{e} dropped (false positive)", "$2$", "$2\\mathrm{e}$", True, "fail",
     "math-verify drops \\mathrm{e} and reads 2; we read it as Euler's e"),
    ("\\mathrm{e} as a symbol (false negative)", "$e^{2}$", "$\\mathrm{e}^{2}$", False, "pass",
     "math-verify reads \\mathrm{e} as a plain symbol; we read it as Euler's e"),
    ("unterminated \\boxed{ after the right number", "$18$", "3 + 15 = 18, so \\boxed{18",
     True, "fail", "the box never closes: the answer was cut off (it may have been 180), "
     "so the earlier 18 in the working is not taken"),
    ("unterminated \\boxed{ with the right prefix", "$180$", "\\boxed{180", False, "fail",
     "same rule: where the box would have closed is unknown"),
    ("answer only inside the reasoning", "$18$",
     "<think>so it is \\boxed{18}</think> I am not sure, maybe 17?", True, "fail",
     "the answer is only what follows the last </think>; 17 is the answer given"),
    ("no answer after the reasoning", "$18$", "<think>so it is \\boxed{18}</think> I give up.",
     True, "fail", "nothing after </think> is an answer"),
    ("bare \\dfrac gold", "\\dfrac{1}{2}", "\\boxed{\\frac{1}{2}}", False, "pass",
     "math-verify finds nothing in undelimited LaTeX; we add $ delimiters to a bare gold"),
    ("plain pi/2", "$\\frac{\\pi}{2}$", "The answer is pi/2", False, "pass",
     "math-verify reads pi as p*i; we rewrite a bare pi as \\pi"),
]


def _math_verify_alone(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    return verify(parse(gold, parsing_timeout=None), parse(response, parsing_timeout=None),
                  timeout_seconds=None)


@pytest.mark.parametrize("case, gold, response, alone, ours, why", TABLE,
                         ids=[row[0] for row in TABLE])
def test_regression_table(case, gold, response, alone, ours, why):
    assert _math_verify_alone(gold, response) is alone
    trace = split_response(response)
    status, detail, _ = compare(gold, trace.solution)
    assert status == ours, f"{case}: {detail} (expected {ours} because {why})"
