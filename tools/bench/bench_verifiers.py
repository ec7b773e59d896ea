"""Verifier throughput on one core: math on R1-style responses, code with full isolation.

    python tools/bench/bench_verifiers.py [--math 2000] [--solutions 20] [--reasoning-chars 10000]
                                    [--math-only | --code-only [--against REV [--rounds 3]]]

Math: R1-style responses (a ``<think>`` block of ``--reasoning-chars`` characters
of working, numbers and a decoy ``\\boxed{}`` included, then the final answer in
the forms the verifier reads), half right and half wrong, checked by the registered
``math`` verifier exactly as the pipeline does: split at ``</think>``, then the
math-verify child process with its deadline. Parent and child alternate, so this is
one core's worth of work. Throughput is given per wall-clock second and per CPU
second (this process and its children, sandboxes included): on a shared, loaded
machine the second is the per-core figure. The in-process comparison (no child) is shown for the
cost of the process boundary.

Code: solutions that read a number and print its double, run by the registered
``code`` verifier (bubblewrap, seccomp, a uid per slot, a fork per test) on
suites of 1, 10 and 100 stdin/stdout tests, then MBPP-style suites of 3 asserts;
one solution at a time, so one slot.
Every verdict is checked against the expected one, so a broken verifier cannot
look fast.

``--against REV`` compares the code figures with another revision in one run: it
exports REV's ``raydistill`` (``git archive``) into a temporary folder and runs
this same code benchmark alternately with that package and with this tree's
(``PYTHONPATH``), ``--rounds`` times each, then prints the medians and their
ratio (this tree / REV), so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from raydistill import verifiers
from raydistill.sandbox import probe

ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time of this process and its reaped children, plus a live child ``pid``'s."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    if pid is not None:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total

FORMS = ["The answer is $\\boxed{{{n}}}$.", "So the answer is {n}.", "**{n}**", "#### {n}",
         "A: {n}", "The total is \\boxed{{{n:,}}} dollars."]


def r1_response(rng: random.Random, answer: int, given: int, chars: int) -> str:
    steps = []
    while sum(map(len, steps)) < chars:
        a, b = rng.randint(1, 999), rng.randint(1, 999)
        steps.append(f"Let me compute {a} + {b} = {a + b}. Wait, let me double-check "
                     f"that: {a + b} - {b} = {a}, yes. ")
    steps.insert(len(steps) // 2, f"Maybe it is \\boxed{{{answer + 1}}}? No. ")
    form = rng.choice(FORMS).format(n=given)
    return f"<think>\n{''.join(steps)[:chars]}\n</think>\n\n{form}"


def bench_math(count: int, chars: int) -> None:
    from raydistill.parsing import split_response
    from raydistill.verifiers.math_child import checker
    from raydistill.verifiers.math_compare import compare

    rng = random.Random(0)
    cases = []
    for i in range(count):
        answer = rng.randint(10, 99_999)
        right = i % 2 == 0
        response = r1_response(rng, answer, answer if right else answer + 7, chars)
        cases.append(({"ground_truth_solution": f"work\n#### {answer}"}, response, right))
    check = verifiers.get("math")
    params = {"math_timeout_s": 5.0}
    check({"ground_truth_solution": "#### 1", "solution": "1"}, params)  # start the child

    pid = checker().proc.pid  # type: ignore[union-attr]
    start, cpu = time.perf_counter(), cpu_seconds(pid)
    for gold, response, right in cases:
        record = {**gold, "solution": split_response(response).solution}
        verdict = check(record, params)
        if verdict.passed != right:
            raise SystemExit(f"wrong verdict {verdict} for {response[-60:]!r}")
    child, child_cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu

    compare("#### 1", "1")  # import math-verify and sympy here before timing
    start, cpu = time.perf_counter(), cpu_seconds()
    for gold, response, _ in cases[: count // 4]:
        compare(gold["ground_truth_solution"], split_response(response).solution)
    inline, inline_cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"math, {count} R1-style responses, {chars}-char reasoning (half right):")
    print(f"  {'way':<28}{'per wall s':>12}{'per CPU s':>12}")
    print(f"  {'through the child process':<28}{count / child:>12.0f}{count / child_cpu:>12.0f}")
    inline_count = count // 4
    print(f"  {'in process (no deadline)':<28}{inline_count / inline:>12.0f}"
          f"{inline_count / inline_cpu:>12.0f}")


def _timed(check, record: dict[str, str], rounds: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``rounds`` passing verifications of ``record``."""
    check(record, {})  # warm the page cache and the probe
    start, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(rounds):
        verdict = check(record, {})
        if not verdict.passed:
            raise SystemExit(f"wrong verdict {verdict}")
    return time.perf_counter() - start, cpu_seconds() - cpu


