"""Reason codes: why a sample got its verdict, in one vocabulary.

Every verdict and every error row carries one of these codes beside its
human-readable detail. The summary, the report, the live metrics and the error
budget count codes; none of them parses the detail text.

>>> status_of("wrong_answer")
'fail'
>>> status_of(filtered("repetition"))
'fail'
>>> is_known("filtered:repetition"), is_known("bogus")
(True, False)
"""

from __future__ import annotations

from typing import Literal

Status = Literal["pass", "fail", "error"]

# code -> (the verdict it goes with, what it means). The README's table of
# reason codes is this dict.
CODES: dict[str, tuple[Status, str]] = {
    "pass": ("pass", "the answer was checked and is correct"),
    "wrong_answer": ("fail", "the answer was checked and is wrong"),
    "no_answer": ("fail", "no final answer could be found in the response"),
    "truncated": ("fail", "the trace was cut (max_tokens) before its answer; never checked"),
    "repetition": ("fail", "the trace looped and was stopped while generated "
                   "(sampling.stop_on_repetition); never checked"),
    "timeout": ("fail", "the program ran past its time limit"),
    "runtime_error": ("fail", "the program crashed or exited non-zero"),
    "no_label": ("fail", "no gold and no majority answer strong enough to label the problem "
                 "(labels.policy); never checked"),
    "suspect_gold": ("fail", "a confident majority disagrees with the gold and "
                     "labels.on_suspect is drop"),
    "sandbox_error": ("error", "the sandbox could not run the program (infrastructure)"),
    "verifier_error": ("error", "the checker itself failed or timed out (bad gold, crash)"),
    "judge_error": ("error", "the LLM judge gave no usable verdict"),
    "teacher_error": ("error", "the teacher produced no sample (engine crash, API failure)"),
    "input_error": ("error", "the problem row could not be used (missing or bad fields)"),
}

# A sample removed by a quality filter: ``filtered:<filter name>``, a failure.
FILTERED_PREFIX = "filtered:"

# The code a bare status gets when a verifier names none.
DEFAULT_FOR_STATUS: dict[str, str] = {
    "pass": "pass", "fail": "wrong_answer", "error": "verifier_error",
}


def filtered(name: str) -> str:
    """The code of a sample removed by the trace filter ``name``."""
    return f"{FILTERED_PREFIX}{name}"


def is_known(code: str) -> bool:
    """True for a listed code or a ``filtered:<name>`` code."""
    return code in CODES or (code.startswith(FILTERED_PREFIX) and len(code) > len(FILTERED_PREFIX))


def status_of(code: str) -> Status:
    """The verdict status a code belongs to; ValueError for an unknown code."""
    if code.startswith(FILTERED_PREFIX):
        return "fail"
    try:
        return CODES[code][0]
    except KeyError:
        raise ValueError(f"unknown reason code {code!r}; known: {', '.join(CODES)}") from None
