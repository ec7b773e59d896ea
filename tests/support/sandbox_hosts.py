"""Which sandbox processes on this host are this test process's own.

Other processes on the machine (verifier replicas, other test runs) run sandboxes
under the same slot uids at the same time; a test that asserts "no process of a
slot uid is left" must look at its own sandboxes and at orphans only.
"""

from __future__ import annotations

import os
from collections.abc import Container
from pathlib import Path

from raydistill.sandbox import stray_processes


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def host_of(pid: int, uids: Container[int]) -> int | None:
    """The first ancestor of ``pid`` outside ``uids`` (1 for an orphan); None if gone."""
    while True:
        status = _status(pid)
        if not status:
            return None
        if int(status["Uid"].split()[0]) not in uids:
            return pid
        pid = int(status["PPid"])
        if pid <= 1:
            return 1


def own_sandbox_processes(uids: Container[int]) -> list[int]:
    """Live processes of ``uids`` started by this process, or orphaned (escaped a sandbox)."""
    own = []
    for pid in stray_processes(uids):
        host = host_of(pid, uids)
        if host == os.getpid() or (host == 1 and not _status(pid).get("State", "Z").startswith(
                "Z")):  # a zombie left to init is reaped by it: nothing runs
            own.append(pid)
    return own
