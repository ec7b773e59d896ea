"""Math answers checked with math-verify.

The prediction is read only from ``record["solution"]`` (the text after the last
``</think>``; parsing already split it). The gold comes from
``record["ground_truth_solution"]``: GSM8K's ``#### N`` line, a ``\\boxed{}`` in a
worked solution, or a bare answer.

math-verify's own timeouts use ``signal.alarm``, which raises off the main thread
(where Ray Data runs UDFs), so they are switched off here; the deadline is the
caller's job. Its errors are raised, not turned into ``False``: a checker that
cannot decide gives ``error``, never ``fail``.

>>> verify_math({"solution": "So \\\\boxed{18}.", "ground_truth_solution": "9+9\\n#### 18"}, {})
Verdict(status='pass', detail='18 == 18')
>>> verify_math({"solution": "\\\\boxed{17}", "ground_truth_solution": "#### 18"}, {}).status
'fail'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from raydistill.verifiers import Verdict, register

# math-verify warns on every call made with its timeouts switched off.
logging.getLogger("math_verify").setLevel(logging.ERROR)


def gold_answer(solution: str) -> str:
    """The gold answer text of a reference solution.

    >>> gold_answer("3 * 4 = 12\\n#### 1,200")
    '$1200$'
    >>> gold_answer("so the total is $\\\\boxed{\\\\frac{1}{2}}$")
    'so the total is $\\\\boxed{\\\\frac{1}{2}}$'
    """
    if "####" in solution:
        answer = solution.rsplit("####", 1)[1].strip().replace(",", "")
        return f"${answer}$"
    return solution


def _strings(parsed: list[Any]) -> str:
    return str(parsed[-1]) if parsed else ""


@register("math")
def verify_math(record: Mapping[str, Any], params: Mapping[str, Any]) -> Verdict:
    """Check the final answer of one sample against the gold solution."""
    from math_verify import parse, verify  # heavy (sympy); only where verifying

    gold_text = gold_answer(record.get("ground_truth_solution") or "")
    try:
        gold = parse(gold_text, parsing_timeout=None, raise_on_error=True)
    except Exception as exc:  # noqa: BLE001 - any checker failure is an error verdict
        return Verdict("error", f"gold not parseable: {type(exc).__name__}: {exc}")
    if not gold:
        return Verdict("error", f"gold not parseable: {gold_text[:80]!r}")
    answer_text = (record.get("solution") or "").replace(",", "")
    try:
        predicted = parse(answer_text, parsing_timeout=None, raise_on_error=True)
    except Exception as exc:  # noqa: BLE001
        return Verdict("error", f"answer not parseable: {type(exc).__name__}: {exc}")
    if not predicted:
        return Verdict("fail", "no answer found after the reasoning")
    try:
        same = verify(gold, predicted, timeout_seconds=None, raise_on_error=True)
    except Exception as exc:  # noqa: BLE001
        return Verdict("error", f"comparison failed: {type(exc).__name__}: {exc}")
    detail = f"{_strings(predicted)} {'==' if same else '!='} {_strings(gold)}"
    return Verdict("pass", detail) if same else Verdict("fail", detail)
