"""Flat rows of a user's data set through the pipeline's verifier and judge actors.

The verify-only command (:mod:`raydistill.cli.verify`) re-checks rows that
already hold responses. Its rows are the user's: column names come from the
command's ``columns.*`` keys, and no column is required (a row without a
response is an error row). :func:`to_problems` turns a batch into the
pipeline's problem records (one sample each), :func:`with_verdicts` puts the
verdicts back beside every input column, and :class:`RowVerifier` /
:class:`RowJudge` are the pipeline's own actors between the two.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pyarrow as pa

from raydistill import records
from raydistill.parsing import split_response
from raydistill.verifiers.actor import VerifierActor
from raydistill.verifiers.config import JudgeConfig, VerifyConfig
from raydistill.verifiers.judge import JudgeActor
from raydistill.verifiers.labels import LabelsConfig

# The columns each row gains (records.VERIFY_ADDED), replaced when the input has them.
ADDED = tuple(records.VERIFY_ADDED.names)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def to_problems(rows: list[dict[str, Any]], columns: dict[str, str],
                default_domain: str | None) -> list[dict[str, Any]]:
    """One ``records.GENERATION`` problem with one sample per input row."""
    problems = []
    for i, row in enumerate(rows):
        response = _text(row.get(columns["response"]))
        sample: dict[str, Any] = {
            "response": response, "finish_reason": row.get(columns["finish_reason"]) or "unknown",
            "verdict": row.get("verdict"), "reason": row.get("reason"),
            "verdict_detail": row.get("verdict_detail"),
            "verdicts": row.get("verdicts"), "completion_tokens": None}
        if response is None:
            sample["reason"] = "input_error"
            sample["verdict_detail"] = f"input: no {columns['response']!r} value"
        else:
            trace = split_response(response)
            sample.update(reasoning=trace.reasoning, solution=trace.solution,
                          think_closed=trace.think_closed)
        problems.append({
            "problem_id": str(i), "input_error": None,
            "domain": _text(row.get(columns["domain"])) or default_domain or "",
            "problem": _text(row.get(columns["problem"])),
            "ground_truth_solution": _text(row.get(columns["ground_truth"])),
            "test_cases": _text(row.get(columns["test_cases"])),
            "starter_code": _text(row.get(columns["starter_code"])),
            "samples": [sample]})
    return problems


def with_verdicts(batch: pa.Table, problems: list[dict[str, Any]]) -> pa.Table:
    """``batch`` (every input column kept) plus the verdict columns of ``problems``."""
    samples = [p["samples"][0] for p in problems]
    table = batch.drop_columns([c for c in ADDED if c in batch.column_names])
    columns = {
        "verified": pa.array([s["verdict"] == "pass" for s in samples], pa.bool_()),
        "verdict": pa.array([s["verdict"] for s in samples], pa.string()),
        "reason": pa.array([s["reason"] for s in samples], pa.string()),
        "verdict_detail": pa.array([s["verdict_detail"] for s in samples], pa.string()),
        "verdicts": pa.array([s["verdicts"] for s in samples], pa.list_(records.VERDICT)),
    }
    for name, values in columns.items():
        table = table.append_column(name, values)
    return table


class RowVerifier(VerifierActor):
    """The pipeline's :class:`VerifierActor` over flat rows with configurable columns."""

    def __init__(self, verify: VerifyConfig, columns: dict[str, str],
                 default_domain: str | None, labels: LabelsConfig | None = None) -> None:
        super().__init__(verify, labels)
        self.columns, self.default_domain = columns, default_domain

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Verify every row of ``batch``."""
        problems = to_problems(batch.to_pylist(), self.columns, self.default_domain)
        checked = super().__call__(records.table(problems, records.GENERATION))
        return with_verdicts(batch, checked.to_pylist())


class RowJudge(JudgeActor):
    """The pipeline's :class:`JudgeActor` over flat rows already verified by rules."""

    def __init__(self, judge: JudgeConfig, teacher_kwargs: dict[str, Any],
                 columns: dict[str, str], default_domain: str | None) -> None:
        super().__init__(judge, teacher_kwargs)
        self.columns, self.default_domain = columns, default_domain

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        """Judge the rows of ``batch`` that need it."""
        problems = to_problems(batch.to_pylist(), self.columns, self.default_domain)
        yield with_verdicts(batch, await self.judge(problems))
