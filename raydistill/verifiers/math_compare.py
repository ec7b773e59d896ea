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

from raydistill.verifiers.math_answers import (
    as_time,
    as_word,
    final_answer,
    gold_answer,
    is_broken_mixed,
    normalise,
)
from raydistill.verifiers.math_forms import (
    as_interval,
    list_items,
    named,
    split_top,
    tuple_items,
    variables,
)

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
_COMMA = re.compile(r"\s*,\s*")
_NUMERAL = re.compile(r"-?\d+(?:\.\d+)?")
# Lists longer than this are left to math-verify's set comparison (matching is quadratic).
MAX_MATCHED_ITEMS = 12

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
    if is_broken_mixed(gold) or is_broken_mixed(answer):  # "11 7/6": neither 11 + 7/6 nor 77/6
        return False, f"not a mixed number: {answer!r} vs {gold!r}"
    if (listed := _same_listing(gold, answer)) is not None:
        return listed
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
        # "3,5" is 3.5 against a number ("la réponse est 5,5" is not the set {5, 5})
        whole = re.fullmatch(r"-?\d+,0+", text)  # "3,0" may be the list {3, 0}
        if _DECIMAL_COMMA.fullmatch(text) and (_DECIMAL_POINT.fullmatch(other) or (
                _NUMERAL.fullmatch(other) and not whole)):
            equal = float(text.replace(",", ".")) == float(other)
            return equal, f"decimal comma {answer!r} vs {gold!r}"
    gold_pct, answer_pct = _PERCENT.search(gold), _PERCENT.search(answer)
    if gold_pct or answer_pct:
        gold_plain, answer_plain = _PERCENT.sub("", gold), _PERCENT.sub("", answer)
        same, detail = _math_verify(as_interval(gold_plain), as_interval(answer_plain))
        if same and answer_pct and not gold_pct and not _NUMERAL.fullmatch(answer_plain):
            # "40%" may stand for a gold "40" that left its sign out; a fraction
            # written as a percent ("4 4/9%") is only its value (4/9 + 4) / 100.
            same = False
        if same is False and bool(gold_pct) != bool(answer_pct):
            scaled = (f"\\frac{{{gold_plain}}}{{100}}", answer_plain) if gold_pct else (
                gold_plain, f"\\frac{{{answer_plain}}}{{100}}")
            same, detail = _math_verify(*scaled)
        return same, detail
    gold_variables, answer_variables = variables(gold), variables(answer)
    if gold_variables and answer_variables and gold_variables != answer_variables:
        return False, f"inequality in {sorted(answer_variables)}, not {sorted(gold_variables)}"
    return _math_verify(as_interval(gold), as_interval(answer))


Rows = list[list[str]]


def _plus_minus(rows: Rows) -> Rows:
    r"""Single values with one ``\pm`` as their two values: ``1 \pm \sqrt{2}`` is two rows."""
    if any(len(row) != 1 for row in rows):
        return rows
    expanded = []
    for (value,) in rows:
        signs = re.findall(r"\\(?:pm|mp)(?![A-Za-z])|±", value)
        if len(signs) == 1:
            expanded += [[re.sub(r"\\(?:pm|mp)(?![A-Za-z])|±", sign, value)] for sign in ("+", "-")]
        else:
            expanded.append([value])
    return expanded


def _same_rows(gold_rows: Rows, answer_rows: Rows) -> bool:
    """Each gold row matches a distinct answer row, cell by cell; none left over."""
    gold_rows, answer_rows = _plus_minus(gold_rows), _plus_minus(answer_rows)
    if len(gold_rows) != len(answer_rows):
        return False
    unmatched = list(answer_rows)
    for gold_row in gold_rows:
        for candidate in unmatched:
            if len(candidate) == len(gold_row) and all(
                    same_answer(g, a)[0] is True for g, a in zip(gold_row, candidate, strict=True)):
                unmatched.remove(candidate)
                break
        else:
            return False
    return True


