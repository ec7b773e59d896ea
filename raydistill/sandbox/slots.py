"""Slots: one host uid per concurrent sandbox, handed out under ``flock``.

A distinct uid per slot is what lets a slot signal, count (``RLIMIT_NPROC``) and
be killed as only its own processes; :func:`stray_processes` finds whatever of a
slot outlived its run.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Container, Iterator
from contextlib import contextmanager
from pathlib import Path

from raydistill.sandbox.resources import SandboxUnavailable

# Host uids for sandboxes: far above any account's, one per concurrent slot; 64
# slots exceed the verifier processes a node runs (one per core is plenty).
UID_BASE, UID_SLOTS = 1_950_000_000, 64


class UidSlots:
    """Host uids handed out under ``flock``, so threads and processes never share one.

    The lock is held for one run and then released, so a uid moves between the
    processes of a host from run to run; whatever belongs to a slot beyond one run
    (its cgroup, see :mod:`raydistill.sandbox.cgroups`) is touched only under it.
    """

    def __init__(self, base: int, count: int) -> None:
        self.uids = range(base, base + count)
        self.lock_dir = Path("/run/raydistill-sandbox")
        self.lock_dir.mkdir(mode=0o700, exist_ok=True)

    def _try_lock(self, uid: int) -> int | None:
        """An open descriptor holding ``uid``'s lock, or None if another holds it."""
        fd = os.open(self.lock_dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @contextmanager
    def acquire(self, timeout_s: float = 60.0) -> Iterator[int]:
        """A free uid, held until the block ends (SandboxUnavailable after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for uid in self.uids:
                fd = self._try_lock(uid)
                if fd is None:
                    continue
                try:
                    yield uid
                finally:
                    os.close(fd)
                return
            if time.monotonic() > deadline:
                raise SandboxUnavailable(f"all {len(self.uids)} sandbox uids busy")
            time.sleep(0.01)

    @contextmanager
    def hold_if_free(self, uid: int) -> Iterator[bool]:
        """Hold ``uid`` for the block if no one does now (True), else do nothing (False)."""
        fd = self._try_lock(uid)
        try:
            yield fd is not None
        finally:
            if fd is not None:
                os.close(fd)


def stray_processes(uids: Container[int]) -> list[int]:
    """Pids of host processes whose real, effective or saved uid is in ``uids``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
        if any(int(field) in uids for field in line.split()[1:4]):
            pids.append(int(entry.name))
    return pids
