r"""Answer forms rewritten before comparing: inequalities, lists, named values.

Pure string work, no sympy (the comparison lives in
:mod:`raydistill.verifiers.math_compare`). Three forms a grader must read the
way a person does, or it fails correct answers:

- an inequality in one variable is the interval it describes, however it is
  written: ``x < 5``, ``x \lt 5``, ``5 > x`` and ``-x > -5`` are all ``(-\infty, 5)``;
- a list is its items, whatever joins them (commas, semicolons, "and", "or",
  ``\quad``): ``21, 16 \text{ or } 11`` is the three items;
- a list that names its values (``AB=4, CD=5``, ``x=2 or x=3``, ``p=5,q=2;p=7,q=2``,
  ``S_1:S_2=7:32``) is a table: its names, and one row of values per solution.

>>> as_interval(r"-x \ge -5"), as_interval(r"7 > x")
('(-\\infty, 5]', '(-\\infty, 7)')
>>> named(r"p=5,q=2;p=7,q=2")
(('p', 'q'), [['5', '2'], ['7', '2']])
"""

from __future__ import annotations

import re

_LT = r"(?:<=|=<|≤|⩽|\\leqslant|\\leq|\\le\b|<|\\lt\b)"
_GT = r"(?:>=|=>|≥|⩾|\\geqslant|\\geq|\\ge\b|>|\\gt\b)"
_REL = rf"({_LT}|{_GT})"
_VAR = r"([a-zA-Z])"
# A bound: anything without a relation sign or a top-level comma ("\frac{1}{2}", "2\pi", "-\infty").
_BOUND = r"([^<>=≤≥⩽⩾,]+?)"
_CHAIN = re.compile(rf"{_BOUND}\s*{_REL}\s*{_VAR}\s*{_REL}\s*{_BOUND}")
_VAR_FIRST = re.compile(rf"(-)?\s*{_VAR}\s*{_REL}\s*{_BOUND}")
_BOUND_FIRST = re.compile(rf"{_BOUND}\s*{_REL}\s*(-)?\s*{_VAR}")
_OR = re.compile(r"\s*(?:\\text\{\s*or\s*\}|\bor\b|\\lor|\\vee)\s*")
_IN_SET = re.compile(r"[a-zA-Z]\s*\\in\s*(.+)")
_SET_BUILDER = re.compile(r"\\\{\s*([a-zA-Z])\s*(?:\\mid|\||:)\s*(.+?)\s*\\\}")

# What separates the items of a list besides a comma: words and spacing commands.
_JOINER = re.compile(
    r"\s*(?:\\q?quad\s*)*(?:\\text\s*\{\s*(?:and|or|,)\s*\}|\band\b|\bor\b|;|,)"
    r"\s*(?:\\q?quad\s*)*|\s*\\q?quad\s*")
# In a table of named values: what separates solutions, and what separates a solution's values.
_GROUP_JOINER = re.compile(r"\s*(?:\\q?quad\s*)*(?:;|\\text\s*\{\s*(?:and|or)\s*\}|\band\b|\bor\b)"
                           r"\s*(?:\\q?quad\s*)*")
_ITEM_JOINER = re.compile(r"\s*(?:,\s*(?:\\q?quad\s*)*|(?:\\q?quad\s*)+,?\s*)")
_SPACING = re.compile(r"\\[,;:! ]|~")
# A name a value is given to: x, a_{37}, AB, P(x), \angle A, (x, y), S_{MBCN}:S, \frac{NO}{BO}.
_NAME_ATOM = (r"(?:\\(?:angle|overline|triangle)\s*\{?[A-Za-z]{1,3}\}?|[A-Za-z]{1,3}'*"
              r"(?:_\{?[A-Za-z0-9]{1,4}\}?)?(?:\([a-z]\))?)")
_NAME = re.compile(rf"(?:{_NAME_ATOM}(?:\s*:\s*{_NAME_ATOM})*"
                   rf"|\(\s*{_NAME_ATOM}(?:\s*,\s*{_NAME_ATOM})+\s*\)"
                   rf"|\\frac\s*\{{{_NAME_ATOM}\}}\s*\{{{_NAME_ATOM}\}})")
