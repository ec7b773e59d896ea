"""Poison prompts: isolate a prompt that kills the vLLM engine to its own error row.

A dead engine kills its actor (``os._exit``) and Ray retries the actor's batches
on a fresh engine. A prompt that crashes the engine every time (a kernel fault
on that input) would then kill every new engine until ``ray.max_task_retries``
is spent and the run fails. Instead:

- the driver starts one ledger actor (:func:`start_ledger`, a :class:`CrashCounts`)
  per generation pass and hands it to every teacher actor; it outlives the
  teacher actors' restarts;
- a teacher whose engine dies records the problems in flight at that moment
  (:meth:`CrashCounts.record`) before it exits;
- a teacher asks the ledger about each batch's problems once per batch
  (:meth:`CrashCounts.lookup`). A *suspect* (in flight during a death) runs
  alone in the engine (:class:`ExclusiveGate`), so a death while it runs names
  it. A *poison* problem (:meth:`Deaths.is_poison`) is not generated again:
  its row comes out with ``teacher_error`` set.

A poison problem thus costs two engine deaths (one shared, one alone); every
other problem of the batches in flight during the first death runs alone once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# Seconds a teacher waits for the ledger. It is a tiny actor on the head node;
# a ledger that does not answer must neither stop a dying actor from exiting
# nor stall a batch: the teacher goes on without it.
LEDGER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Deaths:
    """Engine deaths while one problem was in flight: in all, and with nothing else in flight."""

    total: int = 0
    alone: int = 0

    def is_poison(self) -> bool:
        """Killed the engine while alone, and at least twice in all.

        One death alone is not enough: an external kill (OOM killer, a lost
        node) that happens to hit a lone request must not condemn it; it runs
        alone once more.

        >>> Deaths(total=2, alone=1).is_poison(), Deaths(total=1, alone=1).is_poison()
        (True, False)
        >>> Deaths(total=5, alone=0).is_poison()
        False
        """
        return self.alone >= 1 and self.total >= 2

    def reason(self) -> str:
        """The ``teacher_error`` of a poison row."""
        return (f"engine crashed while generating this prompt ({self.total} engine deaths,"
                f" {self.alone} alone); not retried")


class CrashCounts:
    """Per-problem engine deaths (the state of the ledger actor).

    >>> counts = CrashCounts()
    >>> counts.record(["a", "b"]); counts.record(["a"])
    >>> counts.lookup(["a", "b", "c"])
    {'a': Deaths(total=2, alone=1), 'b': Deaths(total=1, alone=0)}
    """

    def __init__(self) -> None:
        self.deaths: dict[str, Deaths] = {}
        self.engine_deaths = 0

    def record(self, in_flight: list[str]) -> None:
        """One engine death with the problems ``in_flight`` in it."""
        self.engine_deaths += 1
        alone = int(len(in_flight) == 1)
        for problem_id in set(in_flight):
            seen = self.deaths.get(problem_id, Deaths())
            self.deaths[problem_id] = Deaths(seen.total + 1, seen.alone + alone)
        logger.warning("engine death %d with %d problem(s) in flight", self.engine_deaths,
                       len(in_flight))

    def lookup(self, problem_ids: list[str]) -> dict[str, Deaths]:
        """Deaths of those ``problem_ids`` that were ever in flight during one."""
        return {p: self.deaths[p] for p in problem_ids if p in self.deaths}


def start_ledger() -> Any:
    """A new crash ledger actor (no CPU reserved: it does a dict update per death)."""
    import ray

    return ray.remote(CrashCounts).options(num_cpus=0).remote()


class ExclusiveGate:
    """Shared requests run together; an exclusive one runs with nothing else in flight.

    Exclusive requests are preferred: once one waits, no new shared request
    enters, so the suspect runs as soon as the requests already running finish.
    """

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Run alongside other shared requests."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: not self._exclusive and not self._exclusive_waiting)
            self._shared += 1
        try:
            yield
        finally:
            async with self._changed:
                self._shared -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Run alone: wait until no other request runs, keep every other one out."""
        async with self._changed:
            self._exclusive_waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._changed:
                self._exclusive = False
                self._changed.notify_all()


class CrashGuard:
    """A teacher actor's side of the ledger: known deaths, requests in flight, the gate."""

    def __init__(self, ledger: Any | None) -> None:
        self.ledger = ledger
        self.known: dict[str, Deaths] = {}
        self.in_flight: dict[str, int] = {}
        self.gate = ExclusiveGate()

    async def check_batch(self, problem_ids: Iterable[str]) -> None:
        """Ask the ledger, once, about the deaths of a batch's problems."""
        if self.ledger is None:
            return
        try:
            found = await asyncio.wait_for(self.ledger.lookup.remote(list(problem_ids)),
                                           LEDGER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - without the ledger, generate as before
            logger.warning("crash ledger unavailable (%s); batch runs without it", exc)
            return
        self.known.update(found)
        for problem_id, deaths in found.items():
            logger.warning("problem %s was in flight during %d engine death(s), %d alone: %s",
                           problem_id, deaths.total, deaths.alone,
                           "not retried" if deaths.is_poison() else "runs alone")

    def poison(self, problem_id: str) -> str | None:
        """The error for a poison problem, None for any other."""
        deaths = self.known.get(problem_id)
        return deaths.reason() if deaths is not None and deaths.is_poison() else None

    @asynccontextmanager
    async def running(self, problem_id: str) -> AsyncIterator[None]:
        """Hold the gate (alone for a suspect) while ``problem_id`` is in the engine."""
        gate = self.gate.exclusive() if problem_id in self.known else self.gate.shared()
        async with gate:
            self.in_flight[problem_id] = self.in_flight.get(problem_id, 0) + 1
            try:
                yield
            finally:
                self.in_flight[problem_id] -= 1
                if not self.in_flight[problem_id]:
                    del self.in_flight[problem_id]

    def engine_died(self) -> None:
        """Record the problems in flight in the ledger (blocking, bounded: the actor exits next)."""
        if self.ledger is None:
            return
        import ray

        try:
            ray.get(self.ledger.record.remote(sorted(self.in_flight)), timeout=LEDGER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the actor must exit whatever happens
            logger.error("could not record the engine death in the crash ledger: %s", exc)
