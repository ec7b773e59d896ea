"""The Ray Data actor that runs verifiers over generated problem rows.

It owns no logic of its own beyond the rules every domain shares: a sample
stopped as a loop (``finish_reason="repetition"``) or truncated (think never
closed, or cut at ``max_tokens``) fails without being checked, and a verifier
that raises gives an ``error`` verdict with the reason.
Each problem's label (its gold, its samples' majority answer or none:
:mod:`raydistill.verifiers.labels`) is decided here, where all of a problem's
samples of this pass are in one row.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import pyarrow as pa

from raydistill import records, verifiers
from raydistill.observe.metrics import VerifierMetrics
from raydistill.parsing import repetition, truncation
from raydistill.verifiers import Verdict
from raydistill.verifiers.config import VerifyConfig
from raydistill.verifiers.labels import (
    VOTING_DOMAINS,
    Label,
    LabelsConfig,
    Majority,
    as_gold,
    as_solution,
    decide,
    majority_of,
)
from raydistill.verifiers.votes import equivalence, vote_of

logger = logging.getLogger(__name__)


def check_sample(
    problem: dict[str, Any], sample: dict[str, Any], params: dict[str, Any],
    label: Label | None = None,
) -> Verdict:
    """Verdict for one sample of ``problem``, checked against ``label`` (None: the gold)."""
    if sample["response"] is None:  # the teacher could not produce it: keep its reason
        return Verdict("error", sample["verdict_detail"] or "teacher: no response",
                       sample.get("reason") or "teacher_error")
    if loop := repetition(sample):
        return Verdict("fail", f"repetition: {loop}", "repetition")
    if cut := truncation(sample):
        return Verdict("fail", f"truncated: {cut}", "truncated")
    record = {**problem, **sample}
    if label is not None and label.check == "no_label":
        return Verdict("fail", "no label: no gold and no majority answer strong enough "
                       "(labels.min_share, labels.min_votes)", "no_label")
    if label is not None and label.check == "suspect_gold":
        return Verdict("fail", "suspect gold: a confident majority disagrees with it "
                       "(labels.on_suspect=drop)", "suspect_gold")
    if label is not None and label.check == "majority" and label.answer is not None:
        record["ground_truth_solution"] = as_gold(problem["domain"], label.answer)
    try:
        check = verifiers.get(problem["domain"])
        return check(record, params)
    except Exception as exc:  # noqa: BLE001 - a crashed checker is an error verdict
        logger.warning("verifier crashed on %s: %r", problem["problem_id"], exc)
        return Verdict("error", f"verifier crashed: {type(exc).__name__}: {exc}")


def has_gold(problem: dict[str, Any]) -> bool:
    """Whether the problem brings a label of its own: a gold answer, or tests for code."""
    field = "test_cases" if problem["domain"] not in VOTING_DOMAINS else "ground_truth_solution"
    return bool((problem.get(field) or "").strip())


def label_problem(problem: dict[str, Any], params: dict[str, Any],
                  labels: LabelsConfig) -> tuple[Label, Majority]:
    """The label of ``problem`` and its samples' majority (code: its tests, no votes)."""
    domain = problem["domain"]
    if domain not in VOTING_DOMAINS:
        return Label("gold"), Majority(None, 0, 0)
    votes = [None if s["response"] is None or repetition(s) or truncation(s)
             else vote_of(domain, s["solution"])
             for s in problem["samples"] or []]
    majority = majority_of(votes, equivalence(domain))

    def gold_agrees() -> bool | None:
        if majority.answer is None:  # asked only of a confident majority
            return None
        verdict = check_sample(problem, {"response": "", "solution": as_solution(
            domain, majority.answer), "think_closed": True, "finish_reason": "stop"}, params)
        return None if verdict.status == "error" else verdict.passed

    return decide(labels, has_gold(problem), majority, gold_agrees), majority


class VerifierActor:
    """Fills ``verdict``, ``reason`` and ``verdict_detail`` of every sample in a batch."""

    def __init__(self, verify: VerifyConfig, labels: LabelsConfig | None = None) -> None:
        # The pure verifiers take the section as plain data (``params``).
        self.params = dataclasses.asdict(verify)
        self.labels = labels or LabelsConfig()
        self.metrics = VerifierMetrics()

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Verify every sample of every problem in ``batch``."""
        out = []
        for problem in records.rows(batch):
            label, majority = label_problem(problem, self.params, self.labels)
            columns = {"label_source": label.source(has_gold(problem)),
                       "suspect_gold": label.suspect, "majority_answer": majority.answer,
                       "majority_share": majority.share}
            samples = []
            for sample in problem["samples"] or []:
                started = time.perf_counter()
                verdict = check_sample(problem, sample, self.params, label)
                seconds = time.perf_counter() - started
                self.metrics.sample(problem, verdict.status, verdict.reason, seconds)
                verdicts = [verifiers.entry(problem["domain"], verdict, seconds)]
                samples.append(dict(sample, verdict=verdict.status, reason=verdict.reason,
                                    verdict_detail=verdict.detail, verdicts=verdicts, **columns))
            out.append(dict(problem, samples=samples))
        self.metrics.flush()
        return records.table(out, records.GENERATION)
