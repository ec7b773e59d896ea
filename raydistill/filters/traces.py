"""Long chain-of-thought quality filters: verified samples that should not be trusted.

Each filter is a pure function ``(row, cfg) -> detail or None`` over one output
row (``records.OUTPUT``); the first that trips turns the sample into a failure
with the code ``filtered:<name>`` (:func:`raydistill.reasons.filtered`). Only
verified samples are filtered: a failed sample already has its reason. The
unclosed ``</think>`` filter exists upstream (``truncated``).

>>> cfg = TraceFiltersConfig()
>>> clean = {"reasoning": "Two plus two. " * 3 + "So four.", "solution": "\\\\boxed{4}",
...          "problem": "What is 2+2?", "completion_tokens": 40}
>>> first_reason(clean, cfg) is None
True
>>> first_reason({**clean, "solution": "\\\\boxed{4} or maybe \\\\boxed{5}"}, cfg)[0]
'final_answers'
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from raydistill.filters.config import TraceFiltersConfig
from raydistill.filters.normalize import normalize
from raydistill.reasons import filtered

# Scripts every math or science text may use (variables, pi, theta).
ALWAYS_ALLOWED_SCRIPTS = frozenset({"LATIN", "GREEK"})
# A paragraph this short ("Wait.", "Hmm, let me check.") may recur in a sound trace.
MIN_PARAGRAPH_WORDS = 8


def boxed_answers(text: str) -> list[str]:
    r"""Contents of every ``\boxed{...}`` in ``text`` (braces balanced).

    >>> boxed_answers(r"so \boxed{\frac{1}{2}} and \boxed{3}")
    ['\\frac{1}{2}', '3']
    """
    found, start = [], 0
    while (at := text.find("\\boxed{", start)) != -1:
        depth, i = 1, at + len("\\boxed{")
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found.append(text[at + len("\\boxed{"): i - 1])
        start = i
    return found


def final_answers(row: Mapping[str, Any], cfg: TraceFiltersConfig) -> str | None:
    """Several different boxed answers after the thinking."""
    distinct = {normalize(a) or a for a in boxed_answers(row.get("solution") or "")}
    if cfg.max_final_answers and len(distinct) > cfg.max_final_answers:
        return f"{len(distinct)} different final answers: {sorted(distinct)[:4]}"
    return None


def repetition(row: Mapping[str, Any], cfg: TraceFiltersConfig) -> str | None:
    """Degenerate loops: many repeated word n-grams, or a paragraph said again and again."""
    text = row.get("reasoning") or ""
    ws = normalize(text).split()
    n = cfg.repeat_ngram
    if cfg.max_repeated_ngram_fraction and len(ws) >= 4 * n:
        grams = Counter(tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))
        total = sum(grams.values())
        repeats = total - len(grams)
        if repeats / total > cfg.max_repeated_ngram_fraction:
            return f"{repeats / total:.0%} of {n}-grams are repeats"
    if cfg.max_paragraph_repeats:
        paragraphs = Counter(p for p in (normalize(x) for x in text.split("\n\n"))
                             if len(p.split()) >= MIN_PARAGRAPH_WORDS)
        if paragraphs:
            para, times = paragraphs.most_common(1)[0]
            if times > cfg.max_paragraph_repeats:
                return f"paragraph repeated {times} times: {para[:60]!r}"
    return None


def _scripts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            counts[unicodedata.name(ch, "UNKNOWN").split(" ")[0]] += 1
    return counts


def language_mixing(row: Mapping[str, Any], cfg: TraceFiltersConfig) -> str | None:
    """A share of letters in scripts the problem does not use (a trace drifting into Chinese)."""
    if not cfg.max_foreign_script_fraction:
        return None
    allowed = set(ALWAYS_ALLOWED_SCRIPTS) | set(_scripts(row.get("problem") or ""))
    letters = _scripts(f"{row.get('reasoning') or ''}\n{row.get('solution') or ''}")
    total = sum(letters.values())
    foreign = sum(c for script, c in letters.items() if script not in allowed)
    if total and foreign / total > cfg.max_foreign_script_fraction:
        top = max((s for s in letters if s not in allowed), key=letters.__getitem__)
        return f"{foreign / total:.0%} of letters outside the problem's scripts (mostly {top})"
    return None


def length(row: Mapping[str, Any], cfg: TraceFiltersConfig) -> str | None:
    """Completion length outside ``[min_tokens, max_tokens]``."""
    tokens = row.get("completion_tokens") or 0
    if cfg.min_tokens is not None and tokens < cfg.min_tokens:
        return f"{tokens} tokens < min_tokens {cfg.min_tokens}"
    if cfg.max_tokens is not None and tokens > cfg.max_tokens:
        return f"{tokens} tokens > max_tokens {cfg.max_tokens}"
    return None


FILTERS: dict[str, Callable[[Mapping[str, Any], TraceFiltersConfig], str | None]] = {
    "final_answers": final_answers,
    "repetition": repetition,
    "language_mixing": language_mixing,
    "length": length,
}


def first_reason(row: Mapping[str, Any], cfg: TraceFiltersConfig) -> tuple[str, str] | None:
    """``(filter name, detail)`` of the first filter ``row`` trips, None if it passes all."""
    for name, check in FILTERS.items():
        detail = check(row, cfg)
        if detail is not None:
            return name, detail
    return None


def filter_traces(batch: pa.Table, cfg: TraceFiltersConfig) -> pa.Table:
    """Output rows with each verified sample that trips a filter turned into a failure."""
    rows = batch.to_pylist()
    for row in rows:
        if not row.get("verified"):
            continue
        hit = first_reason(row, cfg)
        if hit is not None:
            name, detail = hit
            row.update(verified=False, verdict="fail",
                       verdict_detail=f"{filtered(name)}: {detail}")
            if "reason" in row:
                row["reason"] = filtered(name)
    return pa.Table.from_pylist(rows, schema=batch.schema)
