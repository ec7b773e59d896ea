"""Run untrusted Python in bubblewrap: one sandbox per solution, one fork per test.

Threat model. The program is model output; assume it tries to escape, to exhaust
the host, to read secrets or to fake a pass. Each property below has an attacking
test in ``tests/unit/sandbox/test_sandbox.py`` or
``tests/unit/sandbox/test_sandbox_attacks.py`` (the latter in every test style:
stdin/stdout, call-based, HumanEval ``check``, MBPP asserts).

Protected against:

- Host files: only ``/usr`` and the interpreter's prefix are visible, read-only;
  no ``/proc``, ``/etc``, ``/home``, ``/root``, host ``/tmp``. ``/`` and ``/dev``
  are remounted read-only; the only writable place is a size-capped tmpfs
  ``/tmp`` that vanishes with the sandbox.
- Network: a new, empty network namespace (not even loopback is up) and a
  seccomp filter that refuses sockets other than ``AF_UNIX``.
- Secrets: the sandbox starts with an empty environment; no host file holding
  credentials is mounted.
- Other processes: new user, pid, ipc, uts and cgroup namespaces; a distinct host
  uid per concurrent slot (``setpriv``), so a slot can signal or count only its
  own processes; further user namespaces disabled.
- Kernel surface: a seccomp filter built with libseccomp (see
  :mod:`raydistill.sandbox.seccomp`) denies ptrace, ``process_vm_*``, ``pidfd_getfd``,
  mount/unshare/setns, keyctl, bpf, perf, io_uring, userfaultfd, memfd, module and
  clock calls, SysV IPC (``shm*``, ``msg*``, ``sem*``), ``setsid`` (a sandbox
  stays one session, one scheduler autogroup), ``prlimit64`` on any process but
  the caller, namespace flags in ``clone`` (``clone3`` answers ENOSYS so libc
  falls back to ``clone``), and kills any other syscall ABI (x32, i386).
- The trusted runner (pid 1 inside): it ignores signals from inside its
  namespace, and its rlimits cannot be changed by the program (``prlimit64`` on
  another pid is denied); clean-up between tests kills every other process and
  empties ``/tmp`` holding one descriptor at a time (a tree deeper than the
  open-file limit goes too); if it cannot, the run ends as a sandbox error
  instead of letting the next test see what the last one left.
- Resources: hard rlimits (CPU, address space, processes, file size, open files,
  no core dumps) set by ``prlimit`` before anything runs; per-test CPU and wall
  limits in the runner; a cgroup per slot (:mod:`raydistill.sandbox.cgroups`,
  joined from the host before the job is sent, so before any program runs) caps
  the slot at one core of CPU, at ``memory_mb + tmpfs_mb + 128 MiB`` of memory
  (kernel memory and tmpfs pages counted, read back by the host as
  ``Sandbox.last_peak_memory_bytes``) and at ``max_processes + 4`` tasks. Where
  no cgroup can be made (:func:`raydistill.sandbox.isolation.slot_bound` decides,
  :class:`Sandbox` logs what holds), a slot's memory is at most
  ``max_processes * memory_mb + tmpfs_mb`` (no memory outside a process: SysV IPC
  and memfd denied; ``RLIMIT_NPROC`` per slot uid) and its CPU share that of one
  scheduler autogroup (``setsid`` denied), where the kernel's autogroups apply;
  a host with neither bound is refused unless ``allow_weak``. A wall deadline
  for the whole run after which the parent SIGKILLs the process group, whose
  death takes down the pid namespace; output read with a byte budget; stray
  processes of the slot's uid killed afterwards.
- Verdict forgery and looking the answer up: results travel over the runner's
  own pipe, which user code cannot reach (see :mod:`raydistill.sandbox.runner`).
  Expected outputs and return values never enter the sandbox; values come back
  as plain data compared in the parent. Assert-based tests (whose text holds the
  expected values) reach only the checker processes, through a pipe of their
  own: the runner, and so every candidate process forked from it, never holds
  them, so no frame walk, ``gc`` scan or raw memory read finds them. The
  program's functions, classes and other objects reach the test code as handles
  (:mod:`raydistill.sandbox.exchange`): no program code runs in the checker, and
  a program object never equals a test's value. An exception the program raises,
  its death, an oversized or malformed reply fail the test whatever the test
  code catches.

Not protected against:

- Kernel bugs reachable through the allowed syscalls (namespaces and seccomp
  shrink the surface, they do not remove it: use VMs or gVisor for tenants
  that target kernels).
- Without a cgroup: the memory bound is the rlimits' (far above one program's
  ``memory_mb``, and kernel buffers such as pipes are not in it), no peak is read
  back, and fairness between slots is the scheduler's between autogroups, not a
  hard one-core cap. With ``allow_weak_sandbox`` on a host that has neither
  bound: none, as logged.
- Reading world-readable files under ``/usr`` and the interpreter prefix, and
  timing side channels. A call-based program can read the arguments of the
  other tests of its problem (never their expected values).
- Assert tests run trusted test code inside the sandbox, in a checker process
  separate from the program's; only plain data and handles cross, but a test
  whose logic itself is weak stays weak, and a test that expects the program to
  raise counts the exception as the program's failure. The setup code of a test
  (HumanEval's prompt, MBPP's ``test_setup_code``) also runs before the program,
  as those harnesses run it: it must not hold expected values. Objects a test
  builds with the program's classes live in the program's process, and two of
  them compare with the program's ``__eq__`` (what such a test asks for).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from raydistill.sandbox import cgroups
from raydistill.sandbox.isolation import PROPERTIES, Isolation, SlotBound, probe, slot_bound
from raydistill.sandbox.launch import launch
from raydistill.sandbox.resources import (
    HARNESS_PROCESSES,
    Limits,
    RunOutcome,
    SandboxUnavailable,
    TestRun,
)
from raydistill.sandbox.slots import UID_BASE, UID_SLOTS, UidSlots, stray_processes

__all__ = ["PROPERTIES", "UID_BASE", "UID_SLOTS", "Isolation", "Limits", "RunOutcome",
           "Sandbox", "SandboxUnavailable", "SlotBound", "TestRun", "probe", "slot_bound",
           "stray_processes"]

logger = logging.getLogger(__name__)


class Sandbox:
    """Runs jobs of :mod:`raydistill.sandbox.runner` under the isolation configured."""

    def __init__(self, limits: Limits | None = None, *, allow_weak: bool = False,
                 required: tuple[str, ...] = PROPERTIES) -> None:
        self.limits = limits or Limits()
        isolation = probe()
        if not isolation.namespaces:
            raise SandboxUnavailable(f"bubblewrap namespaces do not work here: {isolation.detail}")
        missing = isolation.missing(required)
        if missing and not allow_weak:
            raise SandboxUnavailable(
                f"host isolation weaker than required, missing {', '.join(missing)} "
                f"({isolation.detail or 'see raydistill.sandbox.probe()'}); "
                "set allow_weak_sandbox=True to run untrusted code anyway")
        self.bound = slot_bound(isolation, self.limits)
        if missing:
            logger.warning("RUNNING UNTRUSTED CODE WITH A WEAK SANDBOX: missing %s (%s); %s",
                           ", ".join(missing), isolation.detail, self.bound.statement)
        elif self.bound.kind == "cgroup":
            logger.info("%s", self.bound.statement)
        else:  # a true bound, but not the one a cgroup gives: say which
            logger.warning("%s", self.bound.statement)
        self.isolation = isolation
        self._slots = UidSlots(UID_BASE, UID_SLOTS) if isolation.distinct_uid else None
        self.last_peak_memory_bytes: int | None = None  # of the last run, from its cgroup

    def run(self, job: Mapping[str, Any],
            on_record: Callable[[TestRun], bool] = lambda run: True) -> RunOutcome:
        """Run every test of ``job`` in one fresh sandbox."""
        if self._slots is None:
            return launch(job, self.limits, None, self.isolation.seccomp, on_record)
        with self._slots.acquire() as uid:
            if not self.isolation.cgroup:
                return launch(job, self.limits, uid, self.isolation.seccomp, on_record)
            try:
                cgroup = cgroups.for_slot(self._slots, uid, self.limits.slot_memory_bytes,
                                          self.limits.max_processes + HARNESS_PROCESSES)
            except OSError as exc:
                logger.error("cannot make the cgroup of sandbox uid %d: %s", uid, exc)
                return RunOutcome(sandbox_error=f"slot cgroup: {exc}")
            outcome = launch(job, self.limits, uid, self.isolation.seccomp, on_record, cgroup)
            try:
                self.last_peak_memory_bytes = cgroup.peak_memory_bytes()
            except OSError as exc:  # the cgroup vanished under the run: its error alone
                logger.error("cannot read the cgroup of sandbox uid %d: %s", uid, exc)
                self.last_peak_memory_bytes = None
                outcome.sandbox_error = outcome.sandbox_error or f"slot cgroup: {exc}"
            return outcome
