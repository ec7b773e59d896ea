r"""Math answers: our extraction and normalisation, math-verify for the comparison.

The prediction is read only from ``record["solution"]`` (the text after the last
``</think>``; parsing already split it): an answer found only inside the reasoning
is not an answer. The gold comes from ``record["ground_truth_solution"]``: GSM8K's
``#### N`` line, a ``\boxed{}`` in a worked solution, or a bare answer (``42``,
``\dfrac{1}{2}``).

The final answer of a prediction is, in this order: the last ``\boxed{}``; the
text after the last "answer is", "Answer:", "A:" or "####"; the last ``**bold**``;
else the whole text (math-verify then takes its last expression). It is cleaned of
``$``/``\$``, thousands separators (``1,200``), a trailing period and trailing
unit words (``18 dollars``, ``18\text{ cm}``). An unterminated ``\boxed{`` fails:
where the box would have closed is unknown (``\boxed{18`` may be a cut ``180``).

Where math-verify 0.9.0 is known to be wrong we correct it (the regression table
in ``tests/test_maths_regressions.py`` lists each case and why):
``\mathrm{e}``/``\text{e}`` becomes ``e`` (math-verify drops it or reads a
symbol), a bare ``pi`` becomes ``\pi``, ``1e-7`` becomes ``1\times 10^{-7}``, a
bare LaTeX gold gets ``$`` delimiters, and two numbers math-verify calls equal
must also agree to a relative 1e-4 (it rounds to 6 decimals, so ``1e-7 == 2e-7``).

Safety: math-verify's own timeouts use ``signal.alarm`` (a ValueError off the main
thread, where Ray Data runs UDFs) and some inputs hang regardless (Math-Verify
issue 65; ``9^{9^{9^{9}}}`` here). So :func:`verify_math` sends the two strings to
a child process (:mod:`raydistill.verifiers.math_child`), one per verifier slot,
which is killed and respawned when it misses ``math_timeout_s``: that sample gets
``error``. Only strings cross; a checker that cannot decide gives ``error``,
never ``fail``.

>>> final_answer("We get 3 apples. The answer is 1,200 dollars.")
'1200'
>>> compare("9+9\n#### 18", "So \\boxed{18}.")
('pass', '18 == 18')
>>> compare("#### 18", "\\boxed{17}")[0]
'fail'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from raydistill.verifiers import Verdict, register

# math-verify warns on every call made with its timeouts switched off.
logging.getLogger("math_verify").setLevel(logging.ERROR)

# Two numbers math-verify calls equal must agree this closely (relative): loose
# enough for "0.333333" == 1/3 (3e-7), tight enough that 1e-7 != 2e-7.
NUMBER_REL_TOL = 1e-4

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_LEAD_INS = re.compile(
    r"(?:answer\s+is\s*:?|answer\s*:|(?:^|\n)\s*A\s*:|####)\s*(.+?)\s*(?:\n|$)", re.I)
_BOLD = re.compile(r"\*\*([^*\n]+?)\*\*")
# "1,200", and LaTeX's "1\,200" / "1{,}200" (thin space, braced comma).
_THOUSANDS = re.compile(r"(?<=\d)(?:,|\\,|\{,\}|\\!|\\ )(?=\d{3}(?!\d))")
_UNITS = re.compile(r"(?<=\d)(?:\s*\\(?:text|mbox|mathrm)\{[^{}]*\}|\s+[A-Za-z]+\.?)+\s*$")
_E_CONST = re.compile(r"\\(?:mathrm|text|mathit|rm)\s*\{\s*e\s*\}")
_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_DELIMITED = re.compile(r"\$|\\\(|\\\[")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``; ``""`` if it never closes; None if none."""
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return ""


def normalise(text: str) -> str:
    r"""Rewrite forms math-verify misreads; see the module docstring.

    >>> normalise(r"2\mathrm{e} + pi/2, 1e-7")
    '2e + \\pi/2, 1\\times 10^{-7}'
    """
    text = _E_CONST.sub("e", text)
    text = _BARE_PI.sub(r"\\pi", text)
    return _SCI.sub(r"\1\\times 10^{\2}", text)


