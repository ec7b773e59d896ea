r"""Compare a gold answer and a response's final answer: math-verify, and where it errs, us.

Runs in the math child process only (it imports sympy and math-verify, ~1 s);
strings in, strings out. :mod:`raydistill.verifiers.math_answers` extracts both
answers. Before math-verify decides, these forms are settled here, because
math-verify 0.9.0 gets them wrong (``tests/data/math_pairs.jsonl`` has cases of each):

- clock times (``12:00``; math-verify reads ``zoo``, so any two times are equal);
- words (``odd``, ``Monday``, ``\text{yes}``): equal as words, never to a number or
  to a product of symbols (math-verify reads ``odd`` as ``d^2 o``);
- sequences with an ellipsis: every listed term, in order (math-verify keeps the last);
- inequalities against intervals (``-2 \le x \le 7`` is ``[-2, 7]``);
- percent: ``25\%`` is 25 or 1/4, whichever the other side wrote;
- a decimal comma (``3,5`` against ``3.5``);
- exact numbers: two rationals must be equal exactly (``1/2004!`` vs ``1/2005!``,
  ``2^{100}`` vs ``2^{100}+1``), other numbers to a relative 1e-4 at 50 digits
  (math-verify rounds to 6 decimals in floating point, so ``1e-7 == 2e-7``).

>>> compare("9+9\n#### 18", "So \\boxed{18}.")
('pass', '18 == 18', 'pass')
>>> compare("#### 18", "\\boxed{17}")[2]
'wrong_answer'
>>> compare(r"$\boxed{12:00}$", r"\boxed{1:00}")[0]
'fail'
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sympy
from math_verify import parse, verify

from raydistill.verifiers.math_answers import as_time, as_word, final_answer, gold_answer, normalise

# math-verify warns on every call made with its timeouts switched off.
logging.getLogger("math_verify").setLevel(logging.ERROR)

# Two numbers math-verify calls equal must agree this closely (relative): loose
# enough for "0.333333" == 1/3 (3e-7), tight enough that 1e-7 != 2e-7.
NUMBER_REL_TOL = 1e-4
# Digits for that check: sympy's Floats keep any exponent (1/2004! is ~1e-5760).
EVAL_DIGITS = 50

# A multiple-choice letter in AMC's form, with the option's value after it, or alone.
_CHOICE = re.compile(r"(?:\\text(?:bf)?\{|\\mathrm\{)?\s*\(([A-E])\)\s*\}?(?:\\[ ,;:!]|~|\s)*(.*)")
_LETTER = re.compile(r"(?:\\text(?:bf)?\{)?\s*([A-E])\s*\}?")
_DELIMITED = re.compile(r"\$|\\\(|\\\[")
_WORD = re.compile(r"[A-Za-z]{2,}")
_ELLIPSIS = re.compile(r"\\[lc]?dots|\.\.\.|…")
_PERCENT = re.compile(r"\s*\\?%\s*$")
_DECIMAL_COMMA = re.compile(r"-?0,\d+|-?\d+,(?:\d{1,2}|\d{4,})")
_DECIMAL_POINT = re.compile(r"-?\d+\.\d+")
_LE = r"(?:<|\\le(?:q|qslant)?|≤|<=)"
_GE = r"(?:>|\\ge(?:q|qslant)?|≥|>=)"
_VAR = r"[a-zA-Z]"
_BOUND = r"(-?[^<>=\\,]+?|-?\\infty|-?\\frac\{[^{}]*\}\{[^{}]*\}|-?\\sqrt\{[^{}]*\})"
_CHAIN = re.compile(rf"{_BOUND}\s*({_LE})\s*{_VAR}\s*({_LE})\s*{_BOUND}")
_ONE_SIDED = re.compile(rf"{_VAR}\s*({_LE}|{_GE})\s*{_BOUND}")
_OR = re.compile(r"\s*(?:\\text\{\s*or\s*\}|\bor\b|\\lor|\\vee)\s*")
_IN_SET = re.compile(rf"{_VAR}\s*\\in\s*(.+)")


def _as_interval(text: str) -> str:
    r"""``-2 \le x < 7`` as ``[-2, 7)``; ``x > 3`` as ``(3, \infty)``; other text unchanged.

    >>> _as_interval(r"x < -1 \text{ or } x \ge 4")
    '(-\\infty, -1) \\cup [4, \\infty)'
    """
    text = text.strip()
    parts = _OR.split(text)
    if len(parts) > 1:
        converted = [_as_interval(part) for part in parts]
        if all(new != old.strip() for new, old in zip(converted, parts, strict=True)):
            return " \\cup ".join(converted)
        return text
    if chain := _CHAIN.fullmatch(text):
        low, op1, op2, high = chain.groups()
        return (f"{'(' if op1 == '<' else '['}{low.strip()}, "
                f"{high.strip()}{')' if op2 == '<' else ']'}")
    if one := _ONE_SIDED.fullmatch(text):
        op, bound = one[1], one[2].strip()
        strict = op in ("<", ">")
        if re.fullmatch(_LE, op):
            return f"(-\\infty, {bound}{')' if strict else ']'}"
        return f"{'(' if strict else '['}{bound}, \\infty)"
    if member := _IN_SET.fullmatch(text):
        return member[1].strip()
    return text


def _top_level_items(text: str) -> list[str]:
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{" and 1 or (char in ")]}" and -1 or 0)
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    items.append(current.strip())
    return [item for item in items if item]


def _parse(text: str) -> list[Any]:
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
    if not (getattr(gold, "is_number", False) and getattr(predicted, "is_number", False)):
        return None
    if gold.is_Rational and predicted.is_Rational:
        return None if gold == predicted else "the exact values differ"
    a, b = sympy.N(gold, EVAL_DIGITS), sympy.N(predicted, EVAL_DIGITS)
    scale = max(abs(a), abs(b))
    if scale.is_comparable and scale > 0 and abs(a - b) > NUMBER_REL_TOL * scale:
        return f"relative difference {float(abs(a - b) / scale):.2g}"
    return None


def _math_verify(gold_text: str, answer_text: str) -> tuple[bool | None, str]:
    """math-verify's verdict with our exactness check; None if either side parses to nothing."""
    gold, predicted = _parse(gold_text), _parse(answer_text)
    if not gold or not predicted:
        return None, "gold" if not gold else "answer"
    same = bool(verify(gold, predicted, timeout_seconds=None, raise_on_error=True))
    detail = f"{predicted[-1]} {'==' if same else '!='} {gold[-1]}"
    if same and (why := _numbers_disagree(gold[0], predicted[0])):
        return False, f"{predicted[-1]} != {gold[-1]} ({why})"
    return same, detail


