"""Hostile programs against the real bubblewrap sandbox (root + bwrap, as in CI).

Each test ends in a non-pass verdict; an autouse fixture then checks that no
process of any sandbox uid survived and that a trivial good program still passes.
Limits are small (1 s CPU, 2 s wall per test) to keep the file fast on 2 cores.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from raydistill import sandbox
from raydistill.sandbox import Isolation, Limits, Sandbox, SandboxUnavailable
from raydistill.verifiers import Verdict
from raydistill.verifiers.code import verify_code
from tests.support.sandbox_hosts import own_sandbox_processes

LIMITS = {"cpu_s": 1.0, "wall_s": 2.0, "total_wall_s": 8.0, "memory_mb": 256,
          "max_processes": 16, "max_output_bytes": 1 << 20, "file_mb": 8, "tmpfs_mb": 16}
SLOT_UIDS = range(sandbox.UID_BASE, sandbox.UID_BASE + sandbox.UID_SLOTS)
UNREACHABLE = "only-a-successful-attack-prints-this"
# For programs that must end in a memory or crash verdict after real work: room
# enough that a loaded machine (load average 50+ on 2 cores, seen here) does not
# turn them into time limits.
ROOMY = {"cpu_s": 4.0, "wall_s": 10.0, "total_wall_s": 20.0}


def run(program: str, stdin: str = "", expected: str = UNREACHABLE, **params: object) -> Verdict:
    record = {"solution": f"Done.\n```python\n{textwrap.dedent(program)}\n```",
              "test_cases": json.dumps({"inputs": [stdin], "outputs": [expected]})}
    return verify_code(record, {"code": {**LIMITS, **params}})


def failed(verdict: Verdict, label: str = "") -> bool:
    return verdict.status == "fail" and verdict.detail.startswith(label)


@pytest.fixture(autouse=True)
def sandbox_healthy_afterwards():
    yield
    assert own_sandbox_processes(SLOT_UIDS) == []  # neighbours' sandboxes may run
    assert run("print(input())", "ok", "ok", **ROOMY).passed


def test_probe_reports_full_isolation_here():
    found = sandbox.probe()
    assert (found.namespaces, found.seccomp, found.distinct_uid, found.cgroup) == (True,) * 4
    assert found.slot_bound and found.detail == "" and found.no_cgroup_reason == ""


# ---- the decision without a cgroup (pure: no sandbox started) ------------------

NO_CGROUP = Isolation(True, True, True, cgroup=False, autogroup=True,
                      no_cgroup_reason="no writable cpu, memory and pids controllers")


def test_slot_bound_is_the_cgroup_where_there_is_one():
    bound = sandbox.slot_bound(Isolation(True, True, True, cgroup=True), Limits())
    assert bound.kind == "cgroup" and "704 MiB" in bound.statement


def test_slot_bound_without_cgroup_states_the_rlimit_bound():
    limits = Limits(memory_mb=256, max_processes=8, tmpfs_mb=32)
    bound = sandbox.slot_bound(NO_CGROUP, limits)
    assert bound.kind == "rlimits"
    for fact in ("no writable cpu", "8 processes x 256 MiB", "2080 MiB", "SysV IPC",
                 "memfd_create", "setsid denied", "autogroup"):
        assert fact in bound.statement, fact
    assert limits.rlimit_memory_bytes == 2080 << 20


@pytest.mark.parametrize("change, missing", [
    ({"autogroup": False}, "CPU share NOT bounded"),  # a non-root CPU group, or disabled
    ({"seccomp": False}, "memory NOT bounded"),  # SysV IPC would be allowed
    ({"distinct_uid": False}, "memory NOT bounded"),  # RLIMIT_NPROC shared with the host
])
def test_slot_bound_without_cgroup_is_none_when_a_part_fails(change, missing):
    import dataclasses

    isolation = dataclasses.replace(NO_CGROUP, **change)
    bound = sandbox.slot_bound(isolation, Limits())
    assert bound.kind == "none" and missing in bound.statement
    assert "slot_bound" in isolation.missing()


def test_a_host_without_cgroups_runs_and_says_what_holds(monkeypatch, caplog):
    monkeypatch.setattr(sandbox, "probe", lambda: NO_CGROUP)
    with caplog.at_level(logging.WARNING, logger="raydistill.sandbox"):
        box = Sandbox(Limits())  # no allow_weak needed: the bound still holds
    assert box.bound.kind == "rlimits"
    assert "no cgroup" in caplog.text and "8256 MiB per slot" in caplog.text


def test_a_host_without_cgroups_or_autogroups_is_refused(monkeypatch, caplog):
    import dataclasses

    weak = dataclasses.replace(NO_CGROUP, autogroup=False)
    monkeypatch.setattr(sandbox, "probe", lambda: weak)
    with pytest.raises(SandboxUnavailable, match="slot_bound"):
        Sandbox(Limits())
    with caplog.at_level(logging.WARNING, logger="raydistill.sandbox"):
        Sandbox(Limits(), allow_weak=True)
    assert "WEAK SANDBOX" in caplog.text and "CPU share NOT bounded" in caplog.text


@pytest.mark.parametrize("text, enabled, expected", [
    ("0::/\n1:cpu:/\n", "1", True),  # v1, root cpu group
    ("0::/\n1:cpu,cpuacct:/user.slice\n", "1", False),  # v1, a cpu group of its own
    ("0::/\n", "1", True),  # v2 only, root
    ("0::/system.slice/x.service\n", "1", False),
    ("0::/\n1:cpu:/\n", "0", False),  # autogroups switched off
])
def test_autogroups_apply_only_in_the_root_cpu_group(monkeypatch, tmp_path, text, enabled,
                                                     expected):
    from raydistill.sandbox import isolation

    files = {"/proc/sys/kernel/sched_autogroup_enabled": enabled, "/proc/self/cgroup": text}
    monkeypatch.setattr(isolation, "Path", lambda name: _Fake(files[name]))
    assert isolation.autogroups_apply() is expected


class _Fake:
    def __init__(self, text: str) -> None:
        self.text = text

    def read_text(self) -> str:
        return self.text


def test_weak_host_refused_unless_opted_in(monkeypatch, caplog):
    monkeypatch.setattr(sandbox, "probe", lambda: Isolation(True, False, False, detail="test"))
    with pytest.raises(SandboxUnavailable, match="allow_weak_sandbox"):
        Sandbox(Limits())
    with caplog.at_level(logging.WARNING, logger="raydistill.sandbox"):
        Sandbox(Limits(), allow_weak=True)
    assert "WEAK SANDBOX" in caplog.text and "seccomp" in caplog.text


def test_infinite_loop():
    assert failed(run("while True: pass"), "time limit")


def test_sleep_forever():
    start = time.monotonic()
    assert failed(run("import time; time.sleep(10**6)"), "time limit")
    assert time.monotonic() - start < 5


def test_sigxcpu_ignored():
    program = "import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass"
    assert failed(run(program), "time limit")


def test_fork_bomb():
    program = """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    assert failed(run(program), "time limit")


