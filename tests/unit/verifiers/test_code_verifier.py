"""The code verifier: formats, comparison rules, verdict taxonomy, code extraction.

Pure functions are tested directly; whole verdicts go through the real sandbox.
"""

from __future__ import annotations

import json

import pytest

from raydistill import verifiers
from raydistill.sandbox import RunOutcome, Sandbox
from raydistill.verifiers import Verdict
from raydistill.verifiers.code import extract_code, outputs_match, parse_tests, values_match

LIMITS = {"cpu_s": 1.0, "wall_s": 2.0, "total_wall_s": 10.0, "memory_mb": 256,
          "max_output_bytes": 1 << 16}


def check(code: str, tests: dict | str, starter: str = "") -> Verdict:
    record = {"solution": f"Here it is.\n```python\n{code}\n```\n",
              "test_cases": tests if isinstance(tests, str) else json.dumps(tests),
              "starter_code": starter}
    return verifiers.get("code")(record, {"code": LIMITS})


@pytest.mark.parametrize("solution, code", [
    ("```python\nprint(1)\n```", "print(1)\n"),
    ("```\nprint(2)\n```", "print(2)\n"),
    ("```py\nx\n```\ntext\n```Python3\nlast\n```", "last\n"),
    ("```python\nfirst\n```\nthen output:\n```text\n42\n```", "first\n"),
    ("  ```python\n  indented\n  ```", "  indented\n"),
    ("no block at all", None),
    ("```python\nunterminated", None),
    ("```python\n```", None),
    ("```cpp\nint main(){}\n```", None),
])
def test_extract_code(solution, code):
    assert extract_code(solution) == code


@pytest.mark.parametrize("actual, expected, same", [
    ("1 2\n", "1 2", True),
    ("1 2\r\n3\r\n", "1 2\n3\n", True),
    ("1 2   \n3\t\n\n\n", "1 2\n3", True),
    ("1  2\n", "1 2\n", True),  # whitespace between tokens
    ("0.3333333\n", "0.333333333", True),
    ("1e-7\n", "0.0\n", True),
    ("2.5\n", "2.6\n", False),
    ("1000000007\n", "1000000008\n", False),  # integers exactly, never with tolerance
    ("3\n", "3.0\n", True),
    ("1 2\n", "1 2\n3\n", False),  # every expected line is required
    ("1 2\n3\n", "1 2\n", False),  # and no extra line
    ("\n1\n", "1\n", False),  # leading blank lines count
    ("YES\n", "yes\n", False),
    ("nan\n", "nan\n", True),
    ("", "", True),
])
def test_outputs_match(actual, expected, same):
    assert outputs_match(actual, expected) is same


@pytest.mark.parametrize("actual, expected, same", [
    (3, 3, True),
    (3, [3], True),  # TACO wraps return values in a list
    ([1, 2], [[1, 2]], True),
    ((1, 2), [1, 2], True),  # tuples compare as lists
    (0.1 + 0.2, 0.3, True),
    (True, 1, False),  # bools only match bools
    (1, True, False),
    ("1", 1, False),
    (None, None, True),
    ({"a": 1}, {"a": 1}, True),
    ({1: "x"}, {"1": "x"}, True),  # JSON object keys are strings
    (frozenset({1, 2}), [2, 1], False),  # a set is not a list: order and duplicates count
    (frozenset({1, 2}), [1, 2], False),
    ([1, 2], [2, 1], False),
])
def test_values_match(actual, expected, same):
    assert values_match(actual, expected) is same


@pytest.mark.parametrize("raw, mode, count", [
    ({"inputs": ["1\n", ["2", "3"]], "outputs": ["1", "2"]}, "stdio", 2),
    ({"input_output": json.dumps({"inputs": ["1"], "outputs": ["1"]})}, "stdio", 1),
    ({"fn_name": "f", "inputs": [[1, 2]], "outputs": [3]}, "call", 1),
    ({"test": "def check(candidate): pass", "entry_point": "f"}, "assert", 1),
    ({"test_list": ["assert f() == 1", "assert f() != 2"]}, "assert", 2),
])
def test_parse_formats(raw, mode, count):
    suite = parse_tests(json.dumps(raw))
    assert suite.mode == mode and len(suite.tests) == count


@pytest.mark.parametrize("raw", [
    "not json", "[1, 2]", json.dumps({}), json.dumps({"inputs": ["1"], "outputs": []}),
    json.dumps({"inputs": [], "outputs": []}),
    json.dumps({"fn_name": "f", "inputs": ["1"], "outputs": [1]}),
])
def test_bad_test_cases_are_errors(raw):
    verdict = check("print(1)", raw)
    assert verdict.status == "error" and verdict.detail.startswith("bad test_cases")


STDIO = {"inputs": ["2\n", "5\n"], "outputs": ["4\n", "10\n"]}
CALL = {"fn_name": "double", "inputs": [[2], [5]], "outputs": [4, [10]]}
HUMANEVAL = {"test": "def check(candidate):\n    assert candidate(2) == 4\n"
                     "    assert candidate(5) == 10\n", "entry_point": "double"}
MBPP = {"test_list": ["assert double(2) == 4", "assert double(5) == 10"],
        "test_setup_code": "import math"}
DOUBLE = "def double(x):\n    return x * 2\n"


