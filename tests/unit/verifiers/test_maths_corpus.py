"""The labelled corpus of competition-math pairs (tests/data/math_pairs.jsonl), one test a row.

Every failure class of issues 14 and 23 has several rows, right and wrong answers
both (a wrong answer is a near miss of the same form: a set with a member missing,
an inequality the other way, a mixed number with the other sign): raydistill must
agree with every label, and above all never pass a wrong one.
``tools/bench/math_agreement.py`` prints the same corpus's agreement by class, beside
plain math-verify's.
"""

import sys

import pytest

from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "tools" / "bench"))
from math_agreement import load, raydistill_passes  # noqa: E402

ROWS = load()


def test_every_class_has_several_rows_both_ways():
    by_class: dict[str, set[bool]] = {}
    for row in ROWS:
        by_class.setdefault(row["class"], set()).add(row["label"])
    assert len(by_class) >= 21
    assert all(labels == {True, False} for cls, labels in by_class.items() if cls != "no_answer")


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['class']}-{i}" for i, r in enumerate(ROWS)])
def test_corpus_row(row):
    passed = raydistill_passes(row["gold"], row["response"])
    why = f"{row['note']} gold={row['gold']!r} response={row['response'][-120:]!r}"
    assert passed == row["label"], why