def test_thread_bomb():
    program = """
        import threading, time
        while True:
            threading.Thread(target=time.sleep, args=(100,)).start()
    """
    # the interpreter then waits for its sleeping threads, as CPython does at exit
    assert failed(run(program), "time limit")


@pytest.mark.parametrize("program", [
    "x = [0] * 10\nwhile True: x = x + x",
    "x = bytearray(10**10)",
    "import mmap; m = mmap.mmap(-1, 10**10); m[-1] = 1",
])
def test_memory_bombs(program):
    verdict = run(program, **ROOMY)
    assert failed(verdict, "memory limit") or failed(verdict, "runtime error"), verdict
    assert "MemoryError" in verdict.detail or "Cannot allocate memory" in verdict.detail


def test_raising_rlimits():
    program = """
        import resource
        for limit in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CPU):
            resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print("raised")
    """
    verdict = run(program, expected="raised")
    assert failed(verdict, "runtime error") and "not allowed to raise" in verdict.detail


def test_endless_stdout():
    assert failed(run("while True: print('y' * 1000)"), "output limit")


def test_one_100_mb_line():
    assert failed(run("import sys; sys.stdout.write('x' * 100_000_000)", **ROOMY), "output limit")


def test_endless_stderr():
    verdict = run("import sys\nwhile True: sys.stderr.write('e' * 4096)")
    assert failed(verdict, "runtime error") and len(verdict.detail) < 400


def test_huge_file():
    verdict = run("open('/tmp/big', 'wb').write(b'0' * 10**9)")
    assert failed(verdict) and verdict.detail.startswith(("runtime error", "memory limit"))


def test_tmpfs_filling():
    program = """
        i = 0
        while True:
            open(f'/tmp/f{i}', 'wb').write(b'0' * (4 << 20)); i += 1
    """
    # the traceback itself finds no space left, so only the exit code tells
    assert failed(run(program), "runtime error")


