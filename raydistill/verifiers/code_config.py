"""The ``verify.code`` section: the code verifier's sandbox limits, the one home of these defaults.

Why each default is what it is: each key's documentation, and :mod:`raydistill.sandbox`
(what the sandbox protects against).
"""

from __future__ import annotations

from dataclasses import dataclass

from raydistill.keys import key


@dataclass
class CodeSandboxConfig:
    """The code verifier and its sandbox."""

    cpu_s: float = key(4.0, "CPU seconds per test (2-4x the 1-2 s contest limits, for Python).")
    wall_s: float = key(10.0, "Wall seconds per test: catches sleeping or blocked "
                          "programs (> cpu_s for load).")
    total_wall_s: float = key(60.0, "Wall seconds for all tests of one solution: bounds "
                                "100 slow tests to a minute.")
    memory_mb: int = key(512, "Address space per process, MiB (contest limits are 256 MB, "
                         "plus Python).")
    max_processes: int = key(16, "Processes and threads per sandbox (the slot's cgroup "
                             "caps them too).")
    max_output_bytes: int = key(8 << 20, "Captured stdout per test, bytes: well above "
                                "contest outputs (a few MB).")
    file_mb: int = key(32, "Largest file the program may write, MiB.")
    tmpfs_mb: int = key(64, "The sandbox's whole writable /tmp, MiB.")
    max_open_files: int = key(64, "Open files per process: contest programs open "
                              "stdin/stdout and little else.")
    float_tolerance: float = key(1e-6, "Relative or absolute tolerance for real numbers in "
                                 "outputs (contest checkers accept 1e-6).")
    allow_weak_sandbox: bool = key(False, "Run code even when the host lacks seccomp, spare "
                                   "uids or any per-slot bound (logged loudly).")


POSITIVE_KEYS = ("cpu_s", "wall_s", "total_wall_s", "memory_mb", "max_processes",
                 "max_output_bytes", "file_mb", "tmpfs_mb", "max_open_files")


def sandbox_checks(code: CodeSandboxConfig, prefix: str = "verify.code") -> list[
        tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the sandbox's limits."""
    checks = [(code.float_tolerance >= 0, f"{prefix}.float_tolerance", "must be >= 0")]
    checks += [(getattr(code, name) > 0, f"{prefix}.{name}", "must be > 0")
               for name in POSITIVE_KEYS]
    return checks
