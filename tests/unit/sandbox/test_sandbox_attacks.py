"""Attacks on each property of the sandbox's threat model, in every test style.

Styles: stdin/stdout, call-based, HumanEval ``check`` and MBPP ``test_list``. A
hostile program must never pass, and a wrong answer must be a ``fail``, never an
``error``. Real bubblewrap, seccomp and cgroups, as in CI (root).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyseccomp
import pytest

from raydistill.sandbox import Limits, Sandbox
from raydistill.sandbox.seccomp import DENIED
from raydistill.verifiers import Verdict
from raydistill.verifiers.code import verify_code
from tests.support.paths import REPO
from tests.support.sandbox_hosts import own_sandbox_processes

pytestmark = pytest.mark.slow

LIMITS = {"cpu_s": 2.0, "wall_s": 4.0, "total_wall_s": 12.0, "memory_mb": 256,
          "max_processes": 16, "max_output_bytes": 1 << 20, "file_mb": 8, "tmpfs_mb": 16}
SECRET = "SECRET" + "-7f3a9c"  # never written whole in a program below


def styles(answer_expr: str, expected: object) -> dict[str, dict[str, object]]:
    """The four test styles of one problem: f(1) should be ``expected``."""
    want = json.dumps(expected)
    return {
        "stdio": {"inputs": ["1\n"], "outputs": [str(expected)]},
        "call": {"fn_name": "f", "inputs": [[1]], "outputs": [expected]},
        "humaneval": {"test": f"def check(candidate):\n    assert candidate(1) == {want}\n",
                      "entry_point": "f"},
        "mbpp": {"test_list": [f"assert f(1) == {want}"]},
    }


def run_style(style: str, body: str, tests: dict[str, object], **params: object) -> Verdict:
    """``body`` defines ``answer()``; each style wraps it as a program."""
    body = textwrap.dedent(body)
    if style == "stdio":
        program = f"{body}\ninput()\nprint(answer())\n"
    else:
        program = f"{body}\ndef f(x):\n    return answer()\n"
    record = {"solution": f"```python\n{program}\n```", "test_cases": json.dumps(tests)}
    return verify_code(record, {"code": {**LIMITS, **params}})


STYLES = ("stdio", "call", "humaneval", "mbpp")

# ---- expected values never reach the program ---------------------------------

FRAMES = """
    import sys
    def answer():
        frame, found = sys._getframe(), []
        while frame is not None:
            for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
                if isinstance(value, (str, dict, list)) and "SECRET" in repr(value):
                    found.append(repr(value))
            for const in frame.f_code.co_consts:
                if "SECRET" in repr(const):
                    found.append(repr(const))
            frame = frame.f_back
        return pick(" ".join(found))
"""
GC = """
    import gc
    def answer():
        return pick(" ".join(repr(o) for o in gc.get_objects()
                             if isinstance(o, (str, dict, list, tuple)) and "SECRET" in repr(o)))
"""
MEMORY = """
    import ctypes, gc, os
    def answer():  # read raw memory near the heap (freed memory included), EFAULT-safe
        fd = os.open("/tmp", os.O_TMPFILE | os.O_RDWR)
        regions = sorted({id(o) >> 21 for o in gc.get_objects()})  # 2 MiB regions
        found, chunk = [], 1 << 16
        addresses = {(r << 21) + d * chunk for r in regions for d in range(-64, 96)}
        for address in sorted(addresses):
            try:
                os.pwrite(fd, (ctypes.c_char * chunk).from_address(address), 0)
            except OSError:
                continue
            data = os.pread(fd, chunk, 0)
            if b"SECRET-" in data:
                found.append(data.decode("latin-1"))
        return pick(" ".join(found))
"""
PICK = """
    import re
    def pick(text):
        hits = re.findall(r"SECRET-[0-9a-f]{6}", text)
        return hits[0] if hits else "nothing found"