def final_answer(solution: str) -> str | None:
    r"""The final answer text of a prediction; None if ``\boxed{`` never closes.

    >>> final_answer(r"so $\boxed{\frac{1}{2}}$."), final_answer("**18**."), final_answer("A:18")
    ('\\frac{1}{2}', '18', '18')
    """
    boxed = _boxed(solution)
    if boxed == "":
        return None
    if boxed is not None:
        answer = boxed
    elif lead_ins := _LEAD_INS.findall(solution):
        answer = lead_ins[-1]
    elif bolds := _BOLD.findall(solution):
        answer = bolds[-1]
    else:
        answer = solution
    answer = answer.replace("\\$", "").replace("**", "").strip().rstrip(".").strip()
    if answer.startswith("$") and answer.endswith("$"):
        answer = answer.strip("$").strip()
    answer = normalise(_THOUSANDS.sub("", answer))  # before units: \mathrm{e} is no unit
    return _UNITS.sub("", answer).strip()


def gold_answer(solution: str) -> str:
    r"""The gold answer text of a reference solution.

    >>> gold_answer("3 * 4 = 12\n#### 1,200")
    '1200'
    >>> gold_answer(r"so the total is $\boxed{\frac{1}{2}}$")
    '\\frac{1}{2}'
    """
    if "####" in solution:
        return _THOUSANDS.sub("", solution.rsplit("####", 1)[1].strip())
    boxed = _boxed(solution)
    return boxed if boxed else solution.strip()


def _parse(text: str) -> list[Any]:
    from math_verify import parse  # heavy (sympy): only in the child

    text = normalise(text)
    attempts = [text]
    if not _DELIMITED.search(text):
        # Bare LaTeX ("2\sqrt{2}", "\dfrac{1}{2}") needs delimiters, or math-verify
        # reads only its first number; words ("18 pears", "hmm") must stay bare.
        if "\\" in text or not _WORD.search(text):
            attempts.insert(0, f"${text}$")
    for attempt in attempts:
        if found := parse(attempt, parsing_timeout=None, raise_on_error=True):
            return found
    return []


def _numbers_disagree(gold: Any, predicted: Any) -> str | None:
    try:
        if not (getattr(gold, "is_number", False) and getattr(predicted, "is_number", False)):
            return None
        a, b = complex(gold.evalf(30)), complex(predicted.evalf(30))
    except (TypeError, ValueError, AttributeError):
        return None
    scale = max(abs(a), abs(b))
    if scale and abs(a - b) > NUMBER_REL_TOL * scale:
        return f"relative difference {abs(a - b) / scale:.2g}"
    return None


def compare(gold_solution: str, solution: str) -> tuple[str, str]:
    """``(status, detail)`` for one prediction, in this process and without a deadline.

    Only the child process calls this in the pipeline; strings in, strings out.
    """
    from math_verify import verify

    gold_text = gold_answer(gold_solution or "")
    try:
        gold = _parse(gold_text)
    except Exception as exc:  # noqa: BLE001 - any checker failure is an error verdict
        return "error", f"gold not parseable: {type(exc).__name__}: {exc}"
    if not gold:
        return "error", f"gold not parseable: {gold_text[:80]!r}"
    answer_text = final_answer(solution or "")
    if answer_text is None:
        return "fail", "unterminated \\boxed{: the answer was cut off"
    try:
        predicted = _parse(answer_text)
    except Exception as exc:  # noqa: BLE001
        return "error", f"answer not parseable: {type(exc).__name__}: {exc}"
    if not predicted:
        return "fail", "no answer found after the reasoning"
    try:
        same = verify(gold, predicted, timeout_seconds=None, raise_on_error=True)
        detail = f"{predicted[-1]} {'==' if same else '!='} {gold[-1]}"
        if same and (why := _numbers_disagree(gold[0], predicted[0])):
            return "fail", f"{predicted[-1]} != {gold[-1]} ({why})"
    except Exception as exc:  # noqa: BLE001
        return "error", f"comparison failed: {type(exc).__name__}: {exc}"
    return ("pass" if same else "fail"), detail[:300]


@register("math")
def verify_math(record: Mapping[str, Any], params: Mapping[str, Any]) -> Verdict:
    """Check the final answer of one sample in this slot's child, on a hard deadline."""
    from raydistill.verifiers.math_child import checker

    timeout = float(params.get("math_timeout_s", 5.0))
    status, detail = checker().check(
        record.get("ground_truth_solution") or "", record.get("solution") or "", timeout)
    return Verdict(status, detail)  # type: ignore[arg-type]
