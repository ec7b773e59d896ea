r"""Math answers as text: where the final answer is, and the forms it is written in.

Pure string work, no sympy: :mod:`raydistill.verifiers.math_compare` compares
what this module extracts. Read only from the text after the last ``</think>``.

The final answer of a response is, in this order:

1. a "Final Answer:" line written after the last ``\boxed{}`` (the box was an
   intermediate value); a prose line that hedges ("3, but maybe 4") is all its values;
2. the last ``\boxed{}``, together with the boxes just before it that only
   "and", "or", commas or ``x =`` separate from it (``\boxed{2}`` and ``\boxed{3}``);
3. the text after the last "answer is", "Answer:", "A:", "####" (or the same
   lead-in in French, Spanish, German, Portuguese, Russian or Chinese);
4. the last ``**bold**`` of the last paragraph that is not a heading (``**Step 3:**``);
5. else the last ``$...$`` of the last paragraph, or that whole paragraph
   (math-verify then takes its last expression).

An unterminated ``\boxed{`` is no answer: where the box would have closed is
unknown (``\boxed{18`` may be a cut ``180``). A gold solution's answer is its
``#### N`` line, all its boxes joined (a gold that boxes several values), or the
whole text.

>>> final_answer(r"so $\boxed{2}$ and $\boxed{3}$.")
'2, 3'
>>> final_answer("We get 3 apples. The answer is 1,200 dollars.")
'1200'
>>> clean("(1,200)"), clean(r"(-\infty, 1,000]"), clean("1 000 000"), clean(r"4 4/9")
('(1,200)', '(-\\infty, 1000]', '1000000', '4\\frac{4}{9}')
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
# What may stand between two boxes that are one answer: "and", "or", commas, "x =".
_BOX_JOINER = re.compile(
    r"[\s$,;.]*(?:\\quad|\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b|&)?[\s$,;]*"
    r"(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)?[\s$]*", re.I)
_FINAL_LINE = re.compile(r"final\s+answer\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*(.+?)\s*(?:\n|$)", re.I)
_LEAD_INS = re.compile(
    r"(?:answer\s+is\s*:?|answer\s*:|(?:^|\n)\s*A\s*:|####|"
    r"la\s+r[ée]ponse\s+(?:finale\s+)?est\s*:?|r[ée]ponse\s*(?:finale\s*)?:|"
    r"la\s+respuesta\s+(?:final\s+)?es\s*:?|respuesta\s*(?:final\s*)?:|"
    r"die\s+antwort\s+ist\s*:?|antwort\s*:|a\s+resposta\s+[ée]\s*:?|resposta\s*:|"
    r"ответ\s*:?|答案[是为：:]|最终答案[是为：:]?)\s*(.+?)\s*(?:\n|$)", re.I)
_AND = re.compile(r"\s*,?\s*(?:\\text\{\s*,?\s*and\s*\}|\band\b)\s*")
_INLINE_MATH = re.compile(r"\$([^$]+)\$")
_INLINE_JOINER = re.compile(r"\s*,?\s*(?:and|or)?\s*,?\s*", re.I)
_HEDGE = re.compile(r"\b(?:or|but|maybe|perhaps|possibly|probably|either|unless|otherwise|not|"
                    r"rather|instead)\b", re.I)
_VALUE = re.compile(r"-?\d+(?:[.,]\d+)*(?:/\d+)?")
_BOLD = re.compile(r"\*\*([^*\n]+?)\*\*")
_HEADING = re.compile(r"[:：]\s*$|^\s*(?:step|étape|paso|schritt|шаг|步骤|solution|answer)\b", re.I)

# Whole-answer forms (anchored): a separator is a thousands separator only when
# the whole answer is one such number, so "(1,200)" stays a pair.
_COMMA_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?:(?:,|\\,|\{,\})\d{3})+(?:\.\d+)?")
_SPACE_THOUSANDS = re.compile(
    r"-?[1-9]\d{0,2}(?:(?: |\\ |\\,|\\!|~|\u00a0|\u202f)\d{3})+(?:\.\d+)?")
_THOUSANDS_SEP = re.compile(r",|\\,|\{,\}|\\ |\\!|~| |\u00a0|\u202f")
_BRACED_DECIMAL = re.compile(r"-?\d+\{,\}(?:\d{1,2}|\d{4,})")  # LaTeX's decimal comma
_BRACKETS = re.compile(r"([(\[])([^()\[\]]*)([)\]])")
_MIXED = re.compile(r"(-?\d+)\s+(\d+)\s*/\s*(\d+)")
_UNITS = re.compile(
    r"(?<=[\d}])(?:\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z. ]*\}(?:\^\{?[23]\}?)?"
    r"|\s+(?!or\b|and\b)[A-Za-z]+\.?(?:\^\{?[23]\}?)?)+\s*$")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_E_CONST = re.compile(r"\\(?:mathrm|text|mathit|rm)\s*\{\s*e\s*\}")
_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
# Plain-text and malformed notation the models write: \sqrt(2), sqrt(2), exp(16).
_PAREN_SQRT = re.compile(r"\\?sqrt\s*\(([^()]*)\)")
_EXP = re.compile(r"(?<![\\A-Za-z])\\?exp\s*\(([^()]*)\)")
_PLUS_MINUS = re.compile(r"\+\s*-")
_COMPLEX_I = re.compile(r"(\d)\s*i\b")
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|emph)\s*\{([^{}]*)\}")
_DISPLAY = re.compile(r"\\displaystyle|\\left|\\right|\\!")


def boxes(text: str) -> list[tuple[int, int, str]]:
    r"""Every ``\boxed{...}`` as ``(start, end, content)``; content None if it never closes.

    >>> [b[2] for b in boxes(r"\boxed{1} and \boxed{\frac{1}{2}}, \boxed{3")]
    ['1', '\\frac{1}{2}', None]
    """
    found: list[tuple[int, int, str]] = []
    for match in _BOX.finditer(text):
        depth, start = 1, match.end()
        if found and match.start() < found[-1][1]:
            continue  # a box inside the previous box
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                found.append((match.start(), i + 1, text[start:i]))
                break
        else:
            found.append((match.start(), len(text), None))  # type: ignore[arg-type]
    return found


def _last_box_group(text: str, found: list[tuple[int, int, str]]) -> str:
    group = [found[-1][2]]
    for previous, following in zip(found[-2::-1], found[:0:-1], strict=True):
        between = text[previous[1]:following[0]]
        if len(between) > 40 or not _BOX_JOINER.fullmatch(between):
            break
        group.insert(0, previous[2])
    unique = list(dict.fromkeys(part.strip() for part in group))
    return ", ".join(unique)


def _last_inline_group(text: str) -> str | None:
    """The last ``$...$`` with those just before it that only "and"/"or"/commas join."""
    found = list(_INLINE_MATH.finditer(text))
    if not found:
        return None
    group, joiners = [found[-1][1]], ""
    for previous, following in zip(found[-2::-1], found[:0:-1], strict=True):
        between = text[previous.end():following.start()]
        if not _INLINE_JOINER.fullmatch(between):
            break
        group.insert(0, previous[1])
        joiners += between
    return (" \\text{ or } " if re.search(r"\bor\b", joiners) else ", ").join(group)


def _strip_math_markup(answer: str) -> str:
    answer = answer.replace("\\$", "").replace("**", "").strip()
    answer = re.sub(r"^\$+|\$+$", "", answer.rstrip(".").strip()).strip()
    answer = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", answer).strip()
    return answer.rstrip(".").strip()


def _unhedged(line: str) -> str:
    """A prose line hedging between values ("3, but maybe 4", "10 (not 12)"): all of them.

    As a set, it matches neither value alone.
    """
    prose = _INLINE_MATH.sub(" ", line)
    values = _INLINE_MATH.findall(line) + _VALUE.findall(prose)
    if len(values) > 1 and _HEDGE.search(prose):
        return ", ".join(values)
    return line


def final_answer(solution: str) -> str | None:
    r"""The final answer text of a response; None if its last ``\boxed{`` never closes.

    >>> final_answer(r"so $\boxed{\frac{1}{2}}$."), final_answer("**18**."), final_answer("A:18")
    ('\\frac{1}{2}', '18', '18')
    >>> final_answer("Le triangle a **3 côtés**.\n\nLa réponse est 12.")
    '12'
    >>> final_answer(r"So $\boxed{5}$ is the radius.\n\nFinal Answer: 10")
    '10'
    """
    found = boxes(solution)
    if found and found[-1][2] is None:
        return None
    final_lines = list(_FINAL_LINE.finditer(solution))
    answer: str | None = None
    if final_lines and (not found or final_lines[-1].start() > found[-1][1]):
        answer = _unhedged(final_lines[-1].group(1))
    elif found:
        answer = _last_box_group(solution, found)
    elif lead_ins := _LEAD_INS.findall(solution):
        answer = _unhedged(lead_ins[-1])
    else:
        last_paragraph = solution.strip().rsplit("\n\n", 1)[-1]
        bolds = [b for b in _BOLD.findall(last_paragraph) if not _HEADING.search(b)]
        inline = _last_inline_group(last_paragraph)
        answer = bolds[-1] if bolds else inline or last_paragraph
    if (inner := boxes(answer)) and inner[-1][2] is not None:
        answer = _last_box_group(answer, inner)
    return clean(_strip_math_markup(answer))


def gold_answer(solution: str) -> str:
    r"""The gold answer text of a reference solution.

    >>> gold_answer("3 * 4 = 12\n#### 1,200")
    '1200'
    >>> gold_answer(r"so the total is $\boxed{\frac{1}{2}}$")
    '\\frac{1}{2}'
    >>> gold_answer(r"$x=\boxed{2}$ or $x=\boxed{-3}$")
    '2, -3'
    """
    if "####" in solution:
        return clean(solution.rsplit("####", 1)[1].strip())
    found = [b for b in boxes(solution) if b[2] is not None]
    if found:
        unique = list(dict.fromkeys(b[2].strip() for b in found))
        return clean(", ".join(unique))
    return clean(_strip_math_markup(solution.strip()))


def normalise(text: str) -> str:
    r"""Rewrite forms math-verify misreads (see the regression table in the tests).

    >>> normalise(r"2\mathrm{e} + pi/2, 1e-7")
    '2e + \\pi/2, 1\\times 10^{-7}'
    >>> normalise(r"\sqrt(2) + exp(16)"), normalise("14.0 + -1.0i")
    ('\\sqrt{2} + e^{16}', '14.0 -1.0 i')
    """
    text = _E_CONST.sub("e", text)
    text = _PAREN_SQRT.sub(r"\\sqrt{\1}", text)
    text = _EXP.sub(r"e^{\1}", text)
    text = _BARE_PI.sub(r"\\pi", text)
    text = _PLUS_MINUS.sub("-", text)
    text = _COMPLEX_I.sub(r"\1 i", text)
    return _SCI.sub(r"\1\\times 10^{\2}", text)


def clean(answer: str) -> str:
    """Drop what is no part of the value: thousands separators, units, degrees.

    A multi-line answer (a matrix) becomes one line: math-verify's ``$...$`` is one line.
    """
    answer = " ".join(_DISPLAY.sub("", answer).replace("\\$", "").split())
    if as_time(answer):
        return answer  # "p.m." is no unit
    answer = _DEGREES.sub("", answer)
    answer = _E_CONST.sub("e", answer)  # before units: \mathrm{e} is no unit
    answer = _UNITS.sub("", answer).strip()
    listed = _AND.sub(", ", answer)  # "19, 46, and 82" and "12\\text{ and }13" are lists
    if listed != answer and not re.search(r"[A-Za-z]{2,}", re.sub(r"\\[A-Za-z]+", "", listed)):
        answer = listed
    if _COMMA_THOUSANDS.fullmatch(answer) or _SPACE_THOUSANDS.fullmatch(answer):
        answer = _THOUSANDS_SEP.sub("", answer)
    elif _BRACED_DECIMAL.fullmatch(answer):
        answer = answer.replace("{,}", ".")
    else:
        answer = _BRACKETS.sub(_interval_ends, answer)
    if mixed := _MIXED.fullmatch(answer):
        answer = f"{mixed[1]}\\frac{{{mixed[2]}}}{{{mixed[3]}}}"
    return answer


def _interval_ends(match: re.Match[str]) -> str:
    """``(1,000, \\infty)``: two ends split by ", ", one written with a thousands comma."""
    ends = re.split(r",\s+", match[2])
    if len(ends) != 2 or "," not in match[2].replace(", ", "") or not all(
            _COMMA_THOUSANDS.fullmatch(end.strip()) or "," not in end for end in ends):
        return match[0]
    return f"{match[1]}{', '.join(end.replace(',', '') for end in ends)}{match[3]}"


def as_word(answer: str) -> str | None:
    r"""The answer as a lower-case word or phrase (``odd``, ``monday``), else None.

    >>> as_word(r"\text{Odd}"), as_word("yes."), as_word(r"\frac{1}{2}"), as_word("x")
    ('odd', 'yes', None, None)
    """
    text = answer
    for _ in range(3):
        text = _WRAPPERS.sub(r"\1", text)
    text = text.strip().strip(".!").strip()
    if "\\" in text or "{" in text:
        return None
    if not re.fullmatch(r"[^\W\d_](?:[^\W\d_]|[ '\-])*[^\W\d_]", text):
        return None
    return " ".join(text.lower().split())


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\text\{\s*)?([ap])?\.?\s*(?:m\.?)?\}?",
                   re.I)


def as_time(answer: str) -> tuple[int, int, int] | None:
    """A clock time ``(hours, minutes, seconds)`` on a 24-hour clock when am/pm says so.

    >>> as_time("12:00"), as_time("3:15 p.m."), as_time("3:4"), as_time("7")
    ((12, 0, 0), (15, 15, 0), None, None)
    """
    for _ in range(2):
        answer = _WRAPPERS.sub(r" \1", answer)
    match = _TIME.fullmatch(" ".join(answer.split()))
    if not match:
        return None
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        hours = hours % 12 + (12 if match[4].lower() == "p" else 0)
    return hours, minutes, seconds
