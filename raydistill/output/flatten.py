"""Pass 2's UDFs: one output row per sample, and the rows of ``verified/``.

A problem without samples is kept as one error row.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from raydistill import records


def _output_row(problem: dict[str, Any], idx: int, sample: dict[str, Any] | None,
                provenance: dict[str, Any]) -> dict[str, Any]:
    row = {**problem, **provenance, "sample_idx": idx}
    if sample is None:
        reason, detail = (("input_error", f"input: {problem['input_error']}")
                          if problem["input_error"] else
                          ("teacher_error", f"teacher: {problem['teacher_error']}"))
        row.update(verdict="error", reason=reason, verdict_detail=detail, verified=False,
                   completion_tokens=0, label_source="none", suspect_gold=False,
                   budget_forced=False, unspent_tokens=0)
    else:
        row.update(sample, verified=sample["verdict"] == "pass")
    return row


def flatten_generations(batch: pa.Table, provenance: dict[str, Any],
                        wave: dict[str, int] | None = None) -> pa.Table:
    """One output row per sample; a problem with no samples keeps one error row.

    Rows the teacher could not serve (bad input, prompt too long) are kept with
    their reason as ``verdict=error``, so nothing disappears between stages.
    ``wave`` (adaptive sampling: ``{"wave", "n", "offset"}``) numbers the samples
    from the wave's offset and fills the ``wave`` column.
    """
    offset = wave["offset"] if wave else 0
    extra = dict(provenance, wave=wave["wave"], n=wave["n"]) if wave else provenance
    out = []
    for problem in records.rows(batch):
        samples = problem.pop("samples") or []
        if not samples:
            out.append(_output_row(problem, offset, None, extra))
        out += [_output_row(problem, offset + i, s, extra) for i, s in enumerate(samples)]
    return records.table(out, records.output_schema(wave is not None))


def verified_only(batch: pa.Table) -> pa.Table:
    """The publish plan's ``verified/`` rows: the samples that passed."""
    return batch.filter(batch.column("verified").fill_null(False))