@pytest.mark.parametrize("code, tests, starter, expected", [
    ("print(int(input()) * 2)", STDIO, "", Verdict("pass", "accepted (2/2 tests)")),
    ("import sys\nprint(int(sys.stdin.read()) * 2)", STDIO, "",
     Verdict("pass", "accepted (2/2 tests)")),
    ("print(int(input()) + 2)", STDIO, "",
     Verdict("fail", "wrong answer on test 2/2: expected '10\\n', got '7\\n'")),
    ("import threading\nthreading.Thread(target=lambda: print(int(input()) * 2)).start()",
     STDIO, "", Verdict("pass", "accepted (2/2 tests)")),  # CPython joins threads at exit
    ("exit(print(int(input()) * 2))", STDIO, "", Verdict("pass", "accepted (2/2 tests)")),
    (DOUBLE, CALL, "", Verdict("pass", "accepted (2/2 tests)")),
    ("class Solution:\n    def double(self, x):\n        return x * 2", CALL, "",
     Verdict("pass", "accepted (2/2 tests)")),
    ("    return x * 2", CALL, "def double(x):", Verdict("pass", "accepted (2/2 tests)")),
    ("def double(x):\n    return str(x * 2)", CALL, "",
     Verdict("fail", "wrong answer on test 1/2: expected '4', got \"'4'\"")),
    ("def double(x):\n    return object()", CALL, "", "runtime error on test 1/2: TypeError"),
    (DOUBLE, HUMANEVAL, "", Verdict("pass", "accepted (1/1 tests)")),
    ("def double(x):\n    return x + 2", HUMANEVAL, "",
     Verdict("fail", "wrong answer on test 1/1: assertion failed")),
    (DOUBLE, MBPP, "", Verdict("pass", "accepted (2/2 tests)")),
    ("def double(x):\n    return x + 2", MBPP, "",
     Verdict("fail", "wrong answer on test 2/2: assertion failed")),
    ("def double(x):\n    return x // 0", MBPP, "",
     "runtime error on test 1/2: ZeroDivisionError: integer division or modulo by zero"),
    ("def abs(x):\n    return 0\ndef double(x):\n    return 0",
     {"test_list": ["assert abs(double(1) - 2) < 1"]}, "", "wrong answer"),  # no shadowing
])
def test_formats_end_to_end(code, tests, starter, expected):
    verdict = check(code, tests, starter)
    if isinstance(expected, str):
        assert verdict.status == "fail" and verdict.detail.startswith(expected), verdict
    else:
        assert verdict == expected


@pytest.mark.parametrize("code, label", [
    ("while True: pass", "time limit"),
    ("x = bytearray(1 << 40)", "memory limit"),
    ("1 / 0", "runtime error"),
    ("import os; os.abort()", "runtime error"),
    ("print('x' * (1 << 20))", "output limit"),
    ("syntax error here", "runtime error"),
])
def test_taxonomy(code, label):
    verdict = check(code, STDIO)
    assert verdict.status == "fail" and verdict.detail.startswith(f"{label} on test 1/2"), verdict


def test_no_code_block_fails():
    record = {"solution": "I think the answer is 4.", "test_cases": json.dumps(STDIO)}
    assert verifiers.get("code")(record, {"code": LIMITS}) == Verdict("fail", "no code block",
                                                                  "no_answer")


def test_sandbox_errors_are_retried_once_then_reported(monkeypatch):
    calls = []

    def broken(self, job, on_record=None):
        calls.append(job)
        return RunOutcome(sandbox_error="bwrap: setting up uid map: Permission denied")

    monkeypatch.setattr(Sandbox, "run", broken)
    verdict = check(DOUBLE, CALL)
    assert len(calls) == 2
    assert verdict.status == "error"
    assert verdict.detail == ("sandbox error: bwrap: setting up uid map: Permission denied"
                              " (retried once)")
    assert verdict.retries == 1


def test_a_sandbox_error_retried_into_a_verdict_is_counted(monkeypatch):
    real_run, calls = Sandbox.run, []

    def flaky(self, job, on_record=lambda run: True):
        calls.append(job)
        if len(calls) == 1:
            return RunOutcome(sandbox_error="bwrap: Creating new namespace failed")
        return real_run(self, job, on_record)

    monkeypatch.setattr(Sandbox, "run", flaky)
    verdict = check(DOUBLE, CALL)
    assert len(calls) == 2
    assert verdict == Verdict("pass", "accepted (2/2 tests)") and verdict.retries == 1
    assert check(DOUBLE, CALL).retries == 0


def test_preflight_refuses_a_weak_host_unless_allowed(monkeypatch):
    from raydistill import sandbox
    from raydistill.verifiers import code

    code._sandbox.cache_clear()
    assert code.preflight(LIMITS) is None  # this host: full isolation
    weak = sandbox.Isolation(True, False, False, detail="test")
    monkeypatch.setattr(sandbox, "probe", lambda: weak)
    code._sandbox.cache_clear()
    try:
        problem = code.preflight(LIMITS)
        assert problem and "missing seccomp, distinct_uid" in problem
        assert "allow_weak_sandbox" in problem
        assert code.preflight({**LIMITS, "allow_weak_sandbox": True}) is None
        verdict = check(DOUBLE, CALL)  # what each sample would get without the preflight
        assert verdict.status == "error" and "weaker than required" in verdict.detail
    finally:
        code._sandbox.cache_clear()