_NAMED_ITEM = re.compile(rf"\s*({_NAME.pattern})\s*=\s*([^=]+?)\s*")


def _is_lower(op: str) -> bool:
    return re.fullmatch(_LT, op) is not None


def _strict(op: str) -> bool:
    return op in ("<", ">", "\\lt", "\\gt")


def _negated(bound: str) -> str:
    bound = bound.strip()
    if bound.startswith("-"):
        return bound[1:].strip()
    if bound.startswith("+"):
        bound = bound[1:].strip()
    return f"-{bound}" if re.fullmatch(r"[\w\\{}^.]+", bound) else f"-({bound})"


def _one_sided(upper: bool, strict: bool, bound: str) -> str:
    """``x < b`` (upper) or ``x > b`` as an interval."""
    if upper:
        return f"(-\\infty, {bound}{')' if strict else ']'}"
    return f"{'(' if strict else '['}{bound}, \\infty)"


def as_interval(text: str) -> str:
    r"""``-2 \le x < 7`` as ``[-2, 7)``; ``x > 3`` as ``(3, \infty)``; other text unchanged.

    The sides may be swapped (``3 < x``), both negated (``-x > -3``), the signs
    written ``\lt``/``\gt``/``\leqslant``; ``x \in S`` is ``S``,
    and so is ``\{x \mid S\}``.

    >>> as_interval(r"x < -1 \text{ or } x \ge 4")
    '(-\\infty, -1) \\cup [4, \\infty)'
    >>> as_interval(r"7 \ge x \ge -2"), as_interval("x + y < 3")
    ('[-2, 7]', 'x + y < 3')
    """
    text = text.strip()
    parts = _OR.split(text)
    if len(parts) > 1:
        converted = [as_interval(part) for part in parts]
        if all(new != old.strip() for new, old in zip(converted, parts, strict=True)):
            return " \\cup ".join(converted)
        return text
    if chain := _CHAIN.fullmatch(text):
        first, op1, _, op2, last = chain.groups()
        if _is_lower(op1) == _is_lower(op2):
            low, high = (first, last) if _is_lower(op1) else (last, first)
            low_strict, high_strict = ((_strict(op1), _strict(op2)) if _is_lower(op1)
                                       else (_strict(op2), _strict(op1)))
            return (f"{'(' if low_strict else '['}{low.strip()}, "
                    f"{high.strip()}{')' if high_strict else ']'}")
        return text
    if one := _VAR_FIRST.fullmatch(text):
        minus, _, op, bound = one.groups()
        upper = _is_lower(op) != bool(minus)  # -x < b is x > -b
        return _one_sided(upper, _strict(op), _negated(bound) if minus else bound.strip())
    if one := _BOUND_FIRST.fullmatch(text):
        bound, op, minus, _ = one.groups()
        upper = _is_lower(op) == bool(minus)  # b < x is x > b; b < -x is x < -b
        return _one_sided(upper, _strict(op), _negated(bound) if minus else bound.strip())
    if member := _IN_SET.fullmatch(text):
        return member[1].strip()
    if (builder := _SET_BUILDER.fullmatch(text)) and variables(builder[2]) == {builder[1]}:
        return as_interval(builder[2])  # \{x \mid x < 5\}
    return text


def variables(text: str) -> set[str]:
    """The variable of each one-variable inequality in ``text`` (``x < -1 or x > 4``: x).

    >>> sorted(variables(r"5 > y")), sorted(variables(r"x < -1 \\text{ or } t \\ge 4"))
    (['y'], ['t', 'x'])
    """
    found = set()
    for part in _OR.split(text.strip()):
        for pattern, group in ((_CHAIN, 3), (_VAR_FIRST, 2), (_BOUND_FIRST, 4)):
            if match := pattern.fullmatch(part.strip()):
                found.add(match[group])
                break
    return found