"""


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("attack", [FRAMES, GC, MEMORY], ids=["frames", "gc", "memory"])
def test_expected_values_are_not_readable(style, attack):
    verdict = run_style(style, PICK + attack, styles("f(1)", SECRET)[style])
    assert verdict.status == "fail" and verdict.reason == "wrong_answer", verdict


def test_the_memory_scan_finds_what_is_in_its_own_process():
    # the attack works where the value is: so it failing above means the value was absent
    tests = styles("f(1)", "nothing found")["call"]
    verdict = run_style("call", PICK + MEMORY + f"\n    KEEP = {SECRET!r} * 3\n", tests)
    assert verdict.status == "fail" and SECRET in verdict.detail, verdict


# ---- memory: SysV IPC denied, the slot's bound measured from the host ---------

SYSV = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    def answer():
        got = [libc.shmget(0, 1536 << 20, 0o1600), libc.msgget(0, 0o1600),
               libc.semget(0, 1, 0o1600)]
        return "denied" if got == [-1, -1, -1] and ctypes.get_errno() == 1 else "allowed"
"""


@pytest.mark.parametrize("style", STYLES)
def test_sysv_ipc_denied(style):
    verdict = run_style(style, SYSV, styles("f(1)", "allowed")[style])
    assert verdict.status == "fail" and verdict.reason == "wrong_answer", verdict
    assert run_style(style, SYSV, styles("f(1)", "denied")[style]).passed


MANY_PROCESSES = """
    import os, time
    def answer():
        for _ in range(12):  # 12 x 200 MiB, each under memory_mb, 2.4 GiB together
            if os.fork() == 0:
                block = bytearray(200 << 20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                time.sleep(30)
        time.sleep(3)
        return 1
"""


@pytest.mark.parametrize("style", ["stdio", "call", "mbpp"])
def test_slot_memory_is_bounded_as_seen_from_the_host(style):
    limits = Limits(**{**LIMITS, "wall_s": 6.0})
    sandbox = Sandbox(limits)
    body = textwrap.dedent(MANY_PROCESSES)
    program = (f"{body}\ninput()\nprint(answer())\n" if style == "stdio"
               else f"{body}\ndef f(x):\n    return answer()\n")
    tests = {"stdio": ["1\n"], "call": [[1]], "mbpp": ["assert f(1) == 1"]}[style]
    job = {"mode": {"mbpp": "assert"}.get(style, style), "program": program, "tests": tests,
           "fn_name": "f", "setup": "", "entry_point": None, "cpu_s": 2.0, "wall_s": 6.0,
           "max_output": 1 << 20}
    sandbox.run(job)
    assert sandbox.last_peak_memory_bytes is not None
    assert sandbox.last_peak_memory_bytes <= limits.slot_memory_bytes


# ---- the runner's rlimits cannot be changed ----------------------------------

PRLIMIT = """
    import ctypes, os, resource
    libc = ctypes.CDLL(None, use_errno=True)
    def answer():
        refused = 0
        for pid in [1, os.getppid()] + list(range(2, 40)):
            try:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (0, 0))
            except OSError:
                refused += 1
            zero = (ctypes.c_ulong * 2)(0, 0)
            if libc.syscall(302, pid, 7, zero, None) != 0:  # prlimit64 on x86_64
                refused += 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))  # its own: allowed
        return 1 if refused == 2 * 40 else 0
"""


@pytest.mark.parametrize("style", STYLES)
def test_prlimit_on_other_processes_denied(style):
    tests = styles("f(1)", 1)[style]
    if style in ("stdio", "call"):  # two tests: the runner must serve the second one
        tests = {**tests, "inputs": tests["inputs"] * 2, "outputs": tests["outputs"] * 2}
    verdict = run_style(style, PRLIMIT, tests)
    assert verdict.passed, verdict


# ---- nothing survives from one test to the next ------------------------------

LEAVE_A_MESS = """
    import os
    def answer():
        clean = os.listdir("/tmp") == []
        os.chdir("/tmp")
        for _ in range(200):  # deeper than the open-file limit (64)
            os.mkdir("d")
            os.chdir("d")
        open("x", "w").write("left")
        for _ in range(3):
            os.chdir("..")
        os.chmod("d", 0)
        os.chmod("/tmp", 0o500)
        return "clean" if clean else "dirty"
"""


@pytest.mark.parametrize("style", STYLES)
def test_clean_up_between_tests(style):
    tests = {
        "stdio": {"inputs": ["1\n"] * 3, "outputs": ["clean"] * 3},
        "call": {"fn_name": "f", "inputs": [[1]] * 3, "outputs": ["clean"] * 3},
        "humaneval": {"test": "def check(candidate):\n    assert candidate(1) == 'clean'\n",
                      "entry_point": "f"},
        "mbpp": {"test_list": ["assert f(1) == 'clean'"] * 3},
    }[style]
    verdict = run_style(style, LEAVE_A_MESS, tests)
    assert verdict.passed, verdict


