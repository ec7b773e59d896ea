"""The trusted harness that runs inside the sandbox, as pid 1 of its pid namespace.

:mod:`raydistill.sandbox` starts it with ``python -I -S -B -c SOURCE``: it is
standalone (standard library only) because the package is not visible inside.
It says ``{"ready": true}``, reads one marshal'd job (length-prefixed) from
stdin (sent once the host has put it in the slot's cgroup), forks one child per
test, and streams one record per test to stdout (a JSON header line, then the
raw captured bytes); after each record it waits for one control byte from the
parent (``c`` go on, ``s`` stop).

Why user code cannot forge a record: the runner is pid 1, which ignores every
signal sent from inside its namespace; each test child moves its own files to
fds 0-3 and closes every other descriptor (the runner's pipes included) before
any user code runs; ``/proc`` is not mounted and the seccomp filter denies
ptrace, ``process_vm_*`` and ``pidfd_getfd``, so nothing can reach the runner's
descriptors or memory. Captured output lives in nameless ``O_TMPFILE`` files on
the size-capped ``/tmp``.

Modes: ``stdio`` runs the program as a script (``__name__ == "__main__"``) with
each input on stdin; ``call`` and ``assert`` load it as a module, as the APPS,
TACO, HumanEval and MBPP harnesses do (its ``__main__`` block does not run), after
LeetCode's prelude when the job asks (:data:`exchange.PRELUDE`). ``call`` calls
``fn_name`` (or ``Solution().fn_name``) with each argument list and writes the
return value as plain data (:func:`exchange.encode`) to fd 3. ``assert`` splits
each test in two processes: the candidate process runs the program and serves
requests over a socket, the checker process runs only the trusted test code
(setup, then the asserts), with handles (:class:`exchange.Remote`) in place of
the program's functions and classes, and writes the verdict. Plain values cross
as plain data and other objects stay where they are, so no object of the program
(an ``int`` subclass whose ``__eq__`` always returns True) reaches a comparison
with a test's value. The assert tests' text comes on a pipe that only the
checkers read (the job gives its fd, and the count): this process never holds
it, so neither does a candidate forked from it. An exception raised by the
program reaches the checker as :class:`_ProgramRaised` and fails the test.
"""

from __future__ import annotations

# Only modules that load fast: this file starts once per solution, and `json`,
# `signal` (enum), `socket` and `traceback` would double its start-up time, so
# they are imported where needed and the job comes as `marshal` data.
import _signal as signal  # the C module: no enum import
import builtins
import marshal
import math
import os
import resource
import select
import stat
import struct
import sys
import time

TYPE_CHECKING = False  # `typing` itself would add 8 ms to every sandbox's start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TAIL_BYTES = 4096  # of stderr, enough for a traceback's last frames
TMP_MODE = 0o1777  # /tmp's mode; main() reads the real one
PRIVATE_FD = 3  # the runner's copy of the pipe that carries assert tests to checkers
# How long a candidate may take to end once its checker is done: it reads EOF and
# ends in milliseconds, or is dying of its CPU limit; one still running is killed.
CANDIDATE_GRACE_S = 0.5
PRELUDE: dict[str, Any] = {}  # LeetCode's names, loaded by main() for jobs that want them

if TYPE_CHECKING or "_raydistill_exchange" not in sys.modules:  # on the host: the package's
    from raydistill.sandbox import exchange
else:  # inside the sandbox, where the launcher loaded it under this name
    exchange = sys.modules["_raydistill_exchange"]


def _send(fd: int, data: bytes) -> None:
    _write_all(fd, struct.pack(">I", len(data)) + data)


