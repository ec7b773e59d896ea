"""Run untrusted Python in bubblewrap: one sandbox per solution, one fork per test.

Threat model. The program is model output; assume it tries to escape, to exhaust
the host, to read secrets or to fake a pass. Each property below has an attacking
test in ``tests/test_sandbox.py`` or ``tests/test_sandbox_attacks.py`` (the latter
in every test style: stdin/stdout, call-based, HumanEval ``check``, MBPP asserts).

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
  clock calls, SysV IPC (``shm*``, ``msg*``, ``sem*``), ``prlimit64`` on any
  process but the caller, namespace flags in ``clone`` (``clone3`` answers ENOSYS
  so libc falls back to ``clone``), and kills any other syscall ABI (x32, i386).
- The trusted runner (pid 1 inside): it ignores signals from inside its
  namespace, and its rlimits cannot be changed by the program (``prlimit64`` on
  another pid is denied); clean-up between tests kills every other process and
  empties ``/tmp`` holding one descriptor at a time (a tree deeper than the
  open-file limit goes too); if it cannot, the run ends as a sandbox error
  instead of letting the next test see what the last one left.
- Resources: hard rlimits (CPU, address space, processes, file size, open files,
  no core dumps) set by ``prlimit`` before anything runs; per-test CPU and wall
  limits in the runner; a cgroup per slot (:mod:`raydistill.sandbox.cgroups`,
  required by default) caps the slot at one core of CPU, at
  ``memory_mb + tmpfs_mb + 128 MiB`` of memory (kernel memory and tmpfs pages
  counted, read back by the host as ``Sandbox.last_peak_memory_bytes``) and at
  ``max_processes + 4`` tasks; a wall deadline for the whole run after which the
  parent SIGKILLs the process group, whose death takes down the pid namespace;
  output read with a byte budget; stray processes of the slot's uid killed afterwards.
- Verdict forgery and looking the answer up: results travel over the runner's
  own pipe, which user code cannot reach (see :mod:`raydistill.sandbox.runner`).
  Expected outputs and return values never enter the sandbox; values come back
  as plain data compared in the parent. Assert-based tests (whose text holds the
  expected values) reach only the checker processes, through a pipe of their
  own: the runner, and so every candidate process forked from it, never holds
  them, so no frame walk, ``gc`` scan or raw memory read finds them. An
  exception the program raises fails the test whatever the test code catches.

Not protected against:

- Kernel bugs reachable through the allowed syscalls (namespaces and seccomp
  shrink the surface, they do not remove it: use VMs or gVisor for tenants
  that target kernels).
- Without a cgroup (``allow_weak_sandbox`` on a host that cannot make one):
  memory is bounded only per process (``max_processes * memory_mb`` plus tmpfs
  and kernel buffers) and CPU is not shared fairly between slots.
- Reading world-readable files under ``/usr`` and the interpreter prefix, and
  timing side channels. A call-based program can read the arguments of the
  other tests of its problem (never their expected values).
- Assert tests run trusted test code inside the sandbox, in a checker process
  separate from the program's; only plain data crosses, but a test whose logic
  itself is weak stays weak, and a test that expects the program to raise
  counts the exception as the program's failure.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import logging
import marshal
import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raydistill.config import CodeSandboxConfig
from raydistill.sandbox import cgroups
from raydistill.sandbox.cgroups import SlotCgroup
from raydistill.sandbox.seccomp import EAFNOSUPPORT, seccomp_filter

logger = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("runner.py")
INSIDE_UID = 1000
PROPERTIES = ("namespaces", "seccomp", "distinct_uid", "cgroup")
# Host uids for sandboxes: far above any account's, one per concurrent slot; 64
# slots exceed the verifier processes a node runs (one per core is plenty).
UID_BASE, UID_SLOTS = 1_950_000_000, 64
HARNESS_PROCESSES = 4  # bwrap, the runner, a checker: not the program's to use


_DEFAULT = CodeSandboxConfig()  # the one home of the defaults and their reasons
SLOT_OVERHEAD_MB = 128  # the runner, a checker, bwrap and page tables, beside the program


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox run (one solution, all its tests).

    Built from ``verify.code`` (:class:`raydistill.config.CodeSandboxConfig`, where
    each default is explained); the defaults here are that dataclass's.
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


class SandboxUnavailable(RuntimeError):
    """The host cannot give the isolation that was asked for."""


# ---- slots: one host uid per concurrent sandbox -----------------------------


class _UidSlots:
    """Host uids handed out under ``flock``, so threads and processes never share one."""

    def __init__(self, base: int, count: int) -> None:
        self.uids = range(base, base + count)
        self.lock_dir = Path("/run/raydistill-sandbox")
        self.lock_dir.mkdir(mode=0o700, exist_ok=True)

    @contextmanager
    def acquire(self, timeout_s: float = 60.0) -> Iterator[int]:
        deadline = time.monotonic() + timeout_s
        while True:
            for uid in self.uids:
                fd = os.open(self.lock_dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield uid
                finally:
                    os.close(fd)
                return
            if time.monotonic() > deadline:
                raise SandboxUnavailable(f"all {len(self.uids)} sandbox uids busy")
            time.sleep(0.01)


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


def _stop(proc: subprocess.Popen[bytes], uid: int | None) -> int:
    """Kill a sandbox from the inside out and return bwrap's exit code.

    Processes of the slot's uid die first, bwrap (``proc``) last: it then reaps its
    child itself, instead of leaving a zombie of the slot's uid to the host's init.
    """
    for _ in range(400 if uid is not None else 0):
        pids = [pid for pid in stray_processes({uid or 0}) if pid != proc.pid]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    try:
        return proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


# ---- launching --------------------------------------------------------------


def _world_readable(path: str) -> bool:
    parts = Path(path).parts
    for i in range(1, len(parts) + 1):
        mode = os.stat(os.path.join(*parts[:i])).st_mode
        if not mode & 0o001:  # others may not traverse (e.g. /root is 0700)
            return False
    return True


@functools.lru_cache(maxsize=1)
def _interpreter() -> tuple[str, str]:
    """The Python run inside and the prefix to mount: ours if the slot uid can read it."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    if not _world_readable(exe) or not _world_readable(prefix):
        system = shutil.which("python3", path="/usr/bin:/usr/local/bin")
        if system is None:
            raise SandboxUnavailable(f"{exe} is unreadable for the sandbox uid; no python3 in /usr")
        exe, prefix = os.path.realpath(system), "/usr"
    return exe, prefix