def test_empty_removes_a_tree_deeper_than_the_fd_limit(tmp_path):
    # In a fresh interpreter: the test process itself may hold more than 32 descriptors.
    path = tmp_path / "top"
    deep = path.joinpath(*["d"] * 300)
    deep.mkdir(parents=True)
    (deep / "f").write_text("left behind")
    (path / "d").chmod(0)
    script = (
        "import resource, sys\n"
        "from raydistill.sandbox.runner import _empty\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (32, hard))\n"
        "_empty(sys.argv[1])\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert os.listdir(path) == []


def test_a_failed_clean_up_is_a_loud_sandbox_error():
    from raydistill.sandbox.launch import Records

    records = Records()
    assert list(records.feed(b'{"ready": true}\n{"error": "emptying /tmp: Permission denied"}\n'
                             )) == []
    assert records.done and records.error == "emptying /tmp: Permission denied"


# ---- checker semantics ---------------------------------------------------------


@pytest.mark.parametrize("style", ["call", "humaneval", "mbpp"])
@pytest.mark.parametrize("returned", ["{1, 2, 3}", "frozenset([1, 2, 3])", "(1, 2, 3, 3)[:0]"])
def test_a_set_is_not_a_list(style, returned):
    verdict = run_style(style, f"def answer():\n    return {returned}\n",
                        styles("f(1)", [1, 2, 2, 3])[style])
    assert verdict.status == "fail", verdict


@pytest.mark.parametrize("raised", ["StopIteration", "StopIteration('x')", "GeneratorExit",
                                    "AssertionError", "SystemExit(0)", "KeyboardInterrupt"])
@pytest.mark.parametrize("test", [
    "assert all(map(lambda x: candidate(x) == x * 2, [1, 2, 3]))",
    "assert all(candidate(x) == x * 2 for x in [1, 2, 3])",
    "try:\n        assert candidate(1) == 2\n    except Exception:\n        pass",
    "try:\n        assert candidate(1) == 2\n    except:\n        pass",
])
def test_program_exceptions_never_steer_the_checker(raised, test):
    tests = {"test": f"def check(candidate):\n    {test}\n", "entry_point": "f"}
    record = {"solution": f"```python\ndef f(x):\n    raise {raised}\n```",
              "test_cases": json.dumps(tests)}
    verdict = verify_code(record, {"code": LIMITS})
    assert verdict.status == "fail" and verdict.reason == "runtime_error", verdict


# ---- big numbers are wrong answers, not crashes --------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("returned, expected", [
    ("10 ** 5000", 5), ("-(10 ** 5000)", 5), ("10 ** 400", 1.5), ("float('inf')", 1.5),
    ("int('9' * 5000)", 9), ("'9' * 5000 + '.0'", 9.5),
])
def test_big_numbers_are_wrong_answers(style, returned, expected):
    body = f"import sys\nsys.set_int_max_str_digits(0)\ndef answer():\n    return {returned}\n"
    verdict = run_style(style, body, styles("f(1)", expected)[style])
    assert verdict.status == "fail", verdict
    assert verdict.reason in ("wrong_answer", "runtime_error"), verdict


# ---- CPU: one slot cannot take the other's -------------------------------------

HOG = """
    import os, time
    def answer():
        for _ in range(10):
            if os.fork() == 0:
                os.setsid()  # a scheduler autogroup of its own, outside a cgroup
                while True:
                    pass
        time.sleep(3.5)
        return 2
"""
HONEST = "def answer():\n    n = 0\n    for i in range(10_000_000):\n        n += i\n    return 2\n"


@pytest.mark.parametrize("hog_style, honest_style, bound", [
    ("stdio", "stdio", "cgroup"), ("mbpp", "call", "cgroup"), ("stdio", "call", "rlimits")])
