"""Live metrics: Prometheus series for the Ray dashboard, and the console funnel.

Every series is a ``ray.util.metrics`` object, so Ray's metrics agent on each
node exports it on the node's Prometheus endpoint (``ray start
--metrics-export-port``) with the prefix ``ray_`` (counters also get
``_total``) and the dashboard's Grafana can chart it. Useful queries:

- tokens in/out per second per teacher replica:
  ``sum by (replica) (rate(ray_raydistill_completion_tokens_total[1m]))``
  (``prompt_tokens`` for tokens in; ``replica`` is the actor's id). Counters and
  ``rate()``, not a gauge the actor computes: a gauge set in an actor's last
  second is lost when Ray Data stops the pool, a counter's total is not;
- verification throughput per verifier kind:
  ``sum by (verifier) (rate(ray_raydistill_samples_verified_total[1m]))``
  and latency ``histogram_quantile(0.9, rate(ray_raydistill_verification_seconds_bucket[5m]))``;
- pass rate by source: ``sum by (source) (ray_raydistill_samples_verified_total{verdict="pass"})
  / sum by (source) (ray_raydistill_samples_verified_total)`` (``domain`` likewise);
- error rows by reason: ``ray_raydistill_error_rows_total`` (tags ``stage``, ``reason``,
  a code of :mod:`raydistill.reasons`);
- cost per teacher (escalation: each wave's teacher at its own prices):
  ``sum by (teacher) (ray_raydistill_teacher_cost_usd_total)``;
- back-pressure: ``ray_raydistill_backpressure_wait_seconds`` (time a problem
  waited for a free engine slot: the engine is the bottleneck when it grows).

The same counts also go, a few times a minute per actor, to one small named
actor (:class:`FunnelCounter`) that the driver's progress line reads
(``raydistill.observe.progress``). Hooks cost a few counter updates per problem and
one actor call per batch. Outside a Ray worker (plain unit tests) every hook is a no-op.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

FUNNEL_ACTOR = "raydistill-funnel"
# Seconds between two sends of an actor's funnel counts: one tiny actor call per
# actor per interval keeps the funnel actor idle even with hundreds of actors.
FLUSH_INTERVAL_S = 2.0
# Latency buckets in seconds. Generation: a toy model answers in ~0.1 s, an R1
# trace of 8k tokens at ~30 tok/s per sequence takes ~5 min.
GENERATION_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800]
# Verification: math-verify ~1-50 ms, sandboxed code ~3 ms per test up to the 10 s deadline.
VERIFY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30]
# Waiting for an engine slot: zero while the engine has room, minutes when saturated.
WAIT_BUCKETS = [0.001, 0.01, 0.1, 1, 5, 10, 30, 60, 300, 900]

_SERIES: dict[str, Any] | None = None


def _series() -> dict[str, Any] | None:
    """The metric objects of this process, made on first use; None outside Ray."""
    global _SERIES
    if _SERIES is not None:
        return _SERIES
    import ray

    if not ray.is_initialized():
        return None
    from ray.util.metrics import Counter, Histogram

    teacher = ("teacher", "replica")
    _SERIES = {
        "problems_read": Counter("raydistill_problems_read", "Problems read from the sources.",
                                 ("source",)),
        "problems_generated": Counter("raydistill_problems_generated",
                                      "Problems the teacher answered with samples.",
                                      teacher),
        "samples": Counter("raydistill_samples_generated", "Samples generated.", teacher),
        "prompt_tokens": Counter("raydistill_prompt_tokens", "Prompt tokens sent to the teacher.",
                                 teacher),
        "completion_tokens": Counter("raydistill_completion_tokens",
                                     "Tokens the teacher generated.", teacher),
        "cost_usd": Counter("raydistill_teacher_cost_usd",
                            "Teacher tokens at the teacher's price_*_per_million.", teacher),
        "repetition_stopped": Counter("raydistill_samples_stopped_looping",
                                      "Samples stopped for repetition while generated.", teacher),
        "unspent_tokens": Counter("raydistill_unspent_tokens",
                                  "Tokens of max_tokens that samples stopped looping did not "
                                  "spend.", teacher),
        "budget_forced": Counter("raydistill_samples_budget_forced",
                                 "Samples whose reasoning reached sampling.think_budget.",
                                 teacher),
        "generation_s": Histogram("raydistill_generation_seconds",
                                  "Time from a problem entering the engine to its n samples.",
                                  GENERATION_BUCKETS, teacher),
        "wait_s": Histogram("raydistill_backpressure_wait_seconds",
                            "Time a problem waited for a free engine slot.", WAIT_BUCKETS, teacher),
        "verified": Counter("raydistill_samples_verified", "Samples verified, by verdict.",
                            ("verifier", "domain", "source", "verdict")),
        "verify_s": Histogram("raydistill_verification_seconds", "Time to verify one sample.",
                              VERIFY_BUCKETS, ("verifier",)),
        "error_rows": Counter("raydistill_error_rows", "Rows kept as errors, by reason.",
                              ("stage", "reason")),
    }
    return _SERIES


def _inc(series: dict[str, Any], name: str, value: float, tags: dict[str, str]) -> None:
    if value > 0:  # Ray's counters refuse 0
        series[name].inc(value, tags=tags)


def reason_of(row: dict[str, Any]) -> tuple[str, str]:
    """The stage and reason code of a problem row the teacher gave no samples.

    >>> reason_of({"input_error": "missing field 'answer'", "teacher_error": None})
    ('input', 'input_error')
    >>> reason_of({"input_error": None, "teacher_error": "prompt too long: 2013 tokens"})
    ('teacher', 'teacher_error')
    """
    return ("input", "input_error") if row.get("input_error") else ("teacher", "teacher_error")


class _FunnelSender:
    """Batches funnel deltas and sends them to the named funnel actor now and then."""

    def __init__(self) -> None:
        self.pending: Tally[str] = Tally()
        self.last_sent = time.monotonic()
        self.handle: Any = None
        self.looked_up = float("-inf")

    def add(self, **deltas: float) -> None:
        self.pending.update({k: v for k, v in deltas.items() if v})

    def flush(self, force: bool = False, wait: bool = False) -> None:
        """Send the pending counts (``force``: whatever the interval; ``wait``: until added).

        Waiting at the end of each batch (~1 ms) means a batch's counts are in the
        funnel before Ray Data gets the batch back, so the final line is exact.
        """
        import ray

        now = time.monotonic()
        if not self.pending or (not force and now - self.last_sent < FLUSH_INTERVAL_S):
            return
        # Look the actor up again at most every 30 s: a run without a progress
        # line (the verify-only command, a unit test outside Ray) has none.
        if self.handle is None and now - self.looked_up > 30 and ray.is_initialized():
            self.looked_up = now
            try:
                self.handle = ray.get_actor(FUNNEL_ACTOR)
            except ValueError:
                self.handle = None
        if self.handle is not None:
            sent = self.handle.add.remote(dict(self.pending))
            if wait:
                try:
                    ray.get(sent, timeout=10)
                except Exception as exc:  # noqa: BLE001 - progress only, never fail a batch
                    logger.warning("funnel counts not delivered: %s", exc)
        self.pending.clear()
        self.last_sent = now


def _replica_id() -> str:
    import ray

    try:
        return (ray.get_runtime_context().get_actor_id() or "driver")[:8]
    except Exception:  # noqa: BLE001 - a name for a tag, never worth failing over
        return "unknown"


class TeacherMetrics:
    """Hooks of one teacher replica: call :meth:`problem` per finished problem row."""

    def __init__(self, teacher: str, prices: tuple[float, float] = (0.0, 0.0)) -> None:
        self.series = _series()
        self.tags = {"teacher": teacher, "replica": _replica_id() if self.series else ""}
        # USD per prompt token and per completion token (the config's per million).
        self.prices = (prices[0] / 1e6, prices[1] / 1e6)
        self.funnel = _FunnelSender()

    def waited(self, seconds: float) -> None:
        """A problem waited ``seconds`` for an engine slot (back-pressure)."""
        if self.series:
            self.series["wait_s"].observe(seconds, tags=self.tags)

    def problem(self, row: dict[str, Any]) -> None:
        """Count one problem row as it leaves the teacher."""
        samples = row.get("samples") or []
        tokens_in = (row.get("prompt_tokens") or 0) if samples else 0
        tokens_out = sum(s["completion_tokens"] or 0 for s in samples)
        looped = sum(s.get("finish_reason") == "repetition" for s in samples)
        unspent = sum(s.get("unspent_tokens") or 0 for s in samples)
        forced = sum(bool(s.get("budget_forced")) for s in samples)
        failed = not samples
        self.funnel.add(problems_generated=int(not failed), samples=len(samples),
                        prompt_tokens=tokens_in,
                        completion_tokens=tokens_out, error_rows=int(failed))
        self.funnel.flush()
        if not self.series:
            return
        s, tags = self.series, self.tags
        _inc(s, "problems_generated", int(not failed), tags)
        _inc(s, "samples", len(samples), tags)
        _inc(s, "prompt_tokens", tokens_in, tags)
        _inc(s, "completion_tokens", tokens_out, tags)
        _inc(s, "cost_usd", tokens_in * self.prices[0] + tokens_out * self.prices[1], tags)
        _inc(s, "repetition_stopped", looped, tags)
        _inc(s, "unspent_tokens", unspent, tags)
        _inc(s, "budget_forced", forced, tags)
        if row.get("generation_seconds") is not None:
            s["generation_s"].observe(row["generation_seconds"], tags=tags)
        if failed:
            stage, reason = reason_of(row)
            _inc(s, "error_rows", 1, {"stage": stage, "reason": reason})

    def flush(self) -> None:
        """Send the funnel counts now (end of a batch)."""
        self.funnel.flush(force=True, wait=True)


class VerifierMetrics:
    """Hooks of one verifier actor: call :meth:`sample` per verified sample."""

    def __init__(self) -> None:
        self.series = _series()
        self.funnel = _FunnelSender()

    def sample(self, problem: dict[str, Any], status: str, reason: str,
               seconds: float) -> None:
        """Count one verdict (pass, fail or error, with its reason code) of ``seconds``."""
        self.funnel.add(**{f"samples_{status}": 1, "error_rows": int(status == "error")})
        if not self.series:
            return
        domain = problem.get("domain") or "unknown"
        self.series["verified"].inc(1, tags={"verifier": domain, "domain": domain,
                                             "source": problem.get("source") or "unknown",
                                             "verdict": status})
        self.series["verify_s"].observe(seconds, tags={"verifier": domain})
        if status == "error":
            _inc(self.series, "error_rows", 1, {"stage": "verify", "reason": reason})

    def flush(self) -> None:
        """Send the funnel counts now (end of a batch)."""
        self.funnel.flush(force=True, wait=True)


def count_read(problems: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Pass problem rows through, counting them by source (in the driver, while staging)."""
    read: Tally[str] = Tally()
    for row in problems:
        read[row["source"]] += 1
        yield row
    series = _series()
    for source, count in read.items():
        if series:
            _inc(series, "problems_read", count, {"source": source})


class FunnelCounter:
    """The run's funnel so far, summed from every actor's hooks (a named Ray actor)."""

    def __init__(self) -> None:
        self.counts: Tally[str] = Tally()

    def add(self, deltas: dict[str, float]) -> None:
        """Add one actor's counts."""
        self.counts.update(deltas)

    def get(self) -> dict[str, float]:
        """The counts so far."""
        return dict(self.counts)

    def reset(self) -> None:
        """Start counting a new run."""
        self.counts.clear()
