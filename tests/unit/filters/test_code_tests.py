"""Reference solutions run in the real sandbox against APPS/TACO-style tests where
some tests are wrong on purpose: the wrong ones are marked broken, the rest not.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from raydistill import records
from raydistill.filters.code_tests import TestChecker, check_tests, drop_tests
from raydistill.verifiers.code_config import CodeSandboxConfig

pytestmark = pytest.mark.slow

SUM = "a, b = map(int, input().split())\nprint(a + b)\n"


def apps_row(pid: str, tests: dict, solution: str = SUM) -> dict:
    row = {n: None for n in records.PROBLEM.names}
    row.update(problem_id=pid, source="apps_like", source_index=0, domain="code",
               problem="Add two numbers.", ground_truth_solution=solution,
               test_cases=json.dumps(tests), starter_code="")
    return row


def test_wrong_stdio_tests_are_marked_broken():
    tests = {"inputs": ["1 2\n", "3 4\n", "10 20\n", "0 0\n"],
             "outputs": ["3\n", "8\n", "30\n", "1\n"]}  # tests 2 and 4 are wrong
    result = check_tests(apps_row("p", tests), {})
    assert result == {"tests": 4, "broken": [1, 3], "error": None}
    kept = json.loads(drop_tests(json.dumps(tests), result["broken"]))
    assert kept == {"inputs": ["1 2\n", "10 20\n"], "outputs": ["3\n", "30\n"]}


def test_call_based_tests_and_a_clean_suite():
    tests = {"fn_name": "double", "inputs": [[1], [2], [5]], "outputs": [2, 4, 11]}
    code = "def double(x):\n    return 2 * x\n"
    assert check_tests(apps_row("q", tests, code), {})["broken"] == [2]
    clean = {"inputs": ["2 2\n"], "outputs": ["4\n"]}
    assert check_tests(apps_row("r", clean), {})["broken"] == []


def test_checker_reports_per_problem_and_skips_what_it_cannot_check():
    rows = [apps_row("a", {"inputs": ["1 1\n", "2 2\n"], "outputs": ["2\n", "5\n"]}),
            apps_row("b", {"inputs": ["1 1\n"], "outputs": ["2\n"]}, solution=""),
            {**apps_row("c", {"inputs": ["1 1\n"], "outputs": ["2\n"]}), "domain": "math"}]
    checker = TestChecker(CodeSandboxConfig())
    out = checker(pa.Table.from_pylist(rows, schema=records.PROBLEM)).to_pylist()
    assert [(r["problem_id"], r["tests"], json.loads(r["broken"])) for r in out] == [
        ("a", 2, [1])]