def bench_code(solutions: int, quiet: bool = False) -> dict[str, float]:
    """Code tests per wall second by suite (``"1"``, ``"10"``, ``"100"``, ``"mbpp"``)."""
    check = verifiers.get("code")
    code = "```python\nprint(int(input()) * 2)\n```"
    say = (lambda *a: None) if quiet else print
    say(f"code, isolation {probe()}:")
    figures = {}
    for per_suite in (1, 10, 100):
        tests = {"inputs": [f"{i}\n" for i in range(per_suite)],
                 "outputs": [f"{2 * i}\n" for i in range(per_suite)]}
        rounds = max(2, solutions // max(1, per_suite // 10))
        seconds, used = _timed(check, {"solution": code, "test_cases": json.dumps(tests)}, rounds)
        count = rounds * per_suite
        figures[str(per_suite)] = count / seconds
        say(f"  {per_suite:>3} tests x {rounds:>3} solutions  {count / seconds:6.0f} tests/wall s"
            f"  {count / used:6.0f} tests/CPU s  {seconds / rounds * 1e3:7.1f} ms/solution")
    # MBPP-style asserts: a candidate and a checker process per test
    record = {"solution": "```python\ndef double(x):\n    return 2 * x\n```",
              "test_cases": json.dumps({"test_list": [f"assert double({i}) == {2 * i}"
                                                      for i in range(3)]})}
    seconds, _ = _timed(check, record, solutions)
    figures["mbpp"] = 3 * solutions / seconds
    say(f"    3 asserts x {solutions:>3} solutions  {3 * solutions / seconds:6.0f} tests/wall s"
        f"  {seconds / solutions * 1e3:7.1f} ms/solution (MBPP style)")
    return figures


def _export(rev: str, into: str) -> None:
    """``raydistill/`` of git revision ``rev`` into the folder ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "raydistill"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def compare_code(rev: str, rounds: int, solutions: int) -> None:
    """This tree's code figures against ``rev``'s, alternating, medians and ratios."""
    runs: dict[str, list[dict[str, float]]] = {rev: [], "this tree": []}
    with tempfile.TemporaryDirectory(prefix="bench-before-") as before:
        _export(rev, before)
        for i in range(rounds):
            for name, path in ((rev, before), ("this tree", str(ROOT))):
                out = subprocess.run(
                    [sys.executable, __file__, "--code-only", "--json",
                     "--solutions", str(solutions)],
                    env={**os.environ, "PYTHONPATH": path}, cwd=path, check=True,
                    capture_output=True, text=True).stdout
                runs[name].append(json.loads(out.splitlines()[-1]))
                print(f"round {i + 1} {name}: {runs[name][-1]}", flush=True)
    print(f"code tests per wall second, median of {rounds} alternating rounds:")
    print(f"  {'suite':<22}{rev[:12]:>12}{'this tree':>12}{'ratio':>8}")
    for suite in runs[rev][0]:
        old = statistics.median(run[suite] for run in runs[rev])
        new = statistics.median(run[suite] for run in runs["this tree"])
        label = f"{suite} tests/solution" if suite != "mbpp" else "MBPP, 3 asserts"
        print(f"  {label:<22}{old:>12.1f}{new:>12.1f}{new / old:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--math", type=int, default=2000)
    parser.add_argument("--reasoning-chars", type=int, default=10_000)
    parser.add_argument("--solutions", type=int, default=20)
    parser.add_argument("--math-only", action="store_true", help="skip the code sandbox part")
    parser.add_argument("--code-only", action="store_true", help="skip the math part")
    parser.add_argument("--against", metavar="REV", help="compare code figures with git REV")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --against")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.against:
        compare_code(args.against, args.rounds, args.solutions)
        return
    if not args.code_only:
        bench_math(args.math, args.reasoning_chars)
    if not args.math_only:
        figures = bench_code(args.solutions, quiet=args.json)
        if args.json:
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
