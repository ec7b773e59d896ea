"""The child process that runs math-verify, killed and respawned on a hard deadline.

One child per verifier slot (per process: :func:`checker` is a process-wide
singleton). The parent writes one JSON line ``{"gold": str, "solution": str}``
and waits at most ``timeout_s`` for one JSON line ``{"status": str, "detail":
str, "reason": str}`` (a code of :mod:`raydistill.reasons`); only strings
cross, never sympy objects (printing some of them hangs). A child that misses
the deadline, dies or answers garbage is SIGKILLed, the sample gets
``error``/``verifier_error``, and a fresh child is started for the next one (start-up
~1 s: sympy and math-verify imports, not counted against any sample's deadline).

The comparison itself lives in :mod:`raydistill.verifiers.math_compare`, which
only the child imports: this module does not know it (:func:`serve` is handed
the function), so the parent never loads sympy and no import cycle exists.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from raydistill.reasons import CODES, status_of

logger = logging.getLogger(__name__)

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# Importing sympy + math-verify takes ~1 s; 120 s allows for a loaded 2-core node.
START_TIMEOUT_S = 120.0
_READY = b"ready\n"
_CHILD_MAIN = ("from raydistill.verifiers.math_compare import compare; "
               "from raydistill.verifiers.math_child import serve; serve(compare)")

Reply = tuple[str, str, str]  # (status, detail, reason code)


class MathChild:
    """A math-verify child process and the deadline discipline around it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.lock = threading.Lock()
        self.restarts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        code = (f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                f"{_CHILD_MAIN}")
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, bufsize=0)
        self.buffer = b""
        line = self._read_line(proc, START_TIMEOUT_S)
        if line != _READY:
            self._kill(proc)
            raise RuntimeError(f"math child failed to start: {line!r}")
        return proc

    def _read_line(self, proc: subprocess.Popen[bytes], timeout_s: float) -> bytes | None:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        fd = proc.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b""
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def check(self, gold: str, solution: str, timeout_s: float) -> Reply:
        """``(status, detail, reason)`` from the child; an error if it misses the deadline."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            proc = self.proc
            assert proc.stdin is not None
            request = json.dumps({"gold": gold, "solution": solution}).encode() + b"\n"
            try:
                proc.stdin.write(request)
                line = self._read_line(proc, timeout_s)
            except OSError as exc:
                line, why = None, f"math checker died: {exc}"
            else:
                why = (f"math check over {timeout_s:g} s, checker killed" if line is None
                       else "math checker died" if not line else "")
            reply = _reply(line) if line else None
            if reply is None:
                why = why or f"math checker sent garbage: {line[:80]!r}"  # type: ignore[index]
                logger.warning("%s; respawning it", why)
                self._kill(proc)
                self.proc = None
                self.restarts += 1
                return "error", why, "verifier_error"
            return reply

    def close(self) -> None:
        """Stop the child (it also exits by itself when our end of its stdin closes)."""
        with self.lock:
            if self.proc is not None:
                self._kill(self.proc)
                self.proc = None


def _reply(line: bytes) -> Reply | None:
    try:
        data = json.loads(line)
        status, detail, reason = data["status"], data["detail"], data["reason"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(detail, str) or reason not in CODES or status_of(reason) != status:
        return None
    return status, detail, reason


_CHECKER: MathChild | None = None
_CHECKER_LOCK = threading.Lock()


def checker() -> MathChild:
    """The math child of the calling process (one per verifier slot)."""
    global _CHECKER
    with _CHECKER_LOCK:
        if _CHECKER is None:
            _CHECKER = MathChild()
        return _CHECKER


def serve(compare: Callable[[str, str], Reply]) -> None:
    """The child's loop: a JSON request line in, ``compare``'s reply line out, until EOF."""
    # The protocol owns the real stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    compare("#### 1", "\\boxed{1}")  # warm up sympy's caches before saying ready
    out.write(_READY)
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            status, detail, reason = compare(str(request["gold"]), str(request["solution"]))
        except Exception as exc:  # noqa: BLE001 - reported as an error verdict
            status, detail, reason = ("error", f"math checker failed: {type(exc).__name__}: {exc}",
                                      "verifier_error")
        out.write(json.dumps({"status": status, "detail": str(detail),
                              "reason": reason}).encode() + b"\n")