def _rows_of(text: str, width: int) -> Rows | None:
    """A bare answer as rows of ``width`` values: ``2, 3`` (width 1), ``(4, 5)`` or ``4, 5``."""
    text = as_interval(text)  # x \in \{2, 3\} is the set
    if re.search(r"(?<![<>\\])=|<|>|\\[lg]e|\\[lg]t\b", text):
        return None  # an equation or inequality is no bare value
    if width > 1 and text.strip().startswith("\\{"):
        return []  # a set has no order: no row of named values
    items, _ = list_items(text)
    if width == 1:
        return [[item] for item in items]
    if len(items) == width and not any(tuple_items(item) for item in items):
        return [items]  # "4, 5" for "AB=4, CD=5"
    rows = [tuple_items(item) for item in items]
    if all(row is not None and len(row) == width for row in rows):
        return rows  # type: ignore[return-value]
    return None


def _same_ratio(gold: str, answer: str) -> bool:
    """``7:32`` against ``7:32`` term by term, or against one value (``\\frac{7}{32}``)."""
    gold_terms, answer_terms = gold.split(":"), answer.split(":")
    if len(answer_terms) > 1:
        return len(gold_terms) == len(answer_terms) and all(
            same_answer(g, a)[0] is True for g, a in zip(gold_terms, answer_terms, strict=True))
    if len(gold_terms) != 2:
        return False
    return same_answer(f"\\frac{{{gold_terms[0]}}}{{{gold_terms[1]}}}", answer)[0] is True


def _same_listing(gold: str, answer: str) -> tuple[bool | None, str] | None:
    r"""Lists of named values (``AB=4, CD=5`` vs ``4, 5``) or joined by words; None otherwise.

    A named gold's values are a table: one column per name, one row per solution
    (``x=2 or x=3`` is two rows). The answer must give the same rows, in the
    names' order within a row (``AB=4, CD=5`` is not ``5, 4``) and in any order
    between rows. Two lists joined by words (``21, 16 \text{ or } 11``) are the
    same set of items.
    """
    gold_table, answer_table = named(gold), named(answer)
    detail = f"list {answer!r} vs {gold!r}"
    if gold_table and answer_table:
        (gold_names, gold_rows), (answer_names, answer_rows) = gold_table, answer_table
        if sorted(gold_names) != sorted(answer_names) or len(set(gold_names)) != len(gold_names):
            if len(gold_rows) * len(gold_names) == len(answer_rows) * len(answer_names) == 1:
                return None  # "y = 2x" vs "f(x) = 2x": math-verify compares the relations
            return False, detail  # x = 2 or x = 3 is not x = 2, y = 3
        order = [answer_names.index(name) for name in gold_names]
        answer_rows = [[row[i] for i in order] for row in answer_rows]
        return _same_rows(gold_rows, answer_rows), detail
    if gold_table and len(gold_table[0]) == 1 and ":" in gold_table[0][0] and (
            len(gold_table[1]) == 1):  # S_1:S_2 = 7:32 is a ratio, not a clock time
        return _same_ratio(gold_table[1][0][0], answer), detail
    if gold_table or answer_table:
        names, rows = gold_table or answer_table  # type: ignore[misc]
        other = answer if gold_table else gold
        other_rows = _rows_of(other, len(names))
        if other_rows is None or len(rows) * len(names) > MAX_MATCHED_ITEMS:
            return None
        if gold_table:
            return _same_rows(rows, other_rows), detail
        return _same_rows(other_rows, rows), detail
    (gold_items, gold_worded), (answer_items, answer_worded) = list_items(gold), list_items(answer)
    if (gold_worded or answer_worded) and min(len(gold_items), len(answer_items)) > 1 and (
            max(len(gold_items), len(answer_items)) <= MAX_MATCHED_ITEMS):
        gold_rows, answer_rows = [[item] for item in gold_items], [[item] for item in answer_items]
        return _same_rows(gold_rows, answer_rows), detail
    return None


def _same_sequence(gold: str, answer: str) -> tuple[bool | None, str]:
    gold_items, answer_items = split_top(gold, _COMMA), split_top(answer, _COMMA)
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