def split_top(text: str, separator: re.Pattern[str]) -> list[str]:
    """``text`` split where ``separator`` matches outside brackets and braces."""
    items, depth, start, i = [], 0, 0, 0
    while i < len(text):
        char = text[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and (match := separator.match(text, i)) and match.end() > i:
            items.append(text[start:i])
            start = i = match.end()
            continue
        i += 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def list_items(text: str) -> tuple[list[str], bool]:
    r"""The items of a list answer, and whether a word or semicolon joined them.

    >>> list_items(r"21,16 \text{ or } 11"), list_items(r"\{1, 2\}")
    ((['21', '16', '11'], True), (['1', '2'], False))
    """
    text = _SPACING.sub(" ", text).strip()
    if re.fullmatch(r"\\\{.*\\\}", text) and not re.search(r"\\\}.*\\\{", text):
        text = text[2:-2]
    items = split_top(text, _JOINER)
    worded = len(items) > 1 and bool(
        re.search(r";|\band\b|\bor\b|\\text\s*\{\s*(?:and|or)|\\q?quad", text))
    return items, worded


def _closes_at_end(text: str) -> bool:
    """Whether the bracket that opens ``text`` closes at its last character."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char in "([{") - (char in ")]}")
        if depth == 0:
            return i == len(text) - 1
    return False


def tuple_items(text: str) -> list[str] | None:
    """The entries of one parenthesised tuple ``(a, b)``, else None (``(1, 2), (3, 4)`` is two)."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")") and _closes_at_end(text)):
        return None
    items = split_top(text[1:-1], re.compile(r"\s*[,;]\s*"))
    return items if len(items) > 1 else None


def _name_key(name: str) -> str:
    return re.sub(r"[\s{}]", "", name).lower()


def _names_of(name: str) -> list[str]:
    inner = tuple_items(name)
    return [_name_key(n) for n in inner] if inner else [_name_key(name)]


def named(text: str) -> tuple[tuple[str, ...], list[list[str]]] | None:
    r"""A list that names its values, as ``(names, rows)``; None if any item is unnamed.

    Solutions are rows: ``x=2 or x=3`` is ``(('x',), [['2'], ['3']])``; a bare
    value after a named one continues its name (``a=4, -8``); a tuple of names
    takes a tuple of values (``(x, y) = (5, 8)``).

    >>> named("AB=4, CD=5"), named(r"a=4,\,-8"), named("x + y = 3")
    ((('ab', 'cd'), [['4', '5']]), (('a',), [['4'], ['-8']]), None)
    >>> named("x_1 = 2, x_2 = 3"), named("a_3 = 2, a_{37} = 19")
    ((('x',), [['2'], ['3']]), (('a_3', 'a_37'), [['2', '19']]))
    """
    groups = split_top(_SPACING.sub(" ", text), _GROUP_JOINER)
    names: list[str] = []
    rows: list[list[str]] = []
    for group in groups:
        row_names: list[str] = []
        row: list[str] = []
        for item in split_top(group, _ITEM_JOINER):
            if match := _NAMED_ITEM.fullmatch(item):
                keys = _names_of(match[1])
                values = tuple_items(match[2]) if len(keys) > 1 else [match[2].strip()]
                if values is None or len(values) != len(keys):
                    return None
                if any(key in row_names for key in keys):  # x=2, x=3: a new solution
                    rows.append(row)
                    row_names, row = [], []
                row_names += keys
                row += values
            elif row_names or names:  # a bare value continues the last name(s)
                continuing = row_names or names
                values = tuple_items(item) if len(continuing) > 1 else [item]
                if values is None or len(values) != len(continuing) or "=" in item:
                    return None
                if row:
                    rows.append(row)
                row_names, row = list(continuing), list(values)
            else:
                return None
        if not names:
            names = row_names
        if row_names != names:
            return None
        rows.append(row)
    if not names or not all(len(row) == len(names) for row in rows):
        return None
    bases = {re.sub(r"_\d+$", "", name) for name in names}
    indices = [re.search(r"_(\d+)$", name) for name in names]
    if len(rows) == 1 and len(bases) == 1 and all(indices) and sorted(
            int(index[1]) for index in indices if index) == list(range(1, len(names) + 1)):
        return (bases.pop(),), [[value] for value in rows[0]]  # x_1 = 2, x_2 = 3: the roots
    return tuple(names), rows
