"""The Ray Data actor that runs verifiers over generated problem rows.

It owns no logic of its own beyond the rules every domain shares: a sample
stopped as a loop (``finish_reason="repetition"``) or truncated (think never
closed, or cut at ``max_tokens``) fails without being checked, and a verifier
that raises gives an ``error`` verdict with the reason.
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

logger = logging.getLogger(__name__)


def check_sample(
    problem: dict[str, Any], sample: dict[str, Any], params: dict[str, Any]
) -> Verdict:
    """Verdict for one sample of ``problem``."""
    if sample["response"] is None:  # the teacher could not produce it: keep its reason
        return Verdict("error", sample["verdict_detail"] or "teacher: no response",
                       sample.get("reason") or "teacher_error")
    if loop := repetition(sample):
        return Verdict("fail", f"repetition: {loop}", "repetition")
    if cut := truncation(sample):
        return Verdict("fail", f"truncated: {cut}", "truncated")
    try:
        check = verifiers.get(problem["domain"])
        return check({**problem, **sample}, params)
    except Exception as exc:  # noqa: BLE001 - a crashed checker is an error verdict
        logger.warning("verifier crashed on %s: %r", problem["problem_id"], exc)
        return Verdict("error", f"verifier crashed: {type(exc).__name__}: {exc}")


class VerifierActor:
    """Fills ``verdict``, ``reason`` and ``verdict_detail`` of every sample in a batch."""

    def __init__(self, verify: VerifyConfig) -> None:
        # The pure verifiers take the section as plain data (``params``).
        self.params = dataclasses.asdict(verify)
        self.metrics = VerifierMetrics()

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Verify every sample of every problem in ``batch``."""
        out = []
        for problem in records.rows(batch):
            samples = []
            for sample in problem["samples"] or []:
                started = time.perf_counter()
                verdict = check_sample(problem, sample, self.params)
                seconds = time.perf_counter() - started
                self.metrics.sample(problem, verdict.status, verdict.reason, seconds)
                verdicts = [verifiers.entry(problem["domain"], verdict, seconds)]
                samples.append(dict(sample, verdict=verdict.status, reason=verdict.reason,
                                    verdict_detail=verdict.detail, verdicts=verdicts))
            out.append(dict(problem, samples=samples))
        self.metrics.flush()
        return records.table(out, records.GENERATION)
