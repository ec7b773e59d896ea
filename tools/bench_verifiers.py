"""Verifier throughput on one core: math on R1-style responses, code with full isolation.

    python tools/bench_verifiers.py [--math 2000] [--solutions 20] [--reasoning-chars 10000]
                                    [--math-only]

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
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time

from raydistill import verifiers
from raydistill.parsing import split_response
from raydistill.sandbox import probe
from raydistill.verifiers.math_child import checker
from raydistill.verifiers.math_compare import compare


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


def bench_code(solutions: int) -> None:
    check = verifiers.get("code")
    code = "```python\nprint(int(input()) * 2)\n```"
    print(f"code, isolation {probe()}:")
    for per_suite in (1, 10, 100):
        tests = {"inputs": [f"{i}\n" for i in range(per_suite)],
                 "outputs": [f"{2 * i}\n" for i in range(per_suite)]}
        record = {"solution": code, "test_cases": json.dumps(tests)}
        check(record, {})  # warm the page cache and the probe
        rounds = max(2, solutions // max(1, per_suite // 10))
        start, cpu = time.perf_counter(), cpu_seconds()
        for _ in range(rounds):
            verdict = check(record, {})
            if not verdict.passed:
                raise SystemExit(f"wrong verdict {verdict}")
        seconds, used = time.perf_counter() - start, cpu_seconds() - cpu
        tests = rounds * per_suite
        print(f"  {per_suite:>3} tests x {rounds:>3} solutions  {tests / seconds:6.0f} tests/wall s"
              f"  {tests / used:6.0f} tests/CPU s  {seconds / rounds * 1e3:7.1f} ms/solution")
    # MBPP-style asserts: a candidate and a checker process per test
    record = {"solution": "```python\ndef double(x):\n    return 2 * x\n```",
              "test_cases": json.dumps({"test_list": [f"assert double({i}) == {2 * i}"
                                                      for i in range(3)]})}
    check(record, {})
    start = time.perf_counter()
    for _ in range(solutions):
        verdict = check(record, {})
        if not verdict.passed:
            raise SystemExit(f"wrong verdict {verdict}")
    seconds = time.perf_counter() - start
    print(f"    3 asserts x {solutions:>3} solutions  {3 * solutions / seconds:6.0f} tests/wall s"
          f"  {seconds / solutions * 1e3:7.1f} ms/solution (MBPP style)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--math", type=int, default=2000)
    parser.add_argument("--reasoning-chars", type=int, default=10_000)
    parser.add_argument("--solutions", type=int, default=20)
    parser.add_argument("--math-only", action="store_true", help="skip the code sandbox part")
    args = parser.parse_args()
    bench_math(args.math, args.reasoning_chars)
    if not args.math_only:
        bench_code(args.solutions)


if __name__ == "__main__":
    main()
