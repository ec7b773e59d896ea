"""Slot cgroups shared by the processes of one host (issue 25): real sandboxes, real processes.

A slot's uid moves between processes from run to run; its cgroup must survive a
neighbour's exit, a process killed mid-check, a cgroup removed between runs and an
actor restart, and a cgroup lost under a run must cost that run alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from raydistill import verifiers
from raydistill.sandbox import Limits, Sandbox, cgroups
from raydistill.sandbox.slots import UidSlots
from tests.support.paths import REPO

TOOL = REPO / "tools" / "bench" / "bench_sandbox.py"
# a program that forks 3 children and sleeps: a sandbox busy long enough to kill its host
SLEEPER = ("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n"
           "        time.sleep(30)\ntime.sleep(30)\n")
SLOW_LIMITS = {"cpu_s": 40.0, "wall_s": 40.0, "total_wall_s": 60.0}


def canonical(count: int) -> list[dict]:
    """The first ``count`` HumanEval problems as rows answered by their canonical solution."""
    sys.path.insert(0, str(TOOL.parent))
    try:
        from bench_sandbox import humaneval_records
    finally:
        sys.path.remove(str(TOOL.parent))
    return humaneval_records()[:count]


def sleeper_row() -> dict:
    return {"solution": f"```python\n{SLEEPER}```",
            "test_cases": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})}


def statuses(rows: list[dict]) -> list[str]:
    verify = verifiers.get("code")
    return [f"{v.status}: {v.detail}" for v in (verify(row, {"code": {}}) for row in rows)]


def test_a_checker_beside_neighbours_that_exit_gets_no_error():
    """Issue 25's reproduction: 4 neighbours each check a few solutions and exit."""
    out = subprocess.run(
        [sys.executable, str(TOOL), "--neighbours", "4", "--seconds", "18",
         "--neighbour-seconds", "3"], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120, check=True).stdout
    results = json.loads(out.splitlines()[-1])["this tree"]
    assert set(results) == {"checker", "neighbour 1", "neighbour 2", "neighbour 3",
                            "neighbour 4"}
    for name, got in results.items():
        assert got["checks"] > 0 and got["error"] == 0 and got["fail"] == 0, (name, got)
        assert got["pass"] == got["checks"], (name, got)


def _sandbox_tree(host: int, timeout_s: float = 30.0) -> tuple[int, list[int]]:
    """The slot uid and processes of the sandbox that ``host`` runs, once its program forked."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tree = cgroups._descendants(host)[1:]
        uids = {_uid(pid) for pid in tree} - {None, 0}
        if len(tree) >= 6 and len(uids) == 1:  # bwrap, the runner, the program, 3 children
            return uids.pop(), tree  # type: ignore[return-value]
        time.sleep(0.1)
    raise AssertionError(f"no sandbox of {host} came up in {timeout_s} s")


def _uid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_a_host_killed_mid_check_leaves_nothing_to_later_checks():
    """SIGKILL while a sandbox runs: its cgroup is left behind, the next holder reuses it."""
    code = f"""
        import json, sys
        from raydistill import verifiers
        row = json.loads(sys.argv[1])
        print(verifiers.get("code")(row, {{"code": {SLOW_LIMITS!r}}}))
    """
    host = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code),
                             json.dumps(sleeper_row())],
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        uid, tree = _sandbox_tree(host.pid)
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait()
    slots = UidSlots(uid, 1)
    with slots.acquire(timeout_s=10) as held:
        cgroup = cgroups.for_slot(slots, held, Limits().slot_memory_bytes, 20)
        for path in cgroup.dirs:
            assert (path / "cgroup.procs").read_text().split() == []
    deadline = time.monotonic() + 5
    while any(map(_alive, tree)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in tree if _alive(pid)]
    got = statuses(canonical(6))
    assert all(s.startswith("pass") for s in got), got


def test_a_cgroup_removed_between_runs_is_made_again():
    """A neighbour that removes a free slot's cgroup (at its exit) costs the next run nothing."""
    box = Sandbox(Limits())
    job = {"mode": "stdio", "program": "print(int(input()) + 1)\n", "tests": ["1\n"],
           "cpu_s": 1.0, "wall_s": 2.0, "max_output": 1 << 16}
    assert box.run(job).tests[0].stdout == b"2\n"
    for uid, (cgroup, slots) in list(cgroups._USED.items()):
        with slots.hold_if_free(uid) as held:
            if held:
                cgroup.remove()
                assert not any(path.exists() for path in cgroup.dirs)
    for _ in range(3):
        outcome = box.run(job)
        assert outcome.sandbox_error is None and outcome.tests[0].stdout == b"2\n", outcome
        assert box.last_peak_memory_bytes


def test_a_cgroup_lost_under_a_run_is_that_runs_error_only(monkeypatch):
    """A counter that cannot be read is a sandbox error of that run, not a crash or a cascade."""
    box = Sandbox(Limits())
    job = {"mode": "stdio", "program": "print(int(input()) + 1)\n", "tests": ["1\n"],
           "cpu_s": 1.0, "wall_s": 2.0, "max_output": 1 << 16}
    real = cgroups.SlotCgroup.peak_memory_bytes
    calls = []

    def vanished_once(self: cgroups.SlotCgroup) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", "memory.max_usage_in_bytes")
        return real(self)

    monkeypatch.setattr(cgroups.SlotCgroup, "peak_memory_bytes", vanished_once)
    first = box.run(job)
    assert first.sandbox_error and "slot cgroup" in first.sandbox_error
    assert box.last_peak_memory_bytes is None
    second = box.run(job)
    assert second.sandbox_error is None and second.tests[0].stdout == b"2\n"
    assert box.last_peak_memory_bytes


@pytest.mark.slow
def test_an_actor_killed_mid_check_and_restarted_checks_again(ray_cluster):
    """A Ray actor killed while its sandbox runs comes back and its checks pass, as do ours."""
    import ray

    @ray.remote(max_restarts=1, num_cpus=0.5)
    class Checker:
        def statuses(self, rows: list[dict], limits: dict) -> list[str]:
            verify = verifiers.get("code")
            return [f"{v.status}: {v.detail}" for v in
                    (verify(row, {"code": limits}) for row in rows)]

        def pid(self) -> int:
            return os.getpid()

    rows = canonical(4)
    checker = Checker.remote()
    first = ray.get(checker.statuses.remote(rows, {}))
    assert all(s.startswith("pass") for s in first), first
    pid = ray.get(checker.pid.remote())
    slow = checker.statuses.remote([sleeper_row()], SLOW_LIMITS)
    _sandbox_tree(pid)
    ray.kill(checker, no_restart=False)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(slow, timeout=60)
    assert statuses(rows) == first  # this process checks beside the restarting actor
    again = ray.get(checker.statuses.remote(rows, {}), timeout=120)
    assert ray.get(checker.pid.remote()) != pid
    assert again == first
