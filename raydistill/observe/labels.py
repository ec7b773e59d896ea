"""The labels of a run, counted from ``all/``: where they came from, and the suspect golds.

``summary.json``'s ``labels`` block (:class:`LabelTally`): sample rows by
``label_source``, the problems whose gold a confident majority disagrees with
(``suspect_gold``: in all, by source, and listed with their gold, majority answer and
share for ``report.html``). A problem is suspect when any of its rows is (under
adaptive sampling each wave decides on its own samples).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# The columns of all/ the tally reads.
COLUMNS = ["problem_id", "source", "problem", "ground_truth_solution", "label_source",
           "suspect_gold", "majority_answer", "majority_share"]
# Suspect problems listed in summary.json and the report; the count covers all of them.
MAX_LISTED = 200
# Characters of a problem's text and gold kept in the listing.
MAX_TEXT = 300


class LabelTally:
    """Counts of one run's labels, one part of ``all/`` at a time."""

    def __init__(self) -> None:
        self.by_source: Counter[str] = Counter()
        self.suspect: dict[str, dict[str, Any]] = {}

    def add(self, batch: pa.Table) -> None:
        """Count one part of ``all/`` (its columns: :data:`COLUMNS`)."""
        self.by_source.update(s or "none" for s in batch["label_source"].to_pylist())
        flagged = batch.filter(pc.fill_null(batch["suspect_gold"], False))
        for row in flagged.select(COLUMNS).to_pylist():
            self.suspect.setdefault(row["problem_id"], {
                "problem_id": row["problem_id"], "source": row["source"],
                "problem": (row["problem"] or "")[:MAX_TEXT],
                "gold": (row["ground_truth_solution"] or "")[-MAX_TEXT:],
                "majority_answer": row["majority_answer"],
                "majority_share": row["majority_share"]})

    def summary(self) -> dict[str, Any]:
        """The ``labels`` block of ``summary.json``.

        >>> tally = LabelTally()
        >>> tally.add(pa.table({"problem_id": ["a", "a", "b"], "source": ["s"] * 3,
        ...     "problem": ["1+1"] * 3, "ground_truth_solution": ["#### 3", "#### 3", "#### 2"],
        ...     "label_source": ["gold"] * 3, "suspect_gold": [True, True, False],
        ...     "majority_answer": ["2", "2", "2"], "majority_share": [1.0, 1.0, 1.0]}))
        >>> s = tally.summary()
        >>> s["rows_by_label_source"], s["suspect_gold"], s["suspect_gold_by_source"]
        ({'gold': 3}, 1, {'s': 1})
        """
        listed = [self.suspect[k] for k in sorted(self.suspect)]
        return {
            "rows_by_label_source": dict(sorted(self.by_source.items())),
            "suspect_gold": len(self.suspect),
            "suspect_gold_by_source": dict(sorted(
                Counter(p["source"] for p in self.suspect.values()).items())),
            "suspect_problems": listed[:MAX_LISTED],
        }
