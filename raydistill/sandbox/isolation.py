"""What isolation this host gives (found by trying), and what bounds a slot as a whole.

:func:`probe` starts a sandbox the way :class:`raydistill.sandbox.Sandbox` would
and reads back what held. :func:`slot_bound` is the decision for a slot's
memory and CPU taken as a whole: a cgroup where the host lets us make one,
otherwise rlimits plus seccomp where that is still a true bound, otherwise none
(a missing property: refused unless ``allow_weak_sandbox``). Whichever it is,
:class:`raydistill.sandbox.Sandbox` logs its statement: never a silent weaker
sandbox.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.sandbox.cgroups import CPU_CORES
from raydistill.sandbox.cgroups import available as cgroups_available
from raydistill.sandbox.launch import launch
from raydistill.sandbox.resources import HARNESS_PROCESSES, Limits
from raydistill.sandbox.seccomp import EAFNOSUPPORT, seccomp_filter
from raydistill.sandbox.slots import UID_BASE, UID_SLOTS, UidSlots

PROPERTIES = ("namespaces", "seccomp", "distinct_uid", "slot_bound")


@dataclass(frozen=True)
class Isolation:
    """What isolation this host gives (see :func:`probe`)."""

    namespaces: bool
    seccomp: bool
    distinct_uid: bool
    cgroup: bool = False  # a cgroup per slot (CPU share, memory, processes)
    detail: str = ""
    # The scheduler groups each session (one per sandbox: setsid is denied inside)
    # and this process is in the root CPU group, where autogroups apply.
    autogroup: bool = False
    no_cgroup_reason: str = ""

    @property
    def slot_bound(self) -> bool:
        """Whether a slot's memory and CPU share are bounded as a whole (see :func:`slot_bound`)."""
        return slot_bound(self, Limits()).kind != "none"

    def missing(self, required: tuple[str, ...] = PROPERTIES) -> list[str]:
        """The required properties this host lacks."""
        return [name for name in required if not getattr(self, name)]


@dataclass(frozen=True)
class SlotBound:
    """What bounds one slot as a whole: ``cgroup``, ``rlimits`` or ``none``; and why."""

    kind: str
    statement: str


def slot_bound(isolation: Isolation, limits: Limits) -> SlotBound:
    """The bound on a slot's memory and CPU share on this host, as a loggable statement.

    Without a cgroup, memory is still bounded if seccomp denies SysV IPC and
    ``memfd_create`` (memory in no process's address space) and the slot has a uid
    of its own (``RLIMIT_NPROC`` counts per uid): every process at its address-space
    cap plus ``/tmp``. CPU is bounded if seccomp denies ``setsid`` and the kernel's
    autogroups apply: each sandbox is one session, so one scheduling entity
    however many processes it forks.

    >>> slot_bound(Isolation(True, True, True, cgroup=True), Limits()).kind
    'cgroup'
    >>> print(slot_bound(Isolation(True, True, True, autogroup=True,
    ...                            no_cgroup_reason="not root"), Limits()).statement)
    ... # doctest: +ELLIPSIS
    sandbox slots have no cgroup (not root): memory <= 16 processes x 512 MiB ... = 8256 MiB...
    """
    mib = 1 << 20
    if isolation.cgroup:
        return SlotBound("cgroup", (
            f"sandbox slots bounded by a cgroup each: {CPU_CORES:g} core of CPU, "
            f"{limits.slot_memory_bytes // mib} MiB of memory (tmpfs and kernel memory "
            f"counted), {limits.max_processes + HARNESS_PROCESSES} tasks"))
    why = isolation.no_cgroup_reason or "none made"
    memory_holds = isolation.seccomp and isolation.distinct_uid
    memory = (f"memory <= {limits.max_processes} processes x {limits.memory_mb} MiB address "
              f"space + {limits.tmpfs_mb} MiB /tmp = {limits.rlimit_memory_bytes // mib} MiB "
              "per slot (rlimits; SysV IPC and memfd_create denied by seccomp, RLIMIT_NPROC "
              "per slot uid); no peak read back" if memory_holds else
              "memory NOT bounded per slot (needs seccomp and a uid per slot)")
    cpu_holds = isolation.seccomp and isolation.autogroup
    cpu = ("CPU: setsid denied by seccomp, so a slot is one scheduler autogroup whatever "
           f"it forks; <= {limits.cpu_s:g} CPU-s per process per test (RLIMIT_CPU)"
           if cpu_holds else
           "CPU share NOT bounded per slot (needs seccomp and scheduler autogroups in the "
           "root CPU group): a slot that forks spinning processes slows the other slots")
    kind = "rlimits" if memory_holds and cpu_holds else "none"
    return SlotBound(kind, f"sandbox slots have no cgroup ({why}): {memory}; {cpu}")


def autogroups_apply() -> bool:
    """Whether the scheduler shares CPU between sessions here (autogroup, root CPU group)."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        groups = dict(line.split(":", 2)[1:] for line in
                      Path("/proc/self/cgroup").read_text().splitlines())
    except (OSError, ValueError):
        return False
    cpu_group = next((path for names, path in groups.items() if "cpu" in names.split(",")),
                     groups.get(""))  # v1: the cpu hierarchy's line; v2: the unified one
    return enabled and cpu_group == "/"


def _probe_once(uid: int | None, seccomp: bool) -> tuple[dict[str, Any] | None, str]:
    limits = Limits(total_wall_s=10.0)
    if uid is None:
        outcome = launch({"mode": "probe"}, limits, None, seccomp, lambda run: True)
    else:
        with UidSlots(uid, UID_SLOTS).acquire() as slot:
            outcome = launch({"mode": "probe"}, limits, slot, seccomp, lambda run: True)
    return outcome.probe, outcome.sandbox_error or ""


@functools.lru_cache(maxsize=1)
def probe() -> Isolation:
    """Find out, by trying, which isolation bwrap gives on this host (cached)."""
    missing = [tool for tool in ("bwrap", "prlimit") if shutil.which(tool) is None]
    if missing:
        return Isolation(False, False, False, False, f"not installed: {', '.join(missing)}")
    can_switch = os.geteuid() == 0 and shutil.which("setpriv") is not None
    attempts = [(UID_BASE if can_switch else None, seccomp_filter() is not None)]
    attempts += [(None, attempts[0][1]), (None, False)]
    notes = []
    for attempt_uid, attempt_seccomp in attempts:
        facts, error = _probe_once(attempt_uid, attempt_seccomp)
        if facts is None:
            notes.append(f"uid={attempt_uid} seccomp={attempt_seccomp}: {error}")
            continue
        pid_ok = facts.get("pid") == 1
        seccomp_ok = attempt_seccomp and facts.get("inet_errno") == EAFNOSUPPORT
        distinct = attempt_uid is not None and pid_ok
        no_cgroup = cgroups_available()
        if no_cgroup:
            notes.append(f"no slot cgroups: {no_cgroup}")
        return Isolation(pid_ok, seccomp_ok, distinct, distinct and no_cgroup is None,
                         "; ".join(notes), autogroup=autogroups_apply(),
                         no_cgroup_reason=no_cgroup or ("" if distinct else "no uid per slot"))
    return Isolation(False, False, False, False, "; ".join(notes))
