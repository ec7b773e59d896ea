r"""Code solutions run in the sandbox against the problem's tests.

The program is the last fenced code block of ``record["solution"]`` (the text
after the reasoning), tagged ``python``/``py``/``python3`` or untagged; if it does
not define the function the tests call and ``starter_code`` is given, the
starter code is put in front of it. It runs the way each data set's own harness
runs it (see ``docs/code-verification.md``): stdin programs as scripts; call-based
and assert-tested programs as imported modules (an ``if __name__ ==
"__main__":`` block does not run), LeetCode-style ones (call-based, or
``Solution().f`` entries) after LeetCode's prelude of imports (``defaultdict``,
``List``, ``heappush``, ``inf``, ``ListNode``...); a whole program for assert
tests comes after the setup it may rely on (HumanEval's prompt, MBPP's
``test_setup_code``) when that compiles alone and the program does not already
hold it. ``record["test_cases"]`` (JSON) is one of:

- stdin/stdout (APPS, TACO, CodeContests): ``{"inputs": [...], "outputs": [...]}``;
- call-based: the same plus ``"fn_name"``; each input is the argument list; a
  plain function or a LeetCode-style ``class Solution`` method;
- assert-based: HumanEval ``{"test": "def check(candidate): ...", "entry_point": f}``
  (LeetCodeDataset: ``"entry_point": "Solution().f"``) or MBPP
  ``{"test_list": ["assert f(1) == 2", ...], "test_setup_code": ...}``.

Comparison happens here, in the parent; expected outputs never enter the sandbox.
Printed output: line endings and trailing whitespace are ignored, as are blank
lines at the end; every expected line is required and no extra line is allowed;
a line that differs as text still matches when its whitespace-separated tokens
match one by one, numbers with a decimal point or exponent within
``float_tolerance`` (relative or absolute), integers exactly. Return values come
back as plain data (an ``int`` subclass whose ``__eq__`` always says True arrives
as a plain int) and match when equal, floats within the tolerance, tuples as
lists, bools only bools; ``outputs`` entries wrapped in a one-element list (as in
TACO) match the bare value too; a set never matches a list (order and duplicates
count); a complex number matches a number (imaginary part zero) or its text
(``"(1+2j)"``), a built-in type its ``str()`` (``"<class 'int'>"``); an integer past
``int()``'s 4300-digit limit or too large for a float is a wrong answer, never a
crash. Assert-based tests run inside the sandbox, in a checker process that alone
receives the test code and talks to the program through plain values and handles
to the program's objects (see :mod:`raydistill.sandbox.exchange`).

Verdicts (reason code in brackets): ``pass`` "accepted"; ``fail`` "wrong answer"
(``wrong_answer``), "time limit" (``timeout``), "memory limit", "runtime error",
"output limit" (``runtime_error``), each naming the first failing test, or "no
code block" (``no_answer``); ``error`` "sandbox error" (``sandbox_error``, retried
once first) or "bad test_cases" (``input_error``). A retry is counted on the
verdict (``retries``), whatever the second outcome.

>>> extract_code("Reasoning done.\n```python\nprint(1)\n```\nThat's it.")
'print(1)\n'
>>> outputs_match("1 2\r\n3.0000001  \n\n", "1 2\n3")
True
>>> values_match((1, [2.0]), [[1, [2]]])
True
>>> values_match(frozenset({1, 2}), [1, 2])  # a set is not a list
False
>>> verify_code({"solution": "no code here", "test_cases": "{}"}, {})
Verdict(status='fail', detail='no code block')
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import re
import signal
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raydistill.sandbox import Limits, Sandbox, SandboxUnavailable, TestRun, exchange
from raydistill.sandbox.exchange import TypeName, decode
from raydistill.verifiers import Verdict, register
from raydistill.verifiers.code_config import CodeSandboxConfig

logger = logging.getLogger(__name__)

# Verifier params come under params["code"]: the config section verify.code
# (raydistill.verifiers.code_config.CodeSandboxConfig, the one home of every default).
# A failure label of failure_of() -> its reason code (raydistill.reasons).
REASONS = {"time limit": "timeout", "memory limit": "runtime_error",
           "runtime error": "runtime_error", "output limit": "runtime_error",
           "wrong answer": "wrong_answer"}

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(?=[eE]))([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def extract_code(solution: str) -> str | None:
    """The last fenced Python (or untagged) code block, or None."""
    blocks = [body for tag, body in _FENCE.findall(solution) if tag.lower() in _PYTHON_TAGS]
    return blocks[-1] if blocks and blocks[-1].strip() else None


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _canonical_integer(token: str) -> str:
    """Compared as text: ``int()`` refuses over 4300 digits, and is quadratic anyway."""
    digits = token.lstrip("+-").lstrip("0") or "0"
    return digits if token[0] != "-" or digits == "0" else f"-{digits}"


def _numbers_close(a: str, b: str, tolerance: float) -> bool:
    if _INTEGER.fullmatch(a) and _INTEGER.fullmatch(b):
        return _canonical_integer(a) == _canonical_integer(b)
    numeric = (_DECIMAL.fullmatch(a) or _INTEGER.fullmatch(a)) and (
        _DECIMAL.fullmatch(b) or _INTEGER.fullmatch(b))
    if not numeric:
        return False
    x, y = float(a), float(b)  # a token past 1e308 is inf: only equal text matches it
    return math.isfinite(x) and math.isfinite(y) and math.isclose(
        x, y, rel_tol=tolerance, abs_tol=tolerance)


def outputs_match(actual: str, expected: str, tolerance: float = 1e-6) -> bool:
    """Printed output against the expected text, by the rules in the module docstring."""
    got, want = _lines(actual), _lines(expected)
    if len(got) != len(want):
        return False
    for line, target in zip(got, want, strict=True):
        if line == target:
            continue
        tokens, targets = line.split(), target.split()
        if len(tokens) != len(targets) or not all(
            t == u or _numbers_close(t, u, tolerance) for t, u in zip(tokens, targets, strict=True)
        ):
            return False
    return True


def _equal(actual: Any, expected: Any, tolerance: float) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, TooLongInt) or isinstance(expected, TooLongInt):
        return False  # expected values come from JSON: never past Python's digit limit
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        if isinstance(actual, int) and isinstance(expected, int):
            return actual == expected
        try:  # 10**400 where a float is expected: no float is that large
            x, y = float(actual), float(expected)
        except OverflowError:
            return False
        return math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(actual) == len(expected) and all(
            _equal(a, e, tolerance) for a, e in zip(actual, expected, strict=True))
    if isinstance(actual, dict) and isinstance(expected, dict):
        keyed = {str(k): v for k, v in expected.items()}
        return len(actual) == len(expected) and all(
            str(k) in keyed and _equal(v, keyed[str(k)], tolerance) for k, v in actual.items())
    if isinstance(actual, complex):
        return _complex_equal(actual, expected, tolerance)
    if isinstance(actual, (type, TypeName)) and isinstance(expected, str):
        name = actual.__name__ if isinstance(actual, type) else str(actual)
        return expected == f"<class '{name}'>"  # how JSON tests write a type: its str()
    return type(actual) is type(expected) and actual == expected


def _complex_equal(actual: complex, expected: Any, tolerance: float) -> bool:
    """A complex against a number (imaginary part zero) or its text (``"(1+2j)"``)."""
    if isinstance(expected, str):
        try:
            expected = complex(expected.replace(" ", ""))
        except ValueError:
            return False
    if isinstance(expected, bool) or not isinstance(expected, (int, float, complex)):
        return False
    try:
        target = complex(expected)
    except OverflowError:
        return False
    return all(math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance) for x, y in (
        (actual.real, target.real), (actual.imag, target.imag)))


class TooLongInt(str):
    """A returned integer past the digit limit of ``int()``, kept as its digits."""


def _parse_int(digits: str) -> int | TooLongInt:
    try:
        return int(digits)
    except ValueError:  # over sys.get_int_max_str_digits()
        return TooLongInt(digits)


def values_match(actual: Any, expected: Any, tolerance: float = 1e-6) -> bool:
    """A returned value against the expected one (bare or wrapped in a 1-element list)."""
    if _equal(actual, expected, tolerance):
        return True
    return isinstance(expected, list) and len(expected) == 1 and _equal(actual, expected[0],
                                                                         tolerance)


@dataclass(frozen=True)
class Suite:
    """The tests of one problem, split into what enters the sandbox and what does not."""

    mode: str  # stdio | call | assert
    tests: list[Any]  # stdin texts, argument lists or assert code: these go inside
    expected: list[Any]  # outputs or return values: these never do
    fn_name: str | None = None
    setup: str = ""
    entry_point: str | None = None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(map(str, value))
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def parse_tests(raw: Any, starter_code: str = "") -> Suite:
    """Read ``test_cases`` in any of the three formats; ValueError if malformed."""
    try:
        data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        if isinstance(data, dict) and "input_output" in data:
            data = json.loads(data["input_output"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("test_list"):
        setup = "\n".join(part for part in (data.get("test_setup_code") or "", starter_code)
                          if part and _compiles(part))
        return Suite("assert", [str(t) for t in data["test_list"]], [], setup=setup)
    if data.get("test") and data.get("entry_point"):
        test = f"{data['test']}\n\ncheck({data['entry_point']})\n"
        setup = starter_code if _compiles(starter_code) else ""
        return Suite("assert", [test], [], setup=setup, entry_point=str(data["entry_point"]))
    inputs, outputs = data.get("inputs"), data.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs:
        raise ValueError("needs inputs/outputs, fn_name, test_list or test+entry_point")
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    if data.get("fn_name"):
        if not all(isinstance(args, list) for args in inputs):
            raise ValueError("call-based inputs must be argument lists")
        return Suite("call", inputs, outputs, fn_name=str(data["fn_name"]))
    return Suite("stdio", [_text(i) for i in inputs], [_text(o) for o in outputs])


def _compiles(source: str) -> bool:
    try:
        compile(source, "<starter>", "exec")
    except (SyntaxError, ValueError):  # a signature without a body (LeetCode, APPS stubs)
        return False
    return True


def entry_name(suite: Suite) -> str | None:
    """The name the tests call: ``fn_name``, or the root of ``entry_point``.

    >>> entry_name(Suite("assert", [], [], entry_point="Solution().twoSum"))
    'Solution'
    """
    name = suite.fn_name or suite.entry_point
    found = re.match(r"[A-Za-z_]\w*", name or "")
    return found.group() if found else None


def wants_prelude(suite: Suite, program: str) -> bool:
    """Whether the program gets LeetCode's prelude (:data:`exchange.PRELUDE`).

    For call-based tests and ``Solution().f`` entries (LeetCode's formats), when
    the program mentions one of its names: its imports cost 60-75 ms of CPU a
    sandbox (measured on a loaded 2-core host).
    """
    leetcode = suite.mode == "call" or entry_name(suite) == "Solution" or (
        suite.mode == "assert" and suite.entry_point is not None
        and re.search(r"^class\s+Solution\b", program, re.M) is not None)
    return leetcode and not _names(program).isdisjoint(_prelude_names())


@functools.lru_cache(maxsize=1)
def _prelude_names() -> frozenset[str]:
    return frozenset(exchange.prelude())


def _names(program: str) -> set[str]:
    """Every global or attribute name the program's code mentions (annotations too)."""
    try:
        code = compile(program, "<program>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return set()  # it fails as it is, prelude or not
    names: set[str] = set()
    todo = [code]
    while todo:
        code = todo.pop()
        names.update(code.co_names)
        todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def _program(code: str, suite: Suite, starter: str) -> str:
    """What the candidate runs: the code, after the starter or the setup it relies on.

    A body without the signature goes under the starter's text. A whole program
    for assert tests comes after the setup (HumanEval's prompt, MBPP's setup
    code), as those harnesses run them (``prompt + completion``), so it may use
    the prompt's imports and helpers; a setup that does not compile alone (a bare
    signature) or that the program already holds is left out.
    """
    name = entry_name(suite)
    if starter and name and not re.search(
            rf"\bdef\s+{re.escape(name)}\b|\bclass\s+{re.escape(name)}\b|\bclass\s+Solution\b",
            code):
        code = f"{starter}\n{code}"
    setup = suite.setup.strip()
    if suite.mode == "assert" and setup and setup not in code and _compiles(setup):
        code = f"{suite.setup}\n{code}"
    return code


def _preview(data: bytes | str, size: int = 60) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= size else text[:size] + "...")


def _crash(stderr: bytes, fallback: str) -> tuple[str, str]:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    last = lines[-1] if lines else fallback
    label = "memory limit" if "MemoryError" in last or "Cannot allocate memory" in last else (
        "runtime error")
    return label, last[:200]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal the program sent itself
        return f"signal {number}"


def failure_of(run: TestRun, suite: Suite, limits: Limits,
               tolerance: float) -> tuple[str, str] | None:
    """``(label, detail)`` for a failed test, None for a passed one."""
    helper = run.helper or {}
    if run.timeout:
        return "time limit", f"over {limits.wall_s:g} s wall clock"
    for sig, cpu in ((run.signal, run.cpu_s), (helper.get("signal"), helper.get("cpu") or 0.0)):
        if sig == signal.SIGXCPU or cpu > limits.cpu_s or (
            sig == signal.SIGKILL and cpu >= math.ceil(limits.cpu_s)):
            return "time limit", f"over {limits.cpu_s:g} s CPU"
    if max(len(run.stdout), len(run.value)) > limits.max_output_bytes:
        return "output limit", f"over {limits.max_output_bytes} bytes"
    if suite.mode == "assert":
        verdict, _, message = run.value.decode("utf-8", "replace").partition(" ")
        if verdict == "pass":
            return None
        if verdict == "assert":
            return "wrong answer", f"assertion failed{': ' + message if message else ''}"
        if verdict == "output":
            return "output limit", message
        if verdict == "raised":
            return _crash(message.encode(), message)
        if helper.get("signal"):
            return "runtime error", f"killed by {_signal_name(helper['signal'])}"
        return _crash(run.stderr, message or "the test checker was killed")
    if run.signal is not None:
        label, _ = _crash(run.stderr, "")
        return label, f"killed by {_signal_name(run.signal)}"
    if run.exit_code:
        return _crash(run.stderr, f"exit code {run.exit_code}")
    expected = suite.expected[run.index]
    if suite.mode == "stdio":
        got = run.stdout.decode("utf-8", "replace")
        if not outputs_match(got, expected, tolerance):
            return "wrong answer", f"expected {_preview(expected)}, got {_preview(got)}"
        return None
    if not run.value:
        return "runtime error", "no return value"
    try:
        value = decode(run.value, parse_int=_parse_int)
    except ValueError:
        return "wrong answer", f"unreadable return value {_preview(run.value)}"
    if not values_match(value, expected, tolerance):
        want, got = _preview(json.dumps(expected)), _preview(repr(value))
        return "wrong answer", f"expected {want}, got {got}"
    return None


@functools.lru_cache(maxsize=8)
def _sandbox(limits: Limits, allow_weak: bool) -> Sandbox:
    return Sandbox(limits, allow_weak=allow_weak)


def _settings(given: Mapping[str, Any]) -> tuple[Limits, CodeSandboxConfig]:
    """``verify.code`` (a plain dict, possibly partial) as limits and the whole section."""
    config = CodeSandboxConfig(**given)
    return Limits.of(config), config


def preflight(given: Mapping[str, Any]) -> str | None:
    """Why this host cannot run code under ``given`` (``verify.code``); None if it can.

    Run before any work starts, so a host weaker than required fails the run at
    once instead of giving every code sample an ``error``.
    """
    limits, config = _settings(given)
    try:
        _sandbox(limits, config.allow_weak_sandbox)
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def sandbox_job(code: str, suite: Suite, starter: str, limits: Limits) -> dict[str, Any]:
    """The job :meth:`Sandbox.run` takes for ``code`` (the extracted program) on ``suite``."""
    program = _program(code, suite, starter)
    return {"mode": suite.mode, "program": program, "tests": suite.tests,
            "fn_name": suite.fn_name, "setup": suite.setup, "entry_point": suite.entry_point,
            "prelude": wants_prelude(suite, program), "cpu_s": limits.cpu_s,
            "wall_s": limits.wall_s, "max_output": limits.max_output_bytes}


def _run(sandbox: Sandbox, job: dict[str, Any], suite: Suite, tolerance: float) -> Verdict:
    limits, total = sandbox.limits, len(suite.tests)
    failures: list[Verdict] = []

    def on_record(run: TestRun) -> bool:
        problem = failure_of(run, suite, limits, tolerance)
        if problem is not None:
            label, detail = problem
            failures.append(Verdict("fail", f"{label} on test {run.index + 1}/{total}: {detail}",
                                    REASONS[label]))
        return problem is None

    outcome = sandbox.run(job, on_record)
    if failures:
        return failures[0]
    if outcome.total_timeout:
        return Verdict("fail", f"time limit: all tests together over {limits.total_wall_s:g} s",
                       "timeout")
    if outcome.sandbox_error:
        return Verdict("error", f"sandbox error: {outcome.sandbox_error}", "sandbox_error")
    if len(outcome.tests) != total:
        return Verdict("error", f"sandbox error: {len(outcome.tests)} of {total} tests reported",
                       "sandbox_error")
    return Verdict("pass", f"accepted ({total}/{total} tests)")


@register("code")
def verify_code(record: Mapping[str, Any], params: Mapping[str, Any]) -> Verdict:
    """Run the solution's program on every test of the problem."""
    code = extract_code(record.get("solution") or "")
    if code is None:
        return Verdict("fail", "no code block", "no_answer")
    starter = record.get("starter_code") or ""
    try:
        suite = parse_tests(record.get("test_cases"), starter)
    except (ValueError, TypeError, KeyError) as exc:
        return Verdict("error", f"bad test_cases: {exc}", "input_error")
    limits, config = _settings(params.get("code") or {})
    try:
        sandbox = _sandbox(limits, config.allow_weak_sandbox)
    except SandboxUnavailable as exc:
        return Verdict("error", f"sandbox error: {exc}", "sandbox_error")
    job = sandbox_job(code, suite, starter, limits)
    verdict = _run(sandbox, job, suite, config.float_tolerance)
    if verdict.status == "error":
        logger.warning("sandbox failed, retrying once: %s", verdict.detail)
        verdict = _run(sandbox, job, suite, config.float_tolerance)
        if verdict.status == "error":
            return dataclasses.replace(verdict, detail=f"{verdict.detail} (retried once)",
                                       retries=1)
        return dataclasses.replace(verdict, retries=1)  # counted in the run summary
    return verdict