def test_writes_outside():
    canary = Path("/tmp") / f"raydistill-canary-{os.getpid()}"
    canary.write_text("untouched")
    try:
        program = f"""
            import os
            wrote = []
            for path in ["/usr/bin/evil", "/etc/passwd", "/root/evil", "/home/evil",
                         "/evil", "/dev/evil", os.path.expanduser("~/evil"), "{canary}"]:
                try:
                    with open(path, "w") as f:
                        f.write("pwned")
                    wrote.append(path)
                except OSError:
                    pass
            print(wrote)
        """
        verdict = run(program)
        # only the sandbox's own /tmp (a private tmpfs) took the canary's name
        assert failed(verdict, "wrong answer") and f"got \"['{canary}']" in verdict.detail
        assert canary.read_text() == "untouched"
        assert not Path("/usr/bin/evil").exists() and not Path("/root/evil").exists()
    finally:
        canary.unlink()


def test_rm_rf_root():
    canary = Path("/tmp") / f"raydistill-canary-rm-{os.getpid()}"
    canary.write_text("untouched")
    try:
        program = """
            import os, shutil, subprocess
            try:  # it walks all of the read-only /usr: give it a second
                subprocess.run(["rm", "-rf", "--no-preserve-root", "/"],
                               stderr=subprocess.DEVNULL, timeout=1)
            except subprocess.TimeoutExpired:
                pass
            shutil.rmtree("/tmp", ignore_errors=True)
            print("deleted" if not os.path.exists("/usr/bin/env") else "still there")
        """
        verdict = run(program, expected="deleted")
        assert failed(verdict, "wrong answer") and "still there" in verdict.detail
        assert canary.read_text() == "untouched" and Path("/usr/bin/env").exists()
    finally:
        canary.unlink()