def _command(limits: Limits, uid: int | None, seccomp_fd: int | None, cpu_total_s: int
             ) -> list[str]:
    exe, prefix = _interpreter()
    mib = 1 << 20
    cmd = ["prlimit", f"--cpu={cpu_total_s}", f"--as={limits.memory_mb * mib}",
           f"--nproc={limits.max_processes}", f"--fsize={limits.file_mb * mib}",
           f"--nofile={limits.max_open_files}", "--core=0", "--"]
    if uid is not None:
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    cmd += ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--as-pid-1", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID),
            "--cap-drop", "ALL", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = f"/{link}"
        if os.path.islink(target):
            cmd += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            cmd += ["--ro-bind", target, target]
    if _outside_usr(prefix):
        cmd += ["--ro-bind", prefix, prefix]
    cmd += ["--dev", "/dev", "--size", str(limits.tmpfs_mb * mib), "--tmpfs", "/tmp",
            "--remount-ro", "/", "--remount-ro", "/dev", "--chdir", "/tmp"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    return cmd + ["--", exe, "-I", "-S", "-B", "-c", _runner_source()]


def _outside_usr(path: str) -> bool:
    return path != "/usr" and not path.startswith("/usr/")


@functools.lru_cache(maxsize=1)
def _runner_source() -> str:
    return RUNNER.read_text()


def _pipe_with(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # < 1 KiB: fits the pipe buffer
    os.close(write_end)
    return read_end


def _spawn(limits: Limits, uid: int | None, seccomp: bool, private_fd: int | None,
           cgroup: SlotCgroup | None) -> subprocess.Popen[bytes]:
    program = seccomp_filter() if seccomp else None
    seccomp_fd = None if program is None else _pipe_with(program)
    fds = [] if seccomp_fd is None else [seccomp_fd]
    cpu_total = int(limits.total_wall_s + limits.cpu_s) + 2
    command = _command(limits, uid, seccomp_fd, cpu_total)
    if cgroup is not None:
        command = cgroup.enter_command() + command
    try:
        return subprocess.Popen(
            command, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={},
            pass_fds=fds + ([] if private_fd is None else [private_fd]), bufsize=0,
            start_new_session=True, cwd="/")
    finally:
        for fd in fds:
            os.close(fd)


class _Records:
    """Splits the runner's stream into test records (a JSON line, then raw bytes)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.header: dict[str, Any] | None = None
        self.done = False
        self.probe: dict[str, Any] | None = None
        self.error: str | None = None  # the runner's own failure (a clean-up that failed)

    def feed(self, chunk: bytes) -> Iterator[TestRun]:
        self.buf += chunk
        while not self.done:
            if self.header is None:
                newline = self.buf.find(b"\n")
                if newline < 0:
                    return
                header = json.loads(bytes(self.buf[:newline]))
                del self.buf[: newline + 1]
                self.done = bool(header.get("done")) or "probe" in header or "error" in header
                self.probe = header.get("probe")
                self.error = header.get("error")
                self.header = None if self.done else header
                continue
            out_n, err_n, value_n = self.header["lens"]
            if len(self.buf) < out_n + err_n + value_n:
                return
            h, view = self.header, bytes(self.buf[: out_n + err_n + value_n])
            del self.buf[: out_n + err_n + value_n]
            self.header = None
            yield TestRun(h["i"], h["timeout"], h["code"], h["signal"], h["cpu"], h["wall"],
                          view[:out_n], view[out_n : out_n + err_n], view[out_n + err_n :],
                          h["helper"])


def _framed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _private_stream(job: Mapping[str, Any]) -> bytes:
    """Assert tests, one framed JSON message each, for the checkers' pipe only."""
    return b"".join(
        _framed(json.dumps({"setup": job.get("setup") or "", "test": test,
                            "entry_point": job.get("entry_point")}).encode())
        for test in job["tests"])


def _pump(proc: subprocess.Popen[bytes], job: Mapping[str, Any], private: int | None,
          limits: Limits, outcome: RunOutcome, records: _Records,
          on_record: Callable[[TestRun], bool]) -> bytes:
    """Feed the job, read records with a byte budget until done or the deadline; stderr.

    ``private`` (assert tests) is the write end of the pipe that only the checker
    processes read: the runner, and so every candidate process forked from it,
    gets the number of tests, never their text.
    """
    assert proc.stdin and proc.stdout and proc.stderr
    stdin, stdout, stderr = proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno()
    tests = job.get("tests", ())
    budget = len(tests) * (2 * limits.max_output_bytes + (64 << 10)) + (1 << 20)
    public = {k: v for k, v in job.items() if k not in ("setup", "entry_point")}
    public["count"] = len(tests)
    if private is not None:
        public.pop("tests")
        public["private_fd"] = job["private_fd"]  # its number in the host is its number inside
    data = marshal.dumps(public, 4)  # version 4: read by every Python 3 since 3.4
    pending = {stdin: _framed(data)}
    if private is not None:
        pending[private] = _private_stream(job)
    deadline = time.monotonic() + limits.total_wall_s + 1.0  # +1 s: sandbox start-up
    errors, received = bytearray(), 0
    with selectors.DefaultSelector() as sel:
        for fd in pending:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_WRITE)
        sel.register(stdout, selectors.EVENT_READ)
        sel.register(stderr, selectors.EVENT_READ)
        while not records.done and stdout in sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.total_timeout = True
                break
            for key, _ in sel.select(remaining):
                if key.fd in pending:
                    try:
                        rest = pending[key.fd]
                        pending[key.fd] = rest[os.write(key.fd, rest[: 1 << 16]) :]
                    except BrokenPipeError:
                        pending[key.fd] = b""
                    if not pending[key.fd]:
                        sel.unregister(key.fd)
                        if key.fd == private:
                            os.close(private)  # the checkers then read EOF, not a hang
                    continue
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                elif key.fd == stderr:
                    errors += chunk[: max(0, 65536 - len(errors))]
                else:
                    received += len(chunk)
                    for run in records.feed(chunk):
                        outcome.tests.append(run)
                        try:
                            os.write(stdin, b"c" if on_record(run) else b"s")
                        except OSError:
                            pass  # the runner is gone; its exit is reported by the caller
            if received > budget:
                outcome.sandbox_error = f"runner sent over {budget} bytes"
                break
    if private is not None and pending.get(private):
        os.close(private)
    return bytes(errors)


def _launch(job: Mapping[str, Any], limits: Limits, uid: int | None, seccomp: bool,
            on_record: Callable[[TestRun], bool], cgroup: SlotCgroup | None = None
            ) -> RunOutcome:
    """Run ``job`` once; ``on_record`` sees each test and returns False to stop."""
    outcome, records = RunOutcome(), _Records()
    private_read = private_write = None
    if job.get("mode") == "assert":
        private_read, private_write = os.pipe()
        # the runner moves it to PRIVATE_FD_INSIDE; the number must not be a stdio one
        os.set_inheritable(private_read, True)
    try:
        proc = _spawn(limits, uid, seccomp, private_read, cgroup)
    except BaseException:
        for fd in (private_read, private_write):
            if fd is not None:
                os.close(fd)
        raise
    if private_read is not None:
        os.close(private_read)
        job = {**job, "private_fd": private_read}
    finished = False
    try:
        errors = _pump(proc, job, private_write, limits, outcome, records, on_record)
        finished = records.done and outcome.sandbox_error is None
    finally:  # whatever happened, nothing of the sandbox outlives this call
        code = proc.wait() if finished else _stop(proc, uid)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if not finished and uid is not None and stray_processes((uid,)):
        logger.error("processes of sandbox uid %d survived SIGKILL", uid)
        outcome.sandbox_error = f"processes of sandbox uid {uid} survived SIGKILL"
    outcome.probe = records.probe
    if records.error is not None:
        logger.error("sandbox runner failed: %s", records.error)
        outcome.sandbox_error = f"runner: {records.error}"
    elif not records.done and not outcome.total_timeout and outcome.sandbox_error is None:
        message = errors.decode(errors="replace").strip()[-500:] or "no message"
        outcome.sandbox_error = f"sandbox exited {code} before finishing: {message}"
    return outcome


# ---- probing and the public entry point --------------------------------------


@dataclass(frozen=True)
class Isolation:
    """What isolation this host gives (see :func:`probe`)."""

    namespaces: bool
    seccomp: bool
    distinct_uid: bool
    cgroup: bool = False  # a cgroup per slot (CPU share, memory, processes)
    detail: str = ""

    def missing(self, required: tuple[str, ...] = PROPERTIES) -> list[str]:
        """The required properties this host lacks."""
        return [name for name in required if not getattr(self, name)]


def _probe_once(uid: int | None, seccomp: bool) -> tuple[dict[str, Any] | None, str]:
    limits = Limits(total_wall_s=10.0)
    if uid is None:
        outcome = _launch({"mode": "probe"}, limits, None, seccomp, lambda run: True)
    else:
        with _UidSlots(uid, UID_SLOTS).acquire() as slot:
            outcome = _launch({"mode": "probe"}, limits, slot, seccomp, lambda run: True)
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
        no_cgroup = cgroups.available()
        if no_cgroup:
            notes.append(f"no slot cgroups: {no_cgroup}")
        return Isolation(pid_ok, seccomp_ok, distinct, distinct and no_cgroup is None,
                         "; ".join(notes))
    return Isolation(False, False, False, False, "; ".join(notes))


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
        if missing:
            logger.warning("RUNNING UNTRUSTED CODE WITH A WEAK SANDBOX: missing %s (%s)",
                           ", ".join(missing), isolation.detail)
        self.isolation = isolation
        self._slots = _UidSlots(UID_BASE, UID_SLOTS) if isolation.distinct_uid else None
        self.last_peak_memory_bytes: int | None = None  # of the last run, from its cgroup

    def run(self, job: Mapping[str, Any],
            on_record: Callable[[TestRun], bool] = lambda run: True) -> RunOutcome:
        """Run every test of ``job`` in one fresh sandbox."""
        if self._slots is None:
            return _launch(job, self.limits, None, self.isolation.seccomp, on_record)
        with self._slots.acquire() as uid:
            if not self.isolation.cgroup:
                return _launch(job, self.limits, uid, self.isolation.seccomp, on_record)
            try:
                cgroup = cgroups.for_slot(uid, self.limits.slot_memory_bytes,
                                          self.limits.max_processes + HARNESS_PROCESSES)
            except OSError as exc:
                logger.error("cannot make the cgroup of sandbox uid %d: %s", uid, exc)
                return RunOutcome(sandbox_error=f"slot cgroup: {exc}")
            outcome = _launch(job, self.limits, uid, self.isolation.seccomp, on_record, cgroup)
            self.last_peak_memory_bytes = cgroup.peak_memory_bytes()
            return outcome
