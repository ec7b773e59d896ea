r"""Math answers as text: where the final answer is, and the forms it is written in.

Pure string work, no sympy: :mod:`raydistill.verifiers.math_compare` compares
what this module extracts. Read only from the text after the last ``</think>``.

The final answer of a response is, in this order:

1. a "Final Answer:" line written after the last ``\boxed{}`` (the box was an
   intermediate value), read as a lead-in is (3.);
2. the last ``\boxed{}``, together with the boxes just before it that only
   "and", "or", commas, spacing (``\quad``, ``\]``) or ``x =`` separate from it
   (``\boxed{2}`` and ``\boxed{3}``);
3. the text after the last "answer is", "Answer:", "A:", "####" (or the same
   lead-in in French, Spanish, German, Portuguese, Russian or Chinese: "La
   réponse est", "答案是", "最终答案：", "答："), to the end of its sentence
   ("The final answer is $28\%$. I hope it is correct."); a line that hedges ("3,
   but maybe 4") is all its values, and so is a Chinese line ("答：共有5个" is 5);
4. the last ``**bold**`` of the last paragraph that is not a heading (``**Step 3:**``);
5. else the last ``$...$`` of the last paragraph, or that whole paragraph
   (math-verify then takes its last expression).

An unterminated ``\boxed{`` is no answer: where the box would have closed is
unknown (``\boxed{18`` may be a cut ``180``). A gold solution's answer is its
``#### N`` line, all its boxes joined (a gold that boxes several values), the
answer its prose announces (a whole worked solution), its ``$...$`` joined by
words (``$1$ and $2$``), or the whole text.

>>> final_answer(r"so $\boxed{2}$ and $\boxed{3}$.")
'2, 3'
>>> final_answer("We get 3 apples. The answer is 1,200 dollars.")
'1200'
>>> clean("(1,200)"), clean(r"(-\infty, 1,000]"), clean("1 000 000"), clean(r"-4 4/9")
('(1,200)', '(-\\infty, 1000]', '1000000', '-\\frac{40}{9}')
>>> clean(r"11,\! 111,\! 100"), clean(r"1\!000"), clean("28 percent")
('11111100', '1000', '28\\%')
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
# What may stand between two boxes that are one answer: "and", "or", commas, spacing,
# display-math brackets, "x =" (at most 60 characters: "\quad \text{and} \quad x_2 =").
_BOX_JOINER = re.compile(
    r"(?:[\s$,;.&~]|\\[\[\]()]|\\\\|\\q?quad|\\[,;:! ]|\\text\s*\{\s*(?:,|and|or)?\s*\}|\band\b|"
    r"\bor\b|[A-Za-z](?:_\{?\w+\}?)?\s*=)*", re.I)
_FINAL_LINE = re.compile(r"final\s+answer\s*(?:\*\*)?\s*[:：]", re.I)
# Where a final answer is announced, in English, French, Spanish, German, Portuguese,
# Russian or Chinese ("答案是", "最终答案：", "答：", "结论：").
_LEAD_IN = re.compile(
    r"(?:answer\s+is\s*:?|answer\s*(?:\*\*)?\s*[:：]|(?:^|\n)\s*A\s*:|####|"
    r"r[ée]ponse\s+(?:finale\s+)?est(?:\s+donc)?\s*:?|r[ée]ponse\s*(?:finale\s*)?(?:\*\*)?\s*[:：]|"
    r"la\s+respuesta\s+(?:final\s+)?es\s*:?|respuesta\s*(?:final\s*)?:|"
    r"die\s+antwort\s+ist\s*:?|antwort\s*:|a\s+resposta\s+[ée]\s*:?|resposta\s*:|ответ\s*:?|"
    r"答案\s*(?:\*\*)?\s*(?:应该?|应当)?\s*(?:[是为為]\s*[：:]?|[：:])|(?<![回解])答\s*[：:]|"
    r"结论\s*(?:\*\*)?\s*[：:])(?:\s*\*\*)?", re.I)
# Chinese text and punctuation (not full-width digits): what lies around a value in "答：共有5个".
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uff0f\uff1a-\uffef]+")
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
# A mixed number: "2 1/2", "-2 1/2", "1 000 1/2", "2\frac{1}{2}", "+11 5/6".
_WHOLE = r"\d{1,3}(?:(?:,|\\,|\{,\}|\\ |\\!|~| |\u00a0|\u202f)\d{3})+|\d+"
_MIXED = re.compile(rf"([+-]?)\s*({_WHOLE})(?:[ \u00a0]+(\d+)\s*/\s*(\d+)"
                    rf"|(?:\s|\\[,;: ]|~)*\\[dt]?frac\s*\{{\s*(\d+)\s*\}}\s*\{{\s*(\d+)\s*\}})")
# LaTeX thousands separators written around a comma: "11,\! 111", "14 {, }916".
_SPACED_COMMA = re.compile(r"(?<=\d)\s*(?:,\\!|\{\s*,\s*\})\s*(?=\d{3}(?!\d))")
_PERCENT_WORD = re.compile(r"(?<=[\d}])\s*(?:percent(?:age)?|per\s*cent|pct)\.?\s*$", re.I)
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
        if len(between) > 60 or not _BOX_JOINER.fullmatch(between):
            break
        group.insert(0, previous[2])
    unique = list(dict.fromkeys(part.strip() for part in group))
    return ", ".join(unique)


def _last_inline_group(text: str) -> tuple[str, int] | None:
    """The last ``$...$`` with those just before it that only "and"/"or"/commas join.

    Returned joined, with where the group starts in ``text``.
    """
    found = list(_INLINE_MATH.finditer(text))
    if not found:
        return None
    group, joiners, start = [found[-1][1]], "", found[-1].start()
    for previous, following in zip(found[-2::-1], found[:0:-1], strict=True):
        between = text[previous.end():following.start()]
        if not _INLINE_JOINER.fullmatch(between):
            break
        group.insert(0, previous[1])
        joiners, start = joiners + between, previous.start()
    return (" \\text{ or } " if re.search(r"\bor\b", joiners) else ", ").join(group), start


def _strip_math_markup(answer: str) -> str:
    answer = answer.replace("\\$", "").replace("**", "").strip()
    answer = re.sub(r"^\$+|\$+$", "", _without_full_stop(answer)).strip()
    answer = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", answer).strip()
    return _without_full_stop(answer)


def _without_full_stop(text: str) -> str:
    """``5.`` and ``\\frac{1}{3},`` without their punctuation; an ellipsis (``1, 2, ...``) kept."""
    return text if text.endswith("...") else text.rstrip(".,;。，；").strip()


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
        answer = _announced(solution[final_lines[-1].start():].split("\n", 1)[0])
    elif found:
        answer = _last_box_group(solution, found)
    else:
        answer = _announced(solution)
    if answer is None:
        last_paragraph = solution.strip().rsplit("\n\n", 1)[-1]
        bolds = [b for b in _BOLD.findall(last_paragraph) if not _HEADING.search(b)]
        inline = _last_inline_group(last_paragraph)
        answer = bolds[-1] if bolds else inline[0] if inline else last_paragraph
        answer = _value_in_chinese(answer, all_values=False)
    if (inner := boxes(answer)) and inner[-1][2] is not None:
        answer = _last_box_group(answer, inner)
    return clean(_strip_math_markup(answer))


def _announced(text: str) -> str | None:
    """What follows the last lead-in ("The answer is", "答案是") to the end of its sentence."""
    lead_ins = list(_LEAD_IN.finditer(text))
    if not lead_ins:
        return None
    line = text[lead_ins[-1].end():].lstrip().split("\n", 1)[0]
    return _value_in_chinese(_unhedged(_first_sentence(line)), all_values=True).strip() or None


def _first_sentence(text: str) -> str:
    """``text`` up to its first full stop outside math ("$28\\%$. I hope it is correct.").

    Not at "!": "The answer is 5!" may be a factorial.
    """
    math, depth, i = False, 0, 0
    while i < len(text):
        char = text[i]
        if char == "$":
            math = not math
            i += 2 if text.startswith("$$", i) else 1
            continue
        if text.startswith(("\\(", "\\[", "\\)", "\\]"), i):
            math = text[i + 1] in "(["
            i += 2
            continue
        depth += (char == "{") - (char == "}")
        if not math and depth == 0 and (char in "。！？" or (
                char in ".?" and (i + 1 == len(text) or text[i + 1].isspace()))):
            return text[:i]
        i += 1
    return text


def _value_in_chinese(text: str, all_values: bool) -> str:
    """The value in a line of Chinese ("小明有5个苹果" -> "5"); other text unchanged.

    Several values are all kept (``all_values``: a set matching no single value)
    or only the last (a paragraph's last value, as math-verify would take it).
    """
    if not _CJK.search(text) or boxes(text):
        return text
    values = [piece.strip(" ,;:") for piece in _CJK.split(text) if re.search(r"[\d\\$]", piece)]
    values = [re.sub(r"^\(([^(),]*)\)$", r"\1", value) for value in values if value]
    if not values:
        return text
    return ", ".join(values) if all_values else values[-1]


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
    final_lines = list(_FINAL_LINE.finditer(solution))
    if final_lines and found and final_lines[-1].start() > found[-1][1]:
        found = []  # "... $\boxed{200}$ ... Final Answer: 10455": the boxes were steps
    if found:
        unique = list(dict.fromkeys(b[2].strip() for b in found))
        return clean(", ".join(unique))
    if announced := _announced(solution):  # a worked solution: "... The answer is 7."
        return clean(_strip_math_markup(announced))
    text = solution.strip()
    inline = _last_inline_group(text)
    several = text.count("$") >= 4 and "\\$" not in text  # "$1$ and $2$ and $3$"
    if inline and several and inline[1] == 0 and text.endswith("$"):
        return clean(inline[0])
    return clean(_strip_math_markup(text))


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

    A multi-line answer (a matrix) becomes one line: math-verify's ``$...$`` is one
    line. A mixed number becomes an improper fraction (``-2 1/2`` is ``-\\frac{5}{2}``).
    """
    answer = _SPACED_COMMA.sub("{,}", answer.replace("\u2212", "-"))  # U+2212 is a minus
    split_number = re.search(r"\d\s*\n\s*\d+\s*/", answer)  # "11\n5/6" is no mixed number
    answer = " ".join(_DISPLAY.sub("", answer).replace("\\$", "").split())
    if as_time(answer):
        return answer  # "p.m." is no unit
    answer = _DEGREES.sub("", answer)
    answer = _E_CONST.sub("e", answer)  # before units: \mathrm{e} is no unit
    answer = _PERCENT_WORD.sub(r"\\%", answer)
    answer = _UNITS.sub("", answer).strip()
    listed = _AND.sub(", ", answer)  # "19, 46, and 82" and "12\\text{ and }13" are lists
    if listed != answer and not re.search(r"[A-Za-z]{2,}", re.sub(r"\\[A-Za-z]+", "", listed)):
        answer = listed
    if _COMMA_THOUSANDS.fullmatch(answer) or _SPACE_THOUSANDS.fullmatch(answer):
        answer = _THOUSANDS_SEP.sub("", answer)
    elif _BRACED_DECIMAL.fullmatch(answer):
        answer = answer.replace("{,}", ".")
    elif not split_number:
        answer = _as_fraction(answer)
    return _BRACKETS.sub(_interval_ends, answer) if "," in answer else answer


def _as_fraction(answer: str) -> str:
    r"""A mixed number (with a percent sign or not) as an improper fraction; else unchanged.

    >>> _as_fraction("-2 1/2"), _as_fraction(r"1\,000\frac{1}{2}\%"), _as_fraction("11 7/6")
    ('-\\frac{5}{2}', '\\frac{2001}{2}\\%', '11 7/6')
    """
    number, percent = re.subn(r"\s*\\?%$", "", answer)
    mixed = _MIXED.fullmatch(number)
    if not mixed:
        return answer
    sign, whole = mixed[1], int(_THOUSANDS_SEP.sub("", mixed[2]))
    numerator, denominator = int(mixed[3] or mixed[5]), int(mixed[4] or mixed[6])
    if not 0 <= numerator < denominator:
        return answer  # "11 7/6", "4 4/0": no mixed number (is_broken_mixed says so)
    improper = whole * denominator + numerator
    minus, suffix = "-" if sign == "-" else "", "\\%" if percent else ""
    return f"{minus}\\frac{{{improper}}}{{{denominator}}}{suffix}"


def is_broken_mixed(answer: str) -> bool:
    """Whether ``answer`` is written as a mixed number that is none (``11 7/6``, ``4 4/0``)."""
    return _MIXED.fullmatch(re.sub(r"\s*\\?%$", "", answer)) is not None


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
