"""Code problems' tests checked against their reference solution, before any generation.

APPS and TACO ship tests that their own solutions fail (a wrong expected output,
a truncated input). A sample failing such a test is thrown away for nothing, and
a sample passing the rest is trusted on tests nobody checked. Each code problem
whose row carries a reference solution (``ground_truth_solution``: APPS/TACO's
first ``solutions`` entry, HumanEval's ``canonical_solution``, MBPP's ``code``)
runs it in the sandbox (:mod:`raydistill.sandbox`, same limits as the verifier)
on every test; a test it fails is broken. A sandbox failure is an error and
marks nothing broken: infrastructure never condemns a test.

>>> drop_tests('{"inputs": ["1", "2", "3"], "outputs": ["1", "x", "3"]}', [1])
'{"inputs": ["1", "3"], "outputs": ["1", "3"]}'
>>> drop_tests('{"test_list": ["assert f(1)", "assert f(2)"]}', [0])
'{"test_list": ["assert f(2)"]}'
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from raydistill.sandbox import SandboxUnavailable, TestRun
from raydistill.verifiers.code import (
    _sandbox,
    _settings,
    extract_code,
    failure_of,
    parse_tests,
    sandbox_job,
)
from raydistill.verifiers.code_config import CodeSandboxConfig

logger = logging.getLogger(__name__)

CHECKED = pa.schema([
    ("problem_id", pa.string()),
    ("source", pa.string()),
    ("tests", pa.int64()),
    # JSON list of the 0-based indices of broken tests.
    ("broken", pa.string()),
    # Why the check could not run (sandbox error, unreadable tests); null when it ran.
    ("error", pa.string()),
])


def check_tests(record: Mapping[str, Any], sandbox_params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the reference solution on each test: ``{tests, broken, error}``."""
    starter = record.get("starter_code") or ""
    try:
        suite = parse_tests(record.get("test_cases"), starter)
    except (ValueError, TypeError, KeyError) as exc:
        return {"tests": 0, "broken": [], "error": f"bad test_cases: {exc}"}
    gold = record.get("ground_truth_solution") or ""
    code = extract_code(gold) if "```" in gold else gold
    if not code:
        return {"tests": len(suite.tests), "broken": [], "error": "no reference solution"}
    limits, settings = _settings(sandbox_params)
    try:
        sandbox = _sandbox(limits, settings.allow_weak_sandbox)
    except SandboxUnavailable as exc:
        return {"tests": len(suite.tests), "broken": [], "error": f"sandbox error: {exc}"}
    job = sandbox_job(code, suite, starter, limits)
    broken: list[int] = []
    tolerance = settings.float_tolerance

    def on_record(run: TestRun) -> bool:
        if failure_of(run, suite, limits, tolerance) is not None:
            broken.append(run.index)
        return True  # every test is run: one broken test says nothing of the next

    outcome = sandbox.run(job, on_record)
    if outcome.sandbox_error or len(outcome.tests) != len(suite.tests):
        error = outcome.sandbox_error or f"{len(outcome.tests)} of {len(suite.tests)} reported"
        return {"tests": len(suite.tests), "broken": [], "error": f"sandbox error: {error}"}
    return {"tests": len(suite.tests), "broken": sorted(broken), "error": None}


def drop_tests(test_cases: str, broken: list[int]) -> str:
    """``test_cases`` without the tests at ``broken`` (same format)."""
    data = json.loads(test_cases)
    wrapped = isinstance(data, dict) and "input_output" in data
    inner = json.loads(data["input_output"]) if wrapped else data
    gone = set(broken)
    for key in ("inputs", "outputs", "test_list"):
        if isinstance(inner.get(key), list):
            inner[key] = [v for i, v in enumerate(inner[key]) if i not in gone]
    if wrapped:
        data["input_output"] = json.dumps(inner)
        return json.dumps(data)
    return json.dumps(inner)


class TestChecker:
    """Ray Data actor: the code problems of a batch with their broken tests."""

    __test__ = False  # not a pytest class

    def __init__(self, sandbox: CodeSandboxConfig) -> None:
        # check_tests, a pure function, takes the section as plain data.
        self.params = dataclasses.asdict(sandbox)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Check every code problem of ``batch`` that has tests and a reference solution."""
        out: list[dict[str, Any]] = []
        for row in batch.to_pylist():
            if (row["domain"] != "code" or row["input_error"] is not None
                    or not row["test_cases"] or not row["ground_truth_solution"]):
                continue
            result = check_tests(row, self.params)
            if result["error"]:
                logger.warning("tests of %s not checked: %s", row["problem_id"], result["error"])
            out.append({"problem_id": row["problem_id"], "source": row["source"],
                        "tests": result["tests"], "broken": json.dumps(result["broken"]),
                        "error": result["error"]})
        return pa.Table.from_pylist(out, schema=CHECKED)
