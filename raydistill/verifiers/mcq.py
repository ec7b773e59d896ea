r"""Multiple choice: the letter the answer names, against the gold letter.

The letter is read only from ``record["solution"]`` (the text after the last
``</think>``), from the last ``Answer: X`` or ``\boxed{X}`` there (``(B)``,
``\text{B}`` and ``**Answer:** B`` count too). A letter mentioned anywhere else,
or only inside the reasoning, is not an answer: the sample fails. Letters ``A``
to ``J`` (MMLU-Pro has ten options). The gold is a bare letter, ``(C)``,
``Answer: C`` or ``\boxed{C}``; anything else is a bad row: ``error``.

>>> verify_mcq({"solution": "Option B fits.\nAnswer: (B)", "ground_truth_solution": "B"}, {})
Verdict(status='pass', detail='B == B')
>>> verify_mcq({"solution": "I'd say B.", "ground_truth_solution": "B"}, {}).detail
'no "Answer: X" or \\boxed{X} after the reasoning'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from raydistill.verifiers import Verdict, register

_LETTER = r"\(?\s*(?:\\(?:text|mathrm|textbf)\{\s*)?([A-J])\s*\}?\s*\)?"
_ANSWER = re.compile(
    rf"(?:answer\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*{_LETTER}(?![A-Za-z0-9])"
    rf"|\\boxed\{{\s*{_LETTER}\s*\}})", re.I)
_BARE_GOLD = re.compile(rf"^\s*{_LETTER}\s*[.)]?\s*$", re.I)


def letter(text: str) -> str | None:
    r"""The letter named by the last ``Answer: X`` or ``\boxed{X}`` in ``text``.

    >>> letter(r"A or C? \boxed{\text{C}}"), letter("Answer: D is wrong, Answer: a")
    ('C', None)
    """
    found = None
    for match in _ANSWER.finditer(text):
        found = match.group(1) or match.group(2)
    return found if found and found.isupper() else None


def gold_letter(solution: str) -> str | None:
    """The gold letter: a bare letter, ``(C)``, ``Answer: C`` or ``\\boxed{C}``."""
    bare = _BARE_GOLD.match(solution)
    return bare.group(1).upper() if bare else letter(solution)


@register("mcq")
def verify_mcq(record: Mapping[str, Any], params: Mapping[str, Any]) -> Verdict:
    """Compare the answer's letter with the gold letter."""
    gold = gold_letter(record.get("ground_truth_solution") or "")
    if gold is None:
        gold_text = (record.get("ground_truth_solution") or "")[:80]
        return Verdict("error", f"gold is no option letter: {gold_text!r}")
    predicted = letter(record.get("solution") or "")
    if predicted is None:
        return Verdict("fail", 'no "Answer: X" or \\boxed{X} after the reasoning', "no_answer")
    return Verdict("pass" if predicted == gold else "fail",
                   f"{predicted} {'==' if predicted == gold else '!='} {gold}")