def _choice(text: str) -> tuple[str, str] | None:
    r"""``\textbf{(B)}\ 12`` as ``("B", "12")``; ``(B)`` as ``("B", "")``; else None."""
    if match := _CHOICE.fullmatch(text.strip()):
        return match[1], match[2].strip()
    return (match[1], "") if (match := _LETTER.fullmatch(text.strip())) else None


def same_answer(gold: str, answer: str) -> tuple[bool | None, str]:
    """Whether two extracted answers are the same value; None when one cannot be read."""
    gold_choice, answer_choice = _choice(gold), _choice(answer)
    if gold_choice and gold_choice[1] and answer_choice:  # AMC: "(B) 12" against "B"
        chosen = answer_choice[0] == gold_choice[0] and (
            not answer_choice[1] or same_answer(gold_choice[1], answer_choice[1])[0] is True)
        return chosen, f"choice {answer!r} vs {gold!r}"
    if gold_choice and gold_choice[1]:
        return same_answer(gold_choice[1], answer)
    if answer_choice and answer_choice[1] and not gold_choice:
        return same_answer(gold, answer_choice[1])
    gold_time, answer_time = as_time(gold), as_time(answer)
    if gold_time or answer_time:
        return gold_time == answer_time, f"time {answer!r} vs {gold!r}"
    gold_word, answer_word = as_word(gold), as_word(answer)
    if gold_word or answer_word:
        detail = f"word {answer_word or answer!r} vs {gold_word or gold!r}"
        if answer_word and not gold_word:  # words are never a number; unreadable: no answer
            return (None if _math_verify(gold, answer)[0] is None else False), detail
        return gold_word == answer_word, detail
    if _ELLIPSIS.search(gold) or _ELLIPSIS.search(answer):
        return _same_sequence(gold, answer)
    for text, other in ((gold, answer), (answer, gold)):
        if _DECIMAL_COMMA.fullmatch(text) and _DECIMAL_POINT.fullmatch(other):
            equal = float(text.replace(",", ".")) == float(other)
            return equal, f"decimal comma {answer!r} vs {gold!r}"
    gold_pct, answer_pct = _PERCENT.search(gold), _PERCENT.search(answer)
    if gold_pct or answer_pct:
        gold_plain, answer_plain = _PERCENT.sub("", gold), _PERCENT.sub("", answer)
        same, detail = _math_verify(_as_interval(gold_plain), _as_interval(answer_plain))
        if same is False and bool(gold_pct) != bool(answer_pct):
            scaled = (f"\\frac{{{gold_plain}}}{{100}}", answer_plain) if gold_pct else (
                gold_plain, f"\\frac{{{answer_plain}}}{{100}}")
            same, detail = _math_verify(*scaled)
        return same, detail
    return _math_verify(_as_interval(gold), _as_interval(answer))


