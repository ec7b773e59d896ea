"""Which near-duplicate candidates are copies: word edits, and no number changed.

MinHash (:mod:`raydistill.filters.minhash`) brings pairs of problems that share
many word bigrams; this module decides. Two problems are one when

- their normalised words (:mod:`raydistill.filters.normalize`: case, spacing,
  punctuation, Unicode forms do not count) differ by at most
  ``max(max_edits, max_edit_fraction x the longer one's words)`` word
  insertions, deletions or substitutions (Levenshtein over words, rapidfuzz):
  a copy with 1-3 filler words inserted or words replaced, at any length, where
  a character ratio (OpenThoughts' ``fuzz.ratio >= 95``) misses short problems;
- and no number of one was changed into another number of the other: GSM8K is
  templated, and "A train travels 270 miles in 3 hours ... 180 miles" and
  "... 360 miles in 3 hours ... 240 miles" are two problems with two answers
  (``fuzz.ratio`` 97). A number dropped or added (replaced by a word, or a
  word by a number) is an edit like any other.

What it cannot tell apart: a problem whose only change is a name or another
word and whose numbers are the same ("Josie received $50 ..." / "Amanda
received $50 ..."; one such pair in GSM8K's 8,792 problems) is merged.

>>> from raydistill.filters.normalize import words
>>> a = words("A train travels 270 miles in 3 hours. How long for 180 miles?")
>>> same_problem(a, words("A train really travels 270 miles in 3 hours. How long for 180 miles?"))
True
>>> same_problem(a, words("A train travels 360 miles in 3 hours. How long for 240 miles?"))
False
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from rapidfuzz.distance import Levenshtein


def allowed_edits(a: list[str], b: list[str], max_edits: int = 3,
                  max_edit_fraction: float = 0.1) -> int:
    """Word edits two copies may differ by: ``max_edits``, more for long problems.

    >>> allowed_edits(["w"] * 20, ["w"] * 21), allowed_edits(["w"] * 80, ["w"] * 81)
    (3, 8)
    """
    return max(max_edits, int(max_edit_fraction * max(len(a), len(b))))


def numbers_changed(a: list[str], b: list[str]) -> bool:
    """True when each side has a number the other lacks: a number was changed.

    >>> numbers_changed(["add", "2", "and", "3"], ["add", "2", "and", "4"])
    True
    >>> numbers_changed(["add", "2", "and", "3"], ["add", "2", "and", "three"])
    False
    """
    only_a = Counter(w for w in a if w.isdigit())
    only_b = Counter(w for w in b if w.isdigit())
    only_a, only_b = only_a - only_b, only_b - only_a
    return bool(only_a) and bool(only_b)


def same_problem(a: list[str], b: list[str], max_edits: int = 3,
                 max_edit_fraction: float = 0.1) -> bool:
    """True when the normalised word lists ``a`` and ``b`` are copies of one problem."""
    allowed = allowed_edits(a, b, max_edits, max_edit_fraction)
    if abs(len(a) - len(b)) > allowed or numbers_changed(a, b):
        return False
    return Levenshtein.distance(a, b, score_cutoff=allowed) <= allowed


def verified(candidates: Iterable[tuple[int, int]], texts: Mapping[int, str], max_edits: int,
             max_edit_fraction: float) -> list[tuple[int, int]]:
    """The candidate pairs of ordinals whose normalised ``texts`` are copies."""
    split: dict[int, list[str]] = {}

    def of(o: int) -> list[str]:
        found = split.get(o)
        if found is None:
            found = split[o] = texts[o].split()
        return found

    return [(a, b) for a, b in candidates
            if texts[a] == texts[b] or same_problem(of(a), of(b), max_edits, max_edit_fraction)]
