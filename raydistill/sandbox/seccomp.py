"""The seccomp filter of the code sandbox, built with libseccomp (``pyseccomp``).

:mod:`raydistill.sandbox` hands it to bubblewrap (``--seccomp FD``). libseccomp
keeps the syscall numbers per architecture and emits the architecture check
(other ABIs, x32 and i386 included, kill the process). What is denied and why
is in that module's threat model; ``tests/unit/sandbox/test_sandbox_attacks.py`` calls every
denied syscall from inside the sandbox and checks the answer.
"""

from __future__ import annotations

import errno
import functools
import logging
import os

try:  # pyseccomp loads libseccomp.so.2 (Debian's libseccomp2) at import
    import pyseccomp
except (ImportError, RuntimeError):  # pragma: no cover - reported by the probe
    pyseccomp = None

logger = logging.getLogger(__name__)

EAFNOSUPPORT = errno.EAFNOSUPPORT
AF_UNIX = 1

# Answered EPERM. Reaching other processes (ptrace, process_vm_*, pidfd_getfd,
# kcmp), the mount table and namespaces, kernel-wide state (keys, bpf, perf,
# modules, clocks, swap, hostname), io_uring (its own syscall surface),
# userfaultfd, and memfd_create (its files would not count against the tmpfs cap).
# SysV IPC: a segment or queue is kernel memory outside every rlimit (shmget let
# one process hold 1.5 GiB with memory_mb 512), so it is refused altogether.
# setsid: a new session is a scheduler autogroup of its own (a slot's children
# under setsid() took most of both cores); without it a sandbox is one session.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise",
    "kcmp", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "keyctl",
    "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "syslog", "acct", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
    "sethostname", "setdomainname", "quotactl", "name_to_handle_at", "open_by_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "personality", "vhangup",
    "move_pages", "migrate_pages", "fanotify_init", "memfd_create",
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl", "setsid",
)
# CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET,TIME}: no new namespaces from clone().
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000, 0x00000080)


def available() -> bool:
    """True if libseccomp (through pyseccomp) is usable here."""
    return pyseccomp is not None


@functools.lru_cache(maxsize=1)
def seccomp_filter() -> bytes | None:
    """The BPF program for bwrap's ``--seccomp``; None without libseccomp.

    Rules with arguments: ``socket`` only for ``AF_UNIX`` (EAFNOSUPPORT otherwise:
    no network even if a namespace leaked one); ``clone`` with a namespace flag is
    EPERM; ``clone3`` answers ENOSYS (its flags sit in memory, which seccomp cannot
    read) so libc falls back to ``clone``; ``prlimit64`` only on the caller itself
    (pid 0): changing pid 1's limits would break the trusted runner.

    >>> seccomp_filter()[:0], len(seccomp_filter()) % 8
    (b'', 0)
    """
    if pyseccomp is None:
        return None
    sc = pyseccomp
    rules = sc.SyscallFilter(sc.ALLOW)
    rules.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for name in DENIED:
        try:
            rules.add_rule(sc.ERRNO(errno.EPERM), name)
        except (OSError, ValueError) as exc:  # a name this libseccomp does not know
            logger.warning("seccomp: cannot deny %s: %s", name, exc)
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    rules.add_rule(sc.ERRNO(EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, AF_UNIX))
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rules.add_rule(sc.ERRNO(errno.EPERM), "prlimit64", sc.Arg(0, sc.NE, 0))
    read_end, write_end = os.pipe()
    try:
        rules.export_bpf(_Fd(write_end))
        os.close(write_end)
        write_end = -1
        chunks = []
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


class _Fd:
    """What ``export_bpf`` wants: an object with ``fileno()``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd
