"""Launching one sandbox run: the command line, the job's pipes, the records back.

The command is ``prlimit`` (the hard rlimits) -> ``setpriv`` (the slot's uid, no
capabilities, no new privileges) -> ``bwrap`` (namespaces, mounts, the seccomp
filter) -> the interpreter running :mod:`raydistill.sandbox.runner`. A slot's
cgroup is joined from this, the trusted, side: the sandbox's first process is
written into the cgroup right after it starts, and before any job is sent the
runner says it is ready and every process of the sandbox is checked (and if need
be moved) to be in it; no program runs before that (see :func:`launch`).
"""

from __future__ import annotations

import binascii
import functools
import importlib.util
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from raydistill.sandbox.cgroups import SlotCgroup
from raydistill.sandbox.resources import Limits, RunOutcome, SandboxUnavailable, TestRun
from raydistill.sandbox.seccomp import seccomp_filter
from raydistill.sandbox.slots import stray_processes

logger = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("runner.py")
EXCHANGE = Path(__file__).with_name("exchange.py")
INSIDE_UID = 1000


def stop(proc: subprocess.Popen[bytes], uid: int | None) -> int:
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
    return cmd + ["--", exe, "-I", "-S", "-B", "-c", _runner_code(exe)]


def _outside_usr(path: str) -> bool:
    return path != "/usr" and not path.startswith("/usr/")


MAX_CODE_ARG = 128_000  # an argv string may hold 128 KiB (MAX_ARG_STRLEN)


@functools.lru_cache(maxsize=4)
def _runner_code(exe: str) -> str:
    """The ``-c`` text: :mod:`.exchange` loaded as ``_raydistill_exchange``, then the runner.

    Both as bytecode where ``exe`` reads ours: compiling the runner's source took
    ~3.5 ms of CPU in every sandbox (a tenth of its start-up); bytecode compiled
    once here is the same trusted code. Used only when ``exe`` has this
    interpreter's bytecode magic number, else the sources.
    """
    sources = [(path, path.read_text()) for path in (EXCHANGE, RUNNER)]
    if _bytecode_magic(exe) == importlib.util.MAGIC_NUMBER.hex():
        loaded = "import marshal,binascii,sys\n" + "\n".join(
            "code{} = marshal.loads(binascii.a2b_base64('{}'))".format(i, binascii.b2a_base64(
                marshal.dumps(compile(text, str(path), "exec")), newline=False).decode())
            for i, (path, text) in enumerate(sources))
    else:
        loaded = "import sys\n" + "\n".join(f"code{i} = compile({text!r}, {str(path)!r}, 'exec')"
                                             for i, (path, text) in enumerate(sources))
    code = (f"{loaded}\nexchange = type(sys)('_raydistill_exchange')\n"
            "sys.modules[exchange.__name__] = exchange\n"
            "exec(code0, exchange.__dict__)\nexec(code1, {'__name__': '__main__'})\n")
    if len(code) > MAX_CODE_ARG:
        raise SandboxUnavailable(f"the runner's code is {len(code)} bytes, over {MAX_CODE_ARG}")
    return code


def _bytecode_magic(exe: str) -> str | None:
    try:
        found = subprocess.run(
            [exe, "-I", "-S", "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
            capture_output=True, text=True, timeout=30, env={}, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip()


def _pipe_with(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # < 1 KiB: fits the pipe buffer
    os.close(write_end)
    return read_end


def _spawn(limits: Limits, uid: int | None, seccomp: bool, private_fd: int | None
           ) -> subprocess.Popen[bytes]:
    program = seccomp_filter() if seccomp else None
    seccomp_fd = None if program is None else _pipe_with(program)
    fds = [] if seccomp_fd is None else [seccomp_fd]
    cpu_total = int(limits.total_wall_s + limits.cpu_s) + 2
    command = _command(limits, uid, seccomp_fd, cpu_total)
    try:
        return subprocess.Popen(
            command, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={},
            pass_fds=fds + ([] if private_fd is None else [private_fd]), bufsize=0,
            start_new_session=True, cwd="/")
    finally:
        for fd in fds:
            os.close(fd)


class Records:
    """Splits the runner's stream into test records (a JSON line, then raw bytes).

    The first line is the runner's ``{"ready": true}``: it is up and waits for the job.
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.header: dict[str, Any] | None = None
        self.ready = False
        self.done = False
        self.probe: dict[str, Any] | None = None
        self.error: str | None = None  # the runner's own failure (a clean-up that failed)

    def feed(self, chunk: bytes) -> Iterator[TestRun]:
        """The test records completed by ``chunk``."""
        self.buf += chunk
        while not self.done:
            if self.header is None:
                newline = self.buf.find(b"\n")
                if newline < 0:
                    return
                header = json.loads(bytes(self.buf[:newline]))
                del self.buf[: newline + 1]
                if not self.ready:  # the runner's first line, before it reads the job
                    if header != {"ready": True}:
                        self.done, self.error = True, f"runner did not say ready: {header}"[:200]
                        return
                    self.ready = True
                    continue
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
          limits: Limits, outcome: RunOutcome, records: Records,
          on_record: Callable[[TestRun], bool], on_ready: Callable[[], None]) -> bytes:
    """Feed the job, read records with a byte budget until done or the deadline; stderr.

    Nothing is written before the runner says it is ready and ``on_ready`` returned
    (it puts the sandbox in its cgroup; an OSError from it ends the run as a sandbox
    error). ``private`` (assert tests) is the write end of the pipe that only the
    checker processes read: the runner, and so every candidate process forked from
    it, gets the number of tests, never their text.
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
                    was_ready = records.ready
                    runs = list(records.feed(chunk))
                    if records.ready and not was_ready:
                        try:
                            on_ready()
                        except OSError as exc:
                            outcome.sandbox_error = f"slot cgroup: {exc}"
                            break
                        for fd in pending:
                            sel.register(fd, selectors.EVENT_WRITE)
                    for run in runs:
                        outcome.tests.append(run)
                        try:
                            os.write(stdin, b"c" if on_record(run) else b"s")
                        except OSError:
                            pass  # the runner is gone; its exit is reported by the caller
            if received > budget:
                outcome.sandbox_error = f"runner sent over {budget} bytes"
            if outcome.sandbox_error is not None:
                break
    if private is not None and pending.get(private):
        os.close(private)
    return bytes(errors)


def launch(job: Mapping[str, Any], limits: Limits, uid: int | None, seccomp: bool,
           on_record: Callable[[TestRun], bool], cgroup: SlotCgroup | None = None
           ) -> RunOutcome:
    """Run ``job`` once; ``on_record`` sees each test and returns False to stop.

    With a ``cgroup``, bwrap's process is written into it as soon as it exists
    (while it and the interpreter start, so the kernel's wait for the move costs
    little); bwrap forks the runner, which may happen before the move, so once the
    runner is up and idle every process of the sandbox is checked, and moved if
    need be, before the job (and so any program) is sent.
    """
    outcome, records = RunOutcome(), Records()
    private_read = private_write = None
    if job.get("mode") == "assert":
        private_read, private_write = os.pipe()
        # the runner moves it to PRIVATE_FD_INSIDE; the number must not be a stdio one
        os.set_inheritable(private_read, True)
    try:
        proc = _spawn(limits, uid, seccomp, private_read)
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
        on_ready: Callable[[], None] = lambda: None  # noqa: E731
        if cgroup is not None:
            try:
                cgroup.add(proc.pid)
            except OSError:
                pass  # bwrap may have died already; adopt() below has the last word
            on_ready = functools.partial(cgroup.adopt, proc.pid)
        errors = _pump(proc, job, private_write, limits, outcome, records, on_record, on_ready)
        finished = records.done and outcome.sandbox_error is None
    finally:  # whatever happened, nothing of the sandbox outlives this call
        code = proc.wait() if finished else stop(proc, uid)
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
