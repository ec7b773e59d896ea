"""What one sandbox run may use, and what it reports back (no process is started here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from raydistill.verifiers.code_config import CodeSandboxConfig

_DEFAULT = CodeSandboxConfig()  # the one home of the defaults and their reasons
SLOT_OVERHEAD_MB = 128  # the runner, a checker, bwrap and page tables, beside the program
HARNESS_PROCESSES = 4  # bwrap, the runner, a checker: not the program's to use


class SandboxUnavailable(RuntimeError):
    """The host cannot give the isolation that was asked for."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox run (one solution, all its tests).

    Built from ``verify.code`` (:class:`raydistill.verifiers.code_config.CodeSandboxConfig`,
    where each default is explained); the defaults here are that dataclass's.
    """

    cpu_s: float = _DEFAULT.cpu_s
    wall_s: float = _DEFAULT.wall_s
    total_wall_s: float = _DEFAULT.total_wall_s
    memory_mb: int = _DEFAULT.memory_mb
    max_processes: int = _DEFAULT.max_processes
    max_output_bytes: int = _DEFAULT.max_output_bytes
    file_mb: int = _DEFAULT.file_mb
    tmpfs_mb: int = _DEFAULT.tmpfs_mb
    max_open_files: int = _DEFAULT.max_open_files

    @classmethod
    def of(cls, config: CodeSandboxConfig) -> Limits:
        """The limits part of a ``verify.code`` section."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})

    @property
    def slot_memory_bytes(self) -> int:
        """The slot's memory ceiling (its cgroup): one program, its /tmp, the harness."""
        return (self.memory_mb + self.tmpfs_mb + SLOT_OVERHEAD_MB) << 20

    @property
    def rlimit_memory_bytes(self) -> int:
        """The slot's memory bound without a cgroup: every process at its cap, and /tmp.

        True because SysV IPC and ``memfd_create`` are denied (their memory is in
        no process's address space) and the slot's uid may run at most
        ``max_processes`` processes.
        """
        return (self.max_processes * self.memory_mb + self.tmpfs_mb) << 20


@dataclass
class TestRun:
    """What happened in one test, as observed by the runner (not a verdict)."""

    __test__ = False  # tells pytest this is no test class
    index: int
    timeout: bool
    exit_code: int | None
    signal: int | None
    cpu_s: float
    wall_s: float
    stdout: bytes
    stderr: bytes
    value: bytes
    helper: dict[str, Any] | None = None


@dataclass
class RunOutcome:
    """Every test the runner reported, and why the run ended early if it did."""

    tests: list[TestRun] = field(default_factory=list)
    total_timeout: bool = False
    sandbox_error: str | None = None
    probe: dict[str, Any] | None = None