def test_a_cpu_hog_does_not_starve_the_other_slot(hog_style, honest_style, bound, monkeypatch):
    if bound == "rlimits":  # the fallback of a host without cgroups: setsid denied, autogroups
        from raydistill import sandbox as package
        from raydistill.verifiers import code

        real = package.probe()
        assert real.autogroup, "this host's scheduler does not group sessions"
        monkeypatch.setattr(package, "probe", lambda: dataclasses.replace(
            real, cgroup=False, no_cgroup_reason="test: as on a host without cgroups"))
        monkeypatch.setattr(code, "_sandbox", functools.lru_cache(code._sandbox.__wrapped__))
    params = {"cpu_s": 4.0, "wall_s": 6.0}
    alone = run_style(honest_style, HONEST, styles("f(1)", 2)[honest_style], **params)
    assert alone.passed, alone
    verdicts: dict[str, Verdict] = {}
    threads = [
        threading.Thread(target=lambda: verdicts.__setitem__("hog", run_style(
            hog_style, HOG, styles("f(1)", 2)[hog_style], **params))),
        threading.Thread(target=lambda: verdicts.__setitem__("honest", run_style(
            honest_style, HONEST, styles("f(1)", 2)[honest_style],
            **{"cpu_s": 4.0, "wall_s": 3.0}))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts["honest"].passed, verdicts["honest"]


def test_every_process_of_a_running_sandbox_is_in_its_slot_cgroup():
    """The host moves the sandbox in (no step inside): checked from the host mid-run."""
    from raydistill.sandbox import UID_BASE, UID_SLOTS

    box = Sandbox(Limits(**LIMITS))
    program = "import os, time\nif os.fork() == 0:\n    time.sleep(3)\ntime.sleep(3)\nprint(1)\n"
    seen: list[tuple[int, str]] = []

    def watch() -> None:
        time.sleep(0.5)  # the runner is up and moved in by then; its tests sleep 3 s
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and len(seen) < 4:
            for pid in own_sandbox_processes(range(UID_BASE, UID_BASE + UID_SLOTS)):
                try:
                    groups = Path(f"/proc/{pid}/cgroup").read_text()
                except OSError:
                    continue
                seen.append((pid, groups))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcome = box.run({"mode": "stdio", "program": program, "tests": [""], "cpu_s": 2.0,
                       "wall_s": 6.0, "max_output": 1 << 16})
    watcher.join()
    assert outcome.tests and outcome.tests[0].stdout == b"1\n", outcome
    assert len({pid for pid, _ in seen}) >= 3  # bwrap, the runner, the program, its child
    for pid, groups in seen:
        lines = dict(line.split(":", 2)[1:] for line in groups.splitlines())
        for controller in ("cpu", "memory", "pids"):
            group = next(path for names, path in lines.items() if controller in names.split(","))
            assert "/raydistill-sandbox-" in group, (pid, controller, groups)


# ---- every denied syscall is denied -------------------------------------------


def test_every_denied_syscall_is_denied():
    arch = pyseccomp.system_arch()
    numbers = {name: pyseccomp.resolve_syscall(arch, name) for name in DENIED}
    body = f"""
        import ctypes, errno
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def call(nr, *args):
            ctypes.set_errno(0)
            rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
            return rc, ctypes.get_errno()
        def answer():
            bad = []
            for name, nr in {numbers!r}.items():
                if call(nr, 0, 0, 0, 0, 0, 0) != (-1, errno.EPERM):
                    bad.append(name)
            if call(435, 0, 0) != (-1, errno.ENOSYS):  # clone3
                bad.append("clone3")
            if call(41, 2, 1, 0) != (-1, errno.EAFNOSUPPORT):  # socket(AF_INET)
                bad.append("socket")
            for flag in (0x10000000, 0x40000000, 0x20000000, 0x00020000):
                if call(56, flag | 17, 0, 0, 0, 0) != (-1, errno.EPERM):  # clone
                    bad.append(hex(flag))
            if call(302, 1, 7, 0, 0) != (-1, errno.EPERM):  # prlimit64 on pid 1
                bad.append("prlimit64")
            old = (ctypes.c_ulong * 2)()
            if libc.syscall(302, 0, 7, None, old) != 0:  # on itself: allowed
                bad.append("prlimit64 self")
            return ",".join(bad) or "all denied"
    """
    assert run_style("call", body, styles("f(1)", "all denied")["call"]).passed


def test_other_abis_are_killed():
    body = """
        import ctypes
        def answer():
            ctypes.CDLL(None).syscall(0x40000000 + 39)  # x32 getpid
            return "survived"
    """
    verdict = run_style("call", body, styles("f(1)", "survived")["call"])
    assert verdict.status == "fail" and "SIGSYS" in verdict.detail, verdict
