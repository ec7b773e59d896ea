"""A prompt that crashes the vLLM engine every time ends as one error row (teachers/crashes.py).

The unit tests here check the ledger's rule and the gate without vLLM; the real
engine crash (a logits processor, tests/support/poison_engine.py, raising inside vLLM's
engine core when one prompt is scheduled) is part of the one faults run in
tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio

from raydistill.teachers.crashes import CrashCounts, CrashGuard, Deaths, ExclusiveGate


def test_poison_needs_a_death_alone_and_two_in_all():
    counts = CrashCounts()
    counts.record(["bad", "good1", "good2"])  # shared death: all three are suspects
    assert counts.lookup(["bad", "good1", "other"]) == {
        "bad": Deaths(1, 0), "good1": Deaths(1, 0)}
    assert not any(d.is_poison() for d in counts.lookup(["bad", "good1", "good2"]).values())
    counts.record(["bad"])  # it killed the engine again while alone
    assert counts.lookup(["bad"])["bad"] == Deaths(2, 1)
    assert counts.lookup(["bad"])["bad"].is_poison()
    assert "2 engine deaths, 1 alone" in Deaths(2, 1).reason()
    # One external kill that hits a lone request does not condemn it.
    counts.record(["lone"])
    assert not counts.lookup(["lone"])["lone"].is_poison()


def test_exclusive_gate_runs_a_suspect_alone_and_is_preferred():
    async def scenario() -> list[tuple[str, str, int]]:
        gate = ExclusiveGate()
        running: set[str] = set()
        log: list[tuple[str, str, int]] = []

        async def request(name: str, alone: bool, hold: float) -> None:
            async with gate.exclusive() if alone else gate.shared():
                running.add(name)
                log.append(("start", name, len(running)))
                await asyncio.sleep(hold)
                running.discard(name)

        first = [asyncio.create_task(request(f"s{i}", False, 0.05)) for i in range(3)]
        await asyncio.sleep(0.01)  # three shared requests are running
        suspect = asyncio.create_task(request("x", True, 0.05))
        await asyncio.sleep(0.01)
        late = asyncio.create_task(request("late", False, 0.01))  # arrives after the suspect
        await asyncio.gather(*first, suspect, late)
        return log

    log = asyncio.run(scenario())
    order = [name for _, name, _ in log]
    assert order.index("x") < order.index("late"), order  # writer-preferring
    assert ("start", "x", 1) in log  # nothing else ran beside it


def test_guard_records_requests_in_flight_and_condemns_only_poison():
    async def scenario() -> tuple[CrashGuard, list[str]]:
        counts = CrashCounts()
        counts.record(["bad", "good"])
        counts.record(["bad"])
        loop = asyncio.get_running_loop()

        class Method:  # an actor method: ``ledger.lookup.remote(...)`` gives an awaitable
            def __init__(self, fn):
                self.fn = fn

            def remote(self, *args):
                future = loop.create_future()
                future.set_result(self.fn(*args))
                return future

        class FakeLedger:
            lookup = Method(counts.lookup)
            record = Method(counts.record)

        guard = CrashGuard(FakeLedger())
        await guard.check_batch(["bad", "good", "new"])
        async with guard.running("new"):
            seen = sorted(guard.in_flight)
        return guard, seen

    guard, seen = asyncio.run(scenario())
    assert seen == ["new"] and not guard.in_flight
    assert guard.poison("bad") and "2 engine deaths, 1 alone" in guard.poison("bad")
    assert guard.poison("good") is None and guard.poison("new") is None
