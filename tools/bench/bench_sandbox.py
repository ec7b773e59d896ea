"""Milliseconds per test: one sandbox per solution (fork per test) vs one per test.

    python tools/bench/bench_sandbox.py [--tests 200]

Runs a trivial stdin/stdout program (``print(int(input()) + 1)``) with full
isolation (namespaces, seccomp, a uid per slot), so the figures are the
sandbox's own overhead, and prints one table with both ways and their ratio.
"""

from __future__ import annotations

import argparse
import time

from raydistill.sandbox import Limits, Sandbox

PROGRAM = "print(int(input()) + 1)\n"


def job(inputs: list[str]) -> dict[str, object]:
    limits = Limits()
    return {"mode": "stdio", "program": PROGRAM, "tests": inputs, "cpu_s": limits.cpu_s,
            "wall_s": limits.wall_s, "max_output": limits.max_output_bytes}


def check(outcome_tests: list, inputs: list[str]) -> None:
    got = [int(run.stdout) for run in outcome_tests]
    if got != [int(i) + 1 for i in inputs]:
        raise SystemExit("wrong outputs: the benchmark is not measuring what it claims")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()
    sandbox = Sandbox()
    print(f"isolation: {sandbox.isolation}")
    inputs = [f"{i}\n" for i in range(args.tests)]
    sandbox.run(job(inputs[:1]))  # warm caches (page cache, probe)

    start = time.perf_counter()
    outcome = sandbox.run(job(inputs))
    per_solution = (time.perf_counter() - start) / args.tests
    check(outcome.tests, inputs)

    singles = inputs[: max(1, args.tests // 4)]  # 4x fewer: each costs a whole sandbox
    start = time.perf_counter()
    runs = [sandbox.run(job([text])).tests[0] for text in singles]
    per_test = (time.perf_counter() - start) / len(singles)
    check(runs, singles)

    print(f"{'way':<34}{'tests':>7}{'ms/test':>10}{'tests/s':>10}{'ratio':>8}")
    for name, count, seconds in (
        ("one sandbox per solution (fork)", args.tests, per_solution),
        ("one sandbox per test", len(singles), per_test),
    ):
        print(f"{name:<34}{count:>7}{seconds * 1e3:>10.2f}{1 / seconds:>10.0f}"
              f"{seconds / per_solution:>8.1f}")


if __name__ == "__main__":
    main()