def _same_sequence(gold: str, answer: str) -> tuple[bool | None, str]:
    gold_items, answer_items = _top_level_items(gold), _top_level_items(answer)
    if len(gold_items) < 2 or len(answer_items) < 2:  # "1 + 2 + \cdots + n": text only
        same = " ".join(gold.split()) == " ".join(answer.split())
        return same, f"{answer!r} {'==' if same else '!='} {gold!r} (as written)"
    gold_terms = [_ELLIPSIS.sub("", item).strip() or "..." for item in gold_items]
    answer_terms = [_ELLIPSIS.sub("", item).strip() or "..." for item in answer_items]
    if len(gold_terms) != len(answer_terms) or [t == "..." for t in gold_terms] != [
            t == "..." for t in answer_terms]:
        return False, f"sequence {answer!r} != {gold!r}"
    for gold_term, answer_term in zip(gold_terms, answer_terms, strict=True):
        if gold_term != "..." and same_answer(gold_term, answer_term)[0] is not True:
            return False, f"sequence {answer!r} != {gold!r} at {answer_term!r}"
    return True, f"sequence {answer!r} == {gold!r}"


def compare(gold_solution: str, solution: str) -> tuple[str, str, str]:
    """``(status, detail, reason code)`` for one response, in this process, without a deadline."""
    gold_text = gold_answer(gold_solution or "")
    if not gold_text or ("####" in gold_solution and as_word(gold_text)):
        # GSM8K's "#### N" is a number: a word there is a broken gold, not a word answer.
        return "error", f"gold not parseable: {gold_text[:80]!r}", "verifier_error"
    answer_text = final_answer(solution or "")
    if answer_text is None:
        return "fail", "no answer: unterminated \\boxed{ (the answer was cut off)", "no_answer"
    if not answer_text:
        return "fail", "no answer found after the reasoning", "no_answer"
    try:
        same, detail = same_answer(gold_text, answer_text)
    except Exception as exc:  # noqa: BLE001 - any checker failure is an error verdict
        return "error", f"comparison failed: {type(exc).__name__}: {exc}"[:300], "verifier_error"
    if same is None:
        if detail == "gold":
            return "error", f"gold not parseable: {gold_text[:80]!r}", "verifier_error"
        return "fail", f"no answer found after the reasoning: {answer_text[:80]!r}", "no_answer"
    return ("pass", detail[:300], "pass") if same else ("fail", detail[:300], "wrong_answer")
