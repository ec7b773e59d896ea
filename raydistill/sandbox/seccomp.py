"""The seccomp filter of the code sandbox, as classic BPF built by hand (no library).

:mod:`raydistill.sandbox` hands it to bubblewrap (``--seccomp FD``). What it
denies and why is in that module's threat model; each denial has an attacking
test in ``tests/test_sandbox.py``.
"""

from __future__ import annotations

import os
import struct

# name: (x86_64, aarch64) numbers, checked against the kernel's uapi headers.
_DENIED = {
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438), "process_madvise": (440, 440), "kcmp": (312, 272),
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "chroot": (161, 51), "open_tree": (428, 428),
    "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218), "bpf": (321, 280),
    "perf_event_open": (298, 241), "userfaultfd": (323, 282), "kexec_load": (246, 104),
    "kexec_file_load": (320, 294), "init_module": (175, 105), "finit_module": (313, 273),
    "delete_module": (176, 106), "reboot": (169, 142), "swapon": (167, 224),
    "swapoff": (168, 225), "syslog": (103, 116), "acct": (163, 89),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171),
    "clock_adjtime": (305, 266), "sethostname": (170, 161), "setdomainname": (171, 162),
    "quotactl": (179, 60), "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "personality": (135, 92), "vhangup": (153, 58), "move_pages": (279, 239),
    "migrate_pages": (256, 238), "fanotify_init": (300, 262), "memfd_create": (319, 279),
}
_ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}
_CLONE, _CLONE3, _SOCKET = (56, 220), (435, 435), (41, 198)
_NAMESPACE_FLAGS = 0x7E020080  # CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET,TIME}
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS, EAFNOSUPPORT, _AF_UNIX = 1, 38, 97, 1


def seccomp_filter(machine: str | None = None) -> bytes | None:
    """A classic-BPF seccomp program for bwrap's ``--seccomp``; None on other CPUs.

    Built by hand (``struct sock_filter`` records) so that no library is needed.
    ``memfd_create`` is denied so that every file the program makes counts
    against the tmpfs cap.

    >>> len(seccomp_filter("x86_64")) % 8, seccomp_filter("riscv64")
    (0, None)
    """
    machine = machine or os.uname().machine
    if machine not in _ARCHES:
        return None
    col, audit_arch = _ARCHES[machine]

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog = [op(load, 4), op(jeq, audit_arch, 1, 0), op(ret, _KILL), op(load, 0)]
    if machine == "x86_64":
        prog += [op(jge, 0x40000000, 0, 1), op(ret, _KILL)]  # x32 ABI
    for numbers in _DENIED.values():
        prog += [op(jeq, numbers[col], 0, 1), op(ret, _ERRNO | _EPERM)]
    prog += [op(jeq, _CLONE3[col], 0, 1), op(ret, _ERRNO | _ENOSYS)]
    prog += [op(jeq, _SOCKET[col], 0, 4), op(load, 16), op(jeq, _AF_UNIX, 0, 1),
             op(ret, _ALLOW), op(ret, _ERRNO | EAFNOSUPPORT)]
    prog += [op(jeq, _CLONE[col], 0, 4), op(load, 16), op(jset, _NAMESPACE_FLAGS, 0, 1),
             op(ret, _ERRNO | _EPERM), op(ret, _ALLOW), op(ret, _ALLOW)]
    return b"".join(prog)
