r"""The ``math`` verifier: a response's final answer against the gold, on a hard deadline.

Three modules share the work, none importing another in a cycle:
:mod:`~raydistill.verifiers.math_answers` finds the answers in the text (pure
strings), :mod:`~raydistill.verifiers.math_compare` decides whether they are the
same value (math-verify, corrected where it is known to be wrong), and
:mod:`~raydistill.verifiers.math_child` runs that comparison in a child process.

The prediction is read only from ``record["solution"]`` (the text after the last
``</think>``; parsing already split it): an answer found only inside the reasoning
is not an answer. The gold comes from ``record["ground_truth_solution"]``: GSM8K's
``#### N`` line, the ``\boxed{}`` values of a worked solution, or a bare answer.

Safety: math-verify's own timeouts use ``signal.alarm`` (a ValueError off the main
thread, where Ray Data runs UDFs) and some inputs hang regardless (Math-Verify
issue 65; ``9^{9^{9^{9}}}`` here). So :func:`verify_math` sends the two strings to
a child process, one per verifier slot, which is killed and respawned when it
misses ``verify.math_timeout_s`` (its one home is ``config.VerifyConfig``; the
pipeline passes the ``verify`` section as ``params``). Verdicts and their reasons:
``pass``; ``fail``/``wrong_answer``; ``fail``/``no_answer`` when no final answer
can be read (none, an unterminated ``\boxed{``); ``error``/``verifier_error`` for
an unreadable gold, a crashed or timed-out checker, a missing deadline. Never a
silent fail.

>>> verify_math({"ground_truth_solution": "#### 3", "solution": "3"}, {}).reason
'verifier_error'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raydistill.verifiers import Verdict, register
from raydistill.verifiers.math_answers import final_answer, gold_answer, normalise
from raydistill.verifiers.math_child import checker

__all__ = ["final_answer", "gold_answer", "normalise", "verify_math"]


@register("math")
def verify_math(record: Mapping[str, Any], params: Mapping[str, Any]) -> Verdict:
    """Check the final answer of one sample in this slot's child, on a hard deadline."""
    timeout = params.get("math_timeout_s")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        return Verdict("error", f"verify.math_timeout_s missing or not > 0: {timeout!r}",
                       "verifier_error")
    status, detail, reason = checker().check(
        record.get("ground_truth_solution") or "", record.get("solution") or "", float(timeout))
    return Verdict(status, detail, reason)  # type: ignore[arg-type]
