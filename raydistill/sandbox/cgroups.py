"""One cgroup per sandbox run: a slot's CPU, memory and process count bounded as a whole.

Rlimits bound each process; a cgroup bounds the slot. Without one, a correct but
hostile solution whose children spin under ``setsid()`` (one scheduler autogroup
each) took most of both cores, and an honest solution in the other slot timed out.
In a cgroup the slot is one scheduling entity with at most ``CPU_CORES`` of CPU,
its memory (SysV segments, tmpfs pages and kernel memory included) has one
ceiling the host can read back, and it has a process cap of its own.

Made under the host process's own cgroup in each hierarchy (cgroup v1 controllers
``cpu``, ``memory``, ``pids``, as on this project's machines, or the v2 unified
tree when its ``cpu`` and ``memory`` controllers can be enabled for children),
so the host's own accounting still covers the sandbox. The host side moves a
sandbox in (:meth:`SlotCgroup.add`, :meth:`SlotCgroup.adopt`) before any program
runs: no process step of its own inside. Needs root; where none can be made,
:func:`available` says why and :mod:`raydistill.sandbox` decides what bounds the
slot instead (see ``slot_bound`` there).

Lifetime: a slot's cgroup is leased with the slot's uid lock
(:class:`raydistill.sandbox.slots.UidSlots`). That lock is held for one run, so a
slot moves between the processes of a host (verifier replicas, filter tasks, two
jobs) from run to run, and its cgroup (named by the uid alone, so all of them find
it) is made, reused, emptied and removed only by the process holding the lock:

- every run makes the cgroup if it is missing and kills whatever is left in it
  (:func:`for_slot`), so one removed by a neighbour in between, or left full by a
  host process killed mid-run (SIGKILL, ``os._exit``: no exit handler ran), costs
  nothing but that step;
- at exit a process removes the cgroups of the slots it used only where it can
  take the slot's lock at once; one held by another process stays, for that
  process (which used it too) or the next holder.

A cgroup that vanishes under a run anyway (removed by hand) is that run's sandbox
error, never the next run's: the next holder makes it again.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raydistill.sandbox.slots import UidSlots

logger = logging.getLogger(__name__)

CPU_CORES = 1.0  # per slot: contest solutions are single-threaded; 2 slots fit 2 cores
PERIOD_US = 100_000  # the CFS bandwidth period (the kernel's default)
CONTROLLERS = ("cpu", "memory", "pids")


def _own_paths() -> dict[str, str]:
    """The cgroup of this process per controller (``""`` key: the v2 unified one)."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            paths[name] = path
    return paths


def _mounts() -> dict[str, str]:
    """Mount point per v1 controller, and of the v2 tree under the ``""`` key."""
    mounts: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, options = right.split(" ", 2)
        point = left.split(" ")[4]
        if fstype == "cgroup2":
            mounts.setdefault("", point)
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in CONTROLLERS:
                    mounts[option] = point
    return mounts


@functools.lru_cache(maxsize=1)
def layout() -> tuple[str, dict[str, Path]] | None:
    """``("v1" | "v2", {controller: parent dir})`` for the slots' cgroups, or None."""
    if os.geteuid() != 0:
        return None
    try:
        own, mounts = _own_paths(), _mounts()
    except OSError:
        return None
    if all(name in mounts and name in own for name in CONTROLLERS):
        return "v1", {name: Path(mounts[name] + own[name]) for name in CONTROLLERS}
    if "" in mounts and "" in own:
        parent = Path(mounts[""] + own[""])
        try:
            (parent / "cgroup.subtree_control").write_text("+cpu +memory +pids")
        except OSError:  # controllers not delegated, or processes in the parent
            return None
        return "v2", {name: parent for name in CONTROLLERS}
    return None


