"""The console's periodic one-line funnel, next to Ray Data's own progress bars.

The driver owns one small named actor (:class:`raydistill.observe.metrics.FunnelCounter`)
that the teacher and verifier hooks send their counts to; a daemon thread reads
it every :data:`INTERVAL_S` seconds and logs one line::

    funnel: 64 read -> 40 generated (160 samples, 2300 tok/s) -> 128 verified:
    60 pass / 66 fail / 2 error (46.9%) | 3 error rows | 35 s
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Any

from raydistill.observe.metrics import FUNNEL_ACTOR, FunnelCounter

logger = logging.getLogger(__name__)

# One line every 10 s: a 2-minute demo shows ~10 lines, a 10-hour job ~3600,
# which a log viewer still scrolls through.
INTERVAL_S = 10.0


def format_funnel(counts: dict[str, float], elapsed_s: float, tokens_per_s: float) -> str:
    """One line of funnel counts.

    >>> format_funnel({"problems_read": 8, "problems_generated": 4, "samples": 8,
    ...                "samples_pass": 3, "samples_fail": 5}, 12.0, 150.0)
    'funnel: 8 read -> 4 generated (8 samples, 150 tok/s) -> 8 verified: 3 pass / 5 fail / 0 error (37.5%) | 0 error rows | 12 s'
    """  # noqa: E501 - a doctest's expected line
    c = {k: int(v) for k, v in counts.items()}
    verdicts = [c.get(f"samples_{v}", 0) for v in ("pass", "fail", "error")]
    checked = sum(verdicts)
    rate = f"{verdicts[0] / checked:.1%}" if checked else "-"
    return (
        f"funnel: {c.get('problems_read', 0)} read -> {c.get('problems_generated', 0)} generated"
        f" ({c.get('samples', 0)} samples, {tokens_per_s:.0f} tok/s) -> {checked} verified:"
        f" {verdicts[0]} pass / {verdicts[1]} fail / {verdicts[2]} error ({rate})"
        f" | {c.get('error_rows', 0)} error rows | {elapsed_s:.0f} s"
    )


class Progress:
    """Context manager around the generate pass: the funnel actor and the thread that logs it.

    ``problems_read`` is the count staging found (the funnel's first number).
    """

    def __init__(self, problems_read: int, interval_s: float = INTERVAL_S) -> None:
        self.problems_read = problems_read
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="raydistill-progress", daemon=True)
        self.actor: Any = None
        self.started = time.monotonic()
        self.last: dict[str, float] = {}

    def __enter__(self) -> Progress:
        import ray

        # num_cpus=0: the counter must never wait for a CPU the pools hold.
        # get_if_exists + reset: a second run in the same driver reuses it.
        self.actor = ray.remote(FunnelCounter).options(
            name=FUNNEL_ACTOR, get_if_exists=True, num_cpus=0
        ).remote()
        ray.get(self.actor.reset.remote())
        self.actor.add.remote({"problems_read": self.problems_read})
        self.started = time.monotonic()
        self.thread.start()
        return self

    def counts(self) -> dict[str, float]:
        """The funnel counts so far."""
        import ray

        return ray.get(self.actor.get.remote(), timeout=30)

    def _loop(self) -> None:
        last_tokens, last_time = 0.0, time.monotonic()
        while not self.stop.wait(self.interval_s):
            try:
                counts = self.counts()
            except Exception as exc:  # noqa: BLE001 - a missed progress line is not an error
                logger.warning("progress unavailable: %s", exc)
                continue
            now = time.monotonic()
            tokens = counts.get("completion_tokens", 0.0)
            rate = (tokens - last_tokens) / (now - last_time)
            last_tokens, last_time = tokens, now
            logger.info(format_funnel(counts, now - self.started, rate))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        try:
            self.last = self.counts()
        except Exception as error:  # noqa: BLE001 - the summary table counts from the files
            logger.warning("final funnel counts unavailable: %s", error)
            return
        elapsed = time.monotonic() - self.started
        tokens = self.last.get("completion_tokens", 0.0)
        logger.info(format_funnel(self.last, elapsed, tokens / elapsed))