def _recv(fd: int, limit: int) -> bytes | None:
    head = _read_exact(fd, 4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    if size > limit:
        raise _OutputLimit(f"message of {size} bytes")
    return _read_exact(fd, size)


def _read_exact(fd: int, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _OutputLimit(BaseException):
    """A reply over the output limit: no test code catches it (``except Exception``)."""


class _CandidateLost(BaseException):
    """The candidate process ended: no test code catches it (``except Exception``)."""


def _scratch(data: bytes = b"") -> int:
    fd = os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600)
    _write_all(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _captured(fd: int, limit: int, tail: bool = False) -> bytes:
    size = os.fstat(fd).st_size
    start = max(0, size - limit) if tail else 0
    return os.pread(fd, min(size, limit), start)


def _enter_child(fds: list[int], cpu_s: float) -> None:
    high = [os.dup(fd) for fd in fds]  # no source may be clobbered by an earlier dup2
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    # every other descriptor, however high (the host's fd numbers come through bwrap)
    os.closerange(len(fds), 0x7FFFFFFF)
    seconds = max(1, math.ceil(cpu_s))
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        seconds = min(seconds, max(1, hard - 1))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # contest answers print ints far past 4300 digits


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return int.__index__(code) & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_program(source: str, namespace: dict[str, Any]) -> int:
    try:
        exec(compile(source, "<solution>", "exec"), namespace)  # noqa: S102 - it is the job
        return 0
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - reported as the program's own failure
        _print_exc()
        return 1


def _finish(code: int) -> int:
    """What the interpreter does at exit: join threads, atexit, flush."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        atexit = sys.modules.get("atexit")
        if atexit is not None:
            atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:  # noqa: BLE001
        _print_exc()
        return 1
    return code


def _print_exc() -> None:
    import traceback

    traceback.print_exc()


def _namespace(job: dict[str, Any], program: bool = True) -> dict[str, Any]:
    """Globals for a program: ``__main__`` for a script (stdio), else an imported module.

    APPS, TACO, HumanEval and MBPP harnesses import or ``exec`` the program, so its
    ``if __name__ == "__main__":`` block (often a stdin reader) never runs there.
    """
    main = job["mode"] == "stdio" or not program
    module = type(sys)("__main__" if main else "solution")
    sys.modules[module.__name__] = module  # in this child only: dataclasses, pickle look it up
    names: dict[str, Any] = module.__dict__
    if job.get("prelude"):
        names.update(PRELUDE)
    names["__builtins__"] = builtins
    return names


def _spawn(body: Callable[[], int]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = body()
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, wall_s: float) -> dict[str, Any]:
    pidfd = os.pidfd_open(pid)
    start = time.monotonic()
    ready, _, _ = select.select([pidfd], [], [], wall_s)
    os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    return {
        "timeout": not ready,
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu": usage.ru_utime + usage.ru_stime,
        "wall": time.monotonic() - start,
    }


def _kill_all() -> None:
    """Kill every process in the namespace but pid 1, reap them, empty /tmp.

    Each round kills again before it waits, so a process forked while the last
    kill went round dies in the next one. Emptying /tmp holds no descriptor per
    directory level (it walks with ``chdir``), so a tree deeper than the open-file
    limit goes too; whatever stops it raises :class:`CleanupFailed`.
    """
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    try:
        if stat.S_IMODE(os.stat("/tmp").st_mode) != TMP_MODE:
            os.chmod("/tmp", TMP_MODE)  # the program locked the runner out
        _empty("/tmp")
        left = os.listdir("/tmp")
    except OSError as exc:
        raise CleanupFailed(f"emptying /tmp: {exc}") from None
    finally:
        os.chdir("/tmp")
    if left:
        raise CleanupFailed(f"/tmp still holds {left[:3]}")


class CleanupFailed(Exception):
    """What one test left behind could not be removed: later tests would see it."""


def _empty(top: str) -> None:
    """Remove everything under ``top``, depth-first, with one descriptor at a time."""
    os.chdir(top)
    names: list[str] = []  # the path from top to the working directory
    while True:
        subdir = None
        for name in os.listdir("."):
            if stat.S_ISDIR(os.lstat(name).st_mode):
                subdir = name
                break
            os.unlink(name)
        if subdir is not None:
            os.chmod(subdir, 0o700)
            os.chdir(subdir)
            names.append(subdir)
        elif names:
            os.chdir("..")
            os.rmdir(names.pop())
        else:
            return


def _defined(namespace: dict[str, Any]) -> dict[str, Any]:
    """The program's own names: not dunders, modules or untouched prelude names."""
    return {k: v for k, v in namespace.items() if not k.startswith("__")
            and type(v) is not _MODULE and PRELUDE.get(k, _MISSING) is not v}


_MISSING = object()
_MODULE = type(sys)


def _resolve(namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    own = _defined(namespace)
    if callable(own.get(name)):
        return own[name]
    if "Solution" in own:
        return getattr(own["Solution"](), name)
    raise NameError(f"the program defines no function {name!r}")


def _call_test(job: dict[str, Any], args: list[Any], fds: list[int]) -> int:
    _enter_child(fds, job["cpu_s"])
    namespace = _namespace(job)
    code = _run_program(job["program"], namespace)
    if code == 0:
        try:
            value = _resolve(namespace, job["fn_name"])(*args)
            _write_all(3, exchange.dumps(exchange.encode(value)))
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:  # noqa: BLE001
            _print_exc()
            code = 1
    return _finish(code)


class _Handles:
    """The candidate's objects the checker holds handles to, by handle number."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.objects: list[Any] = []
        self.numbers: dict[int, int] = {}
        self.namespace = namespace

    def describe(self, obj: Any) -> tuple[str, int | None, bool]:
        number = self.numbers.get(id(obj))
        if number is None:
            number = self.numbers[id(obj)] = len(self.objects)
            self.objects.append(obj)
        kind = type(obj)
        data = (not callable(obj) and not isinstance(obj, type)
                and isinstance(getattr(obj, "__dict__", None), dict))
        return type.__dict__["__name__"].__get__(kind), number, data

    def make(self, name: str, handle: Any, has_attrs: bool) -> tuple[Any, bool]:
        if handle is not None:
            return self.objects[int.__index__(handle)], False
        cls = self.namespace.get(name)
        if not isinstance(cls, type):  # the test built it with a class the program lacks
            cls = type(name, (), {})
        return cls.__new__(cls), True  # type: ignore[call-overload]


def _serve_candidate(job: dict[str, Any], fds: list[int]) -> int:
    _enter_child(fds, job["cpu_s"])
    namespace = _namespace(job)
    code = _run_program(job["program"], namespace)
    if code != 0:
        return _finish(code)
    handles = _Handles(namespace)
    names = {k: v for k, v in _defined(namespace).items() if callable(v)}
    _send(3, exchange.write_message(names, handles.describe))
    while True:
        request = _recv(3, 1 << 30)
        if request is None:
            return _finish(0)
        reply: list[Any]
        op = None
        try:
            op, target, args, kwargs = exchange.read_message(request, handles.make)
            reply = ["value", exchange.apply(op, target, tuple(args), kwargs)]
        except BaseException as exc:  # noqa: BLE001 - the checker fails the test for it
            # an iterator's end is the one exception that is an answer, to `next` only
            if op == "next" and type(exc) is StopIteration:
                reply = ["stop"]
            elif type(exc) is exchange.Unsupported:
                reply = ["unsupported", op, _describe(exc)]
            else:
                reply = ["raised", _describe(type(exc).__name__), _describe(exc)]
        try:
            message = exchange.write_message(reply, handles.describe)
        except BaseException as exc:  # noqa: BLE001 - a value that cannot cross
            message = exchange.write_message(["raised", _describe(type(exc).__name__),
                                              _describe(exc)], handles.describe)
        _send(3, message)


def _describe(exc: object) -> str:
    try:
        return str.__str__(str(exc))[:300]
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return "<unprintable>"


class _ProgramRaised(BaseException):
    """The program raised: the test fails, whatever the test code catches.

    A BaseException, so that ``except Exception`` in test code does not swallow it
    and no exception type the program picks (``StopIteration`` ending an ``all()``
    early) steers the trusted code; the checker also records it, so a bare
    ``except:`` in a test cannot turn it into a pass.
    """


class _Link:
    """The checker's end of the candidate's socket: requests out, decoded replies in."""

    def __init__(self, namespace: dict[str, Any], trusted: set[str], limit: int) -> None:
        self.namespace, self.trusted, self.limit = namespace, trusted, limit
        self.raised: list[str] = []
        self.lost = False
        self.overflow = ""
        self.remotes: dict[int, exchange.Remote] = {}

    def receive(self) -> Any:
        try:
            data = _recv(4, self.limit)
        except _OutputLimit as exc:
            self.overflow = str(exc)
            raise
        if data is None:
            self.lost = True
            raise _CandidateLost("the program died")
        try:
            return exchange.read_message(data, self.make)
        except ValueError:  # what the program wrote on its socket is not a message
            self.raised.append("a malformed reply")
            raise _ProgramRaised(self.raised[0]) from None

    def make(self, name: str, handle: Any, has_attrs: bool) -> tuple[Any, bool]:
        cls = self.namespace.get(name) if name in self.trusted else None
        if has_attrs and isinstance(cls, type):  # a class of the trusted code: by value
            return cls.__new__(cls), True  # type: ignore[call-overload]
        if type(handle) is not int:
            raise ValueError("an object without a handle")
        if handle not in self.remotes:
            self.remotes[handle] = exchange.Remote(self.ask, handle, name)
        return self.remotes[handle], False

    def describe(self, obj: Any) -> tuple[str, int | None, bool]:
        if isinstance(obj, exchange.Remote):
            return object.__getattribute__(obj, "_kind"), object.__getattribute__(
                obj, "_handle"), False
        name = type(obj).__name__
        if name in self.trusted and self.namespace.get(name) is type(obj) and isinstance(
                getattr(obj, "__dict__", None), dict):
            return name, None, True
        raise TypeError(f"cannot pass a {name} to the program")

    def ask(self, op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.raised:
            raise _ProgramRaised(self.raised[0])
        _send(4, exchange.write_message([op, target, list(args), kwargs], self.describe))
        reply = self.receive()
        kind = reply[0] if type(reply) is list and len(reply) in (1, 2, 3) else None
        if kind == "value" and len(reply) == 2:
            return reply[1]
        if kind == "stop" and op == "next":
            raise StopIteration
        if kind == "unsupported" and (op == "getattr" or op in exchange.PROTOCOLS):
            raise (AttributeError if op == "getattr" else TypeError)(str(reply[2]))
        # raised, or anything else (a forged reply): the program failed, whatever the test catches
        self.raised.append(f"{reply[1]}: {reply[2]}"[:300] if kind == "raised" and len(reply) == 3
                           else "a malformed reply")
        raise _ProgramRaised(self.raised[0])


def _check(job: dict[str, Any], fds: list[int]) -> int:
    """Run one test's trusted code; its text arrives on fd 5, never seen by the runner."""
    _enter_child(fds, job["cpu_s"])
    import json

    link = None
    try:
        test = json.loads(_recv(5, 1 << 30) or b"null")
        os.close(5)
        namespace = _namespace(job, program=False)
        exec(test["setup"] or "", namespace)  # noqa: S102 - trusted test setup
        # The program's names stand in only for names the trusted code does not
        # define itself: shadowing `abs` or a helper would forge a pass.
        entry = (test["entry_point"] or "").partition("(")[0].partition(".")[0]
        trusted = (set(dir(builtins)) | set(namespace)) - {entry}
        link = _Link(namespace, trusted, job["max_output"])
        try:
            names = link.receive()
        except _CandidateLost:
            raise _CandidateLost("the program died before defining its functions") from None
        for name, value in names.items():
            if str(name) not in trusted:
                namespace[str(name)] = value
        exec(test["test"], namespace)  # noqa: S102 - trusted test code
        verdict = "pass"
    except AssertionError as exc:
        verdict = f"assert {_describe(exc)}"
    except _CandidateLost as exc:
        verdict = f"lost {exc}"
    except _OutputLimit as exc:
        verdict = f"output {exc}"
    except _ProgramRaised:
        verdict = ""
    except BaseException as exc:  # noqa: BLE001
        verdict = f"raised {type(exc).__name__}: {_describe(exc)}"
    # caught by the test or not, the program's exception or death fails the test
    if link is not None and link.raised:
        verdict = f"raised {link.raised[0]}"
    elif link is not None and link.overflow:
        verdict = f"output {link.overflow}"
    elif link is not None and link.lost and not verdict.startswith("lost"):
        verdict = "lost the program died"
    _write_all(3, verdict.encode())
    return 0


def _run_test(job: dict[str, Any], index: int) -> tuple[dict[str, Any], list[bytes]]:
    mode, limit = job["mode"], job["max_output"] + 1
    test: Any = job["tests"][index] if mode != "assert" else None  # assert: see _check
    stdin = _scratch(test.encode("utf-8", "surrogateescape") if mode == "stdio" else b"")
    out, err, value = _scratch(), _scratch(), _scratch()
    helper = None
    if mode == "assert":
        import socket

        mine, theirs = socket.socketpair()
        candidate = _spawn(lambda: _serve_candidate(job, [stdin, out, err, mine.fileno()]))
        checker_fds = [stdin, _scratch(), _scratch(), value, theirs.fileno(), PRIVATE_FD]
        pid = _spawn(lambda: _check(job, checker_fds))
        mine.close()
        theirs.close()
        for fd in checker_fds[1:3]:
            os.close(fd)
    elif mode == "call":
        pid = _spawn(lambda: _call_test(job, test, [stdin, out, err, value]))
    else:
        pid = _spawn(lambda: _finish(_stdio_program(job, [stdin, out, err])))
    header = _wait(pid, job["wall_s"])
    if mode == "assert":
        # The checker is done. After a pass the candidate is killed at once; else it
        # may be dying (its CPU limit, a crash): wait for it, so that a time limit
        # is reported as one; one still serving has read EOF and ends at once.
        passed = os.pread(value, 4, 0) == b"pass"
        grace = 0.0 if passed else min(CANDIDATE_GRACE_S, max(0.0, job["wall_s"] - header["wall"]))
        ended = _wait(candidate, grace)
        helper = {"signal": ended["signal"], "cpu": ended["cpu"]}
    _kill_all()  # before reading: nothing may write to the captures any more
    payload = [_captured(out, limit), _captured(err, TAIL_BYTES, tail=True),
               _captured(value, limit)]
    for fd in (stdin, out, err, value):
        os.close(fd)
    header.update(i=index, lens=[len(p) for p in payload], helper=helper)
    return header, payload


def _stdio_program(job: dict[str, Any], fds: list[int]) -> int:
    _enter_child(fds, job["cpu_s"])
    return _run_program(job["program"], _namespace(job))


def _probe() -> dict[str, Any]:
    import socket

    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        inet = 0
    except OSError as exc:
        inet = exc.errno or -1
    return {"pid": os.getpid(), "uid": os.getuid(), "inet_errno": inet}


def _json(value: Any) -> str:
    """JSON for the flat records sent to the parent (no json import)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}": {_json(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_json, value)) + "]"
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return repr(value)


def main() -> None:
    """Run the job on stdin; one record per test on stdout."""
    global TMP_MODE
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)  # pid 1 with no handler: unkillable from inside
    for name in ("exit", "quit"):  # -S drops site's versions; solutions call them
        setattr(builtins, name, sys.exit)
    TMP_MODE = stat.S_IMODE(os.stat("/tmp").st_mode)
    records = sys.stdout.buffer
    records.write(b'{"ready": true}\n')  # the host now puts this process in its cgroup
    records.flush()
    (size,) = struct.unpack(">I", _read_exact(0, 4))
    job = marshal.loads(_read_exact(0, size))
    if job.get("prelude"):  # imported once here, inherited by every test's process
        PRELUDE.update(exchange.prelude())
    if job["mode"] == "probe":
        records.write(_json({"probe": _probe()}).encode() + b"\n")
        return
    if job["mode"] == "assert":  # the test texts: read by each checker, not by this process
        os.dup2(job["private_fd"], PRIVATE_FD)
        if job["private_fd"] != PRIVATE_FD:
            os.close(job["private_fd"])
    for index in range(job["count"]):
        try:
            header, payload = _run_test(job, index)
        except CleanupFailed as exc:
            import json

            records.write(json.dumps({"error": str(exc)}).encode() + b"\n")
            records.flush()
            return
        records.write(_json(header).encode() + b"\n" + b"".join(payload))
        records.flush()
        if _read_exact(0, 1) != b"c":
            break
    records.write(b'{"done": true}\n')
    records.flush()


if __name__ == "__main__":
    main()