def available() -> str | None:
    """None if slot cgroups can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    return None if layout() is not None else "no writable cpu, memory and pids controllers"


_USED: dict[int, tuple[SlotCgroup, UidSlots]] = {}


def for_slot(slots: UidSlots, uid: int, memory_bytes: int, max_processes: int) -> SlotCgroup:
    """The cgroup of slot ``uid``, made if missing, emptied and set up for one run.

    Call only while holding ``uid`` in ``slots``. The cgroup outlives the run (made
    and removed each run cost ~20 ms a solution: rmdir waits for the killed
    processes to leave); it is removed at this process's exit if no other process
    holds the slot then (see the module's docstring).
    """
    used = _USED.get(uid)
    if used is None:
        if not _USED:
            atexit.register(_remove_free)
        cgroup = SlotCgroup(uid)
        _USED[uid] = (cgroup, slots)
    else:
        cgroup = used[0]
    cgroup.prepare(memory_bytes, max_processes)
    return cgroup


def _remove_free() -> None:
    """Remove the cgroups of the slots this process used whose lock it can take now."""
    for uid, (cgroup, slots) in list(_USED.items()):
        with slots.hold_if_free(uid) as held:
            if not held:
                continue  # another process runs in it: it, or the next holder, keeps it
            try:
                cgroup.remove()
            except OSError as exc:
                logger.warning("slot cgroup of uid %d left in place: %s", uid, exc)


class SlotCgroup:
    """The cgroup(s) of one sandbox slot (see :func:`for_slot`)."""

    def __init__(self, uid: int) -> None:
        found = layout()
        if found is None:
            raise OSError(available() or "no cgroups")
        self.version, parents = found
        name = f"raydistill-sandbox-{uid}"
        self.dirs = sorted({parents[c] / name for c in CONTROLLERS})
        self.by_controller = {c: parents[c] / name for c in CONTROLLERS}

    def prepare(self, memory_bytes: int, max_processes: int) -> None:
        """Make the cgroup if missing, empty it of processes, set limits, reset the peak."""
        for path in self.dirs:
            try:
                path.mkdir()
            except FileExistsError:  # the last holder's, or one left by a killed process
                self._kill_members(path)
        quota = int(CPU_CORES * PERIOD_US)
        if self.version == "v1":
            self._write("cpu", "cpu.cfs_period_us", PERIOD_US)
            self._write("cpu", "cpu.cfs_quota_us", quota)
            self._write("memory", "memory.limit_in_bytes", memory_bytes)
            self._write("memory", "memory.max_usage_in_bytes", 0)
        else:
            self._write("cpu", "cpu.max", f"{quota} {PERIOD_US}")
            self._write("memory", "memory.max", memory_bytes)
            self._write("memory", "memory.swap.max", 0)
        self._write("pids", "pids.max", max_processes)

    def _write(self, controller: str, name: str, value: object) -> None:
        (self.by_controller[controller] / name).write_text(str(value))

    def add(self, pid: int) -> None:
        """Move process ``pid`` (not its existing children) into the cgroup(s)."""
        for path in self.dirs:
            (path / "cgroup.procs").write_text(str(pid))

    def adopt(self, root: int) -> None:
        """Make sure ``root`` and every descendant is in the cgroup(s), moving any that is not.

        Called while the tree is idle (the runner waits for its job): a process
        forked before :meth:`add` moved its parent stays where it was born.
        Raises OSError if one cannot be moved.
        """
        tree = _descendants(root)
        for path in self.dirs:
            members = set((path / "cgroup.procs").read_text().split())
            for pid in tree:
                if str(pid) not in members:
                    (path / "cgroup.procs").write_text(str(pid))
            members = set((path / "cgroup.procs").read_text().split())
            if outside := [pid for pid in tree if str(pid) not in members and _alive(pid)]:
                raise OSError(f"processes {outside} not in {path}")

    def peak_memory_bytes(self) -> int:
        """The slot's highest memory use so far, as the kernel counted it."""
        name = "memory.max_usage_in_bytes" if self.version == "v1" else "memory.peak"
        return int((self.by_controller["memory"] / name).read_text())

    @staticmethod
    def _kill_members(path: Path) -> None:
        for _ in range(200):
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
        raise OSError(f"processes in {path} survive SIGKILL")

    def remove(self) -> None:
        """Remove the cgroup(s); raises OSError if a process still holds one after 2 s."""
        for path in self.dirs:
            for attempt in range(400):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while killed processes finish exiting
                    if attempt == 399:
                        raise
                    self._kill_members(path)
                    time.sleep(0.005)


def _descendants(root: int) -> list[int]:
    """``root`` and its descendants, from ``/proc/PID/task/TID/children``."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue  # exited; its children went to the host's reaper, outside the tree
        found.append(pid)
        for task in tasks:
            try:
                todo += map(int, Path(f"/proc/{pid}/task/{task}/children").read_text().split())
            except FileNotFoundError:
                pass
    return found


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")