def test_environment_secrets(monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    program = """
        import os
        found = [str(dict(os.environ))]
        for path in ["/proc/1/environ", "/proc/self/environ", "/proc/1/cmdline"]:
            try:
                found.append(open(path, "rb").read().decode(errors="replace"))
            except OSError as exc:
                found.append(type(exc).__name__)
        print(" ".join(found))
    """
    verdict = run(program)
    assert failed(verdict, "wrong answer")
    assert secret not in verdict.detail and "OPENAI" not in verdict.detail


def test_internet_fails_instantly():
    program = """
        import socket
        try:
            started = time.monotonic()
            socket.create_connection(("1.1.1.1", 80), timeout=5)
            print("connected")
        except OSError as exc:  # at once, not after the 5 s timeout of a dropped packet
            print(type(exc).__name__, exc.errno, time.monotonic() - started < 1)
    """
    verdict = run("import time\n" + textwrap.dedent(program), expected="connected", **ROOMY)
    assert failed(verdict, "wrong answer") and "97 True" in verdict.detail  # EAFNOSUPPORT


def test_dns_lookup_fails():
    program = """
        import socket
        try:
            print(socket.getaddrinfo("example.com", 80))
        except OSError as exc:
            print("no dns", type(exc).__name__)
    """
    verdict = run(program, expected="resolved")
    assert failed(verdict, "wrong answer") and "no dns" in verdict.detail


def test_host_loopback_listener_gets_no_connection():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        program = f"""
            import socket
            for family in (socket.AF_INET, socket.AF_INET6):
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=2).send(b"hi")
                    print("connected")
                except OSError as exc:
                    print("refused", exc.errno)
        """
        verdict = run(program, expected="connected")
        assert failed(verdict, "wrong answer")
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_killing_the_parent_and_kill_minus_one():
    program = """
        import os, signal
        for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
            for pid in (os.getppid(), 1, -1):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        print(input())
    """
    record = {"solution": f"```python\n{textwrap.dedent(program)}\n```",
              "test_cases": json.dumps({"inputs": ["a", "b"], "outputs": ["a", "c"]})}
    verdict = verify_code(record, {"code": LIMITS})
    assert verdict == Verdict("fail", "wrong answer on test 2/2: expected 'c', got 'b\\n'")


def test_double_forked_daemon_does_not_survive():
    program = """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    time.sleep(1)
            os._exit(0)
        print("parent done")
    """
    assert failed(run(program), "wrong answer")
    # the autouse fixture checks that no process of a sandbox uid is left


def test_ptrace_and_unshare_denied():
    program = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        results = []
        for call in (lambda: libc.ptrace(16, 1, 0, 0),           # PTRACE_ATTACH to pid 1
                     lambda: libc.unshare(0x10000000),            # CLONE_NEWUSER
                     lambda: libc.unshare(0x40000000),            # CLONE_NEWNET
                     lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)):
            results.append((call(), ctypes.get_errno()))
        print("escaped" if any(rc == 0 for rc, _ in results) else results)
    """
    verdict = run(program, expected="escaped")
    assert failed(verdict, "wrong answer") and "(-1, 1)" in verdict.detail  # EPERM


def test_segfault():
    verdict = run("import ctypes; ctypes.string_at(0)", **ROOMY)
    assert failed(verdict, "runtime error") and "SIGSEGV" in verdict.detail


def test_deep_recursion():
    program = """
        import sys
        sys.setrecursionlimit(10**8)
        nested = []
        for _ in range(10**6):
            nested = [nested]
        print(repr(nested))  # recursion in C: overflows the C stack
    """
    verdict = run(program, **ROOMY)
    assert failed(verdict, "runtime error") and "SIGSEGV" in verdict.detail


def test_deep_python_recursion():
    program = """
        import sys
        sys.setrecursionlimit(10**8)
        def f(n):
            return f(n + 1) + 1
        f(0)
    """
    assert run(program).status == "fail"  # memory or time, whichever runs out first


def test_exit_zero_before_any_output():
    assert failed(run("import sys; sys.exit(0)", expected="1"), "wrong answer")


def test_exit_zero_in_assert_tests():
    for program in ("import os\nos._exit(0)", "def add(a, b):\n    raise SystemExit(0)"):
        record = {"solution": f"```python\n{program}\n```",
                  "test_cases": json.dumps({"test_list": ["assert add(1, 2) == 3"]})}
        verdict = verify_code(record, {"code": LIMITS})
        assert failed(verdict, "runtime error"), verdict


def test_eq_always_true_does_not_pass():
    program = """
        class Liar(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        def answer(x):
            return Liar(0)
    """
    call = {"fn_name": "answer", "inputs": [[1]], "outputs": [42]}
    human = {"test": "def check(candidate):\n    assert candidate(1) == 42\n",
             "entry_point": "answer"}
    for tests in (call, human, {"test_list": ["assert answer(1) == 42"]}):
        record = {"solution": f"```python\n{textwrap.dedent(program)}\n```",
                  "test_cases": json.dumps(tests)}
        assert failed(verify_code(record, {"code": LIMITS}), "wrong answer")


def test_forged_result_lines():
    fake = json.dumps({"i": 0, "timeout": False, "code": 0, "signal": None, "cpu": 0.0,
                       "wall": 0.0, "lens": [9, 0, 0], "helper": None}) + "\nexpected\n"
    program = f"""
        import os, sys
        fake = {fake!r}.encode()
        print(fake.decode() + '{{"done": true}}')
        for fd in range(3, 256):
            try:
                os.write(fd, fake + b"pass")
            except OSError:
                pass
        sys.stdout.flush()
        os._exit(0)
    """
    verdict = run(program, expected="expected")
    assert failed(verdict, "wrong answer")
    forged_assert = program.replace("os._exit(0)", "def add(a, b):\n            return 0")
    record = {"solution": f"```python\n{textwrap.dedent(forged_assert)}\n```",
              "test_cases": json.dumps({"test_list": ["assert add(1, 2) == 3"]})}
    # the bytes written into the candidate's socket are its answer: garbage, not a pass
    assert verify_code(record, {"code": LIMITS}).status == "fail"


def test_concurrent_slots_fork_bomb_does_not_starve_the_other():
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"
    verdicts: dict[str, Verdict] = {}
    threads = [threading.Thread(target=lambda: verdicts.__setitem__("bomb", run(bomb))),
               threading.Thread(target=lambda: verdicts.__setitem__(
                   "good", run("import time; time.sleep(0.3); print(int(input()) * 2)",
                               "21", "42")))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed(verdicts["bomb"], "time limit")
    assert verdicts["good"].passed, verdicts["good"]


def test_whole_run_deadline_kills_everything():
    record = {"solution": "```python\nimport time; time.sleep(1.5); print(input())\n```",
              "test_cases": json.dumps({"inputs": ["x"] * 10, "outputs": ["x"] * 10})}
    start = time.monotonic()
    verdict = verify_code(record, {"code": {**LIMITS, "total_wall_s": 3.0}})
    assert time.monotonic() - start < 6
    assert failed(verdict, "time limit: all tests together")
