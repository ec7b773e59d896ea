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

Modes: ``stdio`` runs the program with each input on stdin; ``call`` runs it and
calls ``fn_name`` (or ``Solution().fn_name``) with each argument list, writing the
return value, encoded by :func:`encode`, to fd 3; ``assert`` splits each test in
two processes: the candidate process runs the program and answers calls over a
socket with encoded values, the checker process runs only the trusted test code
(with proxies in place of the program's functions) and writes the verdict. Values
cross as plain data, so an object whose ``__eq__`` always returns True never
reaches a comparison. The assert tests' text comes on a pipe that only the
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
_FUNCTION = type(lambda: None)


def encode(value: Any) -> Any:
    """JSON-able form of a plain value, read through the base types' own methods.

    Subclasses of int/str/list/... are copied via the base class, so overridden
    dunder methods never run; anything else raises TypeError.

    >>> encode((1, [2.5, "x"], {3: None}))
    {'$tuple': [1, [2.5, 'x'], {'$dict': [[3, None]]}]}
    """
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, list):
        return [encode(item) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item) for item in tuple.__iter__(value)]}
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in dict.items(value)]}
    if isinstance(value, (set, frozenset)):
        items = set.__iter__(value) if isinstance(value, set) else frozenset.__iter__(value)
        return {"$set": [encode(item) for item in items]}
    if isinstance(value, bytes):
        return {"$bytes": bytes.hex(value)}
    raise TypeError(f"cannot return a {kind.__name__} (only plain data types)")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((tag, body),) = obj.items()
        if tag == "$tuple":
            return tuple(body)
        if tag == "$set":
            return frozenset(body)
        if tag == "$dict":
            return {k if not isinstance(k, list) else tuple(k): v for k, v in body}
        if tag == "$float":
            return float(body)
        if tag == "$bytes":
            return bytes.fromhex(body)
    return obj


def decode(data: bytes | str, parse_int: Callable[[str], Any] | None = None) -> Any:
    """Inverse of :func:`encode` applied to JSON text (raises ValueError if malformed).

    ``parse_int`` is json's: the host passes one that keeps integers past
    ``int()``'s digit limit as text instead of raising.

    >>> decode('{"$tuple": [1, {"$float": "inf"}]}')
    (1, inf)
    """
    import json

    try:
        return json.loads(data, object_hook=_untag, parse_int=parse_int)
    except (TypeError, RecursionError, AttributeError) as exc:
        raise ValueError(f"malformed value: {exc}") from None


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value, allow_nan=False).encode()


def _send(fd: int, message: Any) -> None:
    data = _dumps(message)
    _write_all(fd, struct.pack(">I", len(data)) + data)


def _recv(fd: int, limit: int) -> Any:
    head = _read_exact(fd, 4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    if size > limit:
        raise _OutputLimit(f"message of {size} bytes")
    return decode(_read_exact(fd, size))


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


class _OutputLimit(Exception):
    pass


class _CandidateLost(Exception):
    pass


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


def _fresh_namespace() -> dict[str, Any]:
    return {"__name__": "__main__", "__builtins__": builtins}


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


def _resolve(namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    if callable(namespace.get(name)):
        return namespace[name]
    if "Solution" in namespace:
        return getattr(namespace["Solution"](), name)
    raise NameError(f"the program defines no function {name!r}")


def _call_test(job: dict[str, Any], args: list[Any], fds: list[int]) -> int:
    _enter_child(fds, job["cpu_s"])
    namespace = _fresh_namespace()
    code = _run_program(job["program"], namespace)
    if code == 0:
        try:
            value = _resolve(namespace, job["fn_name"])(*args)
            _write_all(3, _dumps(encode(value)))
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:  # noqa: BLE001
            _print_exc()
            code = 1
    return _finish(code)


def _serve_candidate(job: dict[str, Any], fds: list[int]) -> int:
    _enter_child(fds, job["cpu_s"])
    namespace = _fresh_namespace()
    code = _run_program(job["program"], namespace)
    if code != 0:
        return _finish(code)
    names = [k for k, v in namespace.items() if isinstance(v, _FUNCTION)]
    _send(3, {"names": names})
    while True:
        request = _recv(3, 1 << 30)
        if request is None:
            return _finish(0)
        try:
            fn = namespace[request["fn"]]
            value = fn(*request["args"], **dict(request["kwargs"]))
            reply: dict[str, Any] = {"value": encode(value)}
        except BaseException as exc:  # noqa: BLE001 - the checker fails the test for it
            reply = {"raised": _describe(type(exc).__name__), "message": _describe(exc)}
        _send(3, reply)


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


def _proxy(name: str, limit: int, raised: list[str]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if raised:
            raise _ProgramRaised(raised[0])
        _send(4, {"fn": name, "args": encode(args), "kwargs": encode(kwargs)})
        reply = _recv(4, limit)
        if reply is None:
            raise _CandidateLost(f"the program died while running {name}()")
        if "raised" in reply:
            raised.append(f"{reply['raised']}: {reply.get('message', '')}"[:300])
            raise _ProgramRaised(raised[0])
        return reply["value"]

    return call


def _check(job: dict[str, Any], fds: list[int]) -> int:
    """Run one test's trusted code; its text arrives on fd 5, never seen by the runner."""
    _enter_child(fds, job["cpu_s"])
    raised: list[str] = []
    try:
        test = _recv(5, 1 << 30)
        os.close(5)
        namespace = _fresh_namespace()
        exec(test["setup"] or "", namespace)  # noqa: S102 - trusted test setup
        hello = _recv(4, job["max_output"])
        if hello is None:
            raise _CandidateLost("the program died before defining its functions")
        # The program's functions stand in only for names the trusted code does
        # not define itself: shadowing `abs` or a helper would forge a pass.
        trusted = (set(dir(builtins)) | set(namespace)) - {test["entry_point"]}
        for name in map(str, hello["names"]):
            if name not in trusted:
                namespace[name] = _proxy(name, job["max_output"], raised)
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
    if raised:  # caught by the test or not, the program's exception fails the test
        verdict = f"raised {raised[0]}"
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
        done, status, usage = os.wait4(candidate, os.WNOHANG)
        if done:
            helper = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                      "cpu": usage.ru_utime + usage.ru_stime}
    _kill_all()  # before reading: nothing may write to the captures any more
    payload = [_captured(out, limit), _captured(err, TAIL_BYTES, tail=True),
               _captured(value, limit)]
    for fd in (stdin, out, err, value):
        os.close(fd)
    header.update(i=index, lens=[len(p) for p in payload], helper=helper)
    return header, payload


def _stdio_program(job: dict[str, Any], fds: list[int]) -> int:
    _enter_child(fds, job["cpu_s"])
    return _run_program(job["program"], _fresh_namespace())


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
