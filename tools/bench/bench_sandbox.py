"""Milliseconds per test: one sandbox per solution (fork per test) vs one per test.

    python tools/bench/bench_sandbox.py [--tests 200]
    python tools/bench/bench_sandbox.py --neighbours 4 [--seconds 30] [--neighbour-seconds 4]
                                        [--against REV]

Runs a trivial stdin/stdout program (``print(int(input()) + 1)``) with full
isolation (namespaces, seccomp, a uid per slot), so the figures are the
sandbox's own overhead, and prints one table with both ways and their ratio.

``--neighbours N`` is issue 25's reproduction, without Ray: one checker process
runs the registered ``code`` verifier on HumanEval's canonical solutions
(``data/humaneval``, all of which pass) for ``--seconds``, while N neighbour
processes, started one after another over that time, each check solutions for
``--neighbour-seconds`` and exit normally. Every process shares the host's
sandbox slots, as verifier replicas on one node do. It prints each process's
checks and how many came back ``error`` (or raised) instead of ``pass``, and a
last JSON line; ``--against REV`` first runs the same with REV's ``raydistill``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from raydistill.sandbox import Limits, Sandbox

ROOT = Path(__file__).resolve().parents[2]
HUMANEVAL = ROOT / "data" / "humaneval" / "test.jsonl"

PROGRAM = "print(int(input()) + 1)\n"


def job(inputs: list[str]) -> dict[str, object]:
    limits = Limits()
    return {"mode": "stdio", "program": PROGRAM, "tests": inputs, "cpu_s": limits.cpu_s,
            "wall_s": limits.wall_s, "max_output": limits.max_output_bytes}


def check(outcome_tests: list, inputs: list[str]) -> None:
    got = [int(run.stdout) for run in outcome_tests]
    if got != [int(i) + 1 for i in inputs]:
        raise SystemExit("wrong outputs: the benchmark is not measuring what it claims")


def humaneval_records() -> list[dict[str, Any]]:
    """HumanEval's problems as code rows, each with its canonical solution as the answer."""
    from raydistill.sources.presets import PRESETS

    records = []
    for line in HUMANEVAL.read_text().splitlines():
        raw = json.loads(line)
        solution = f"```python\n{raw['prompt']}{raw['canonical_solution']}```\n"
        records.append({**PRESETS["humaneval"].map(raw), "solution": solution})
    return records


def check_for(seconds: float, start: int) -> dict[str, Any]:
    """Check canonical solutions in a loop for ``seconds``; counts of each outcome."""
    from raydistill import verifiers

    verify, records = verifiers.get("code"), humaneval_records()
    counts: dict[str, Any] = {"checks": 0, "pass": 0, "fail": 0, "error": 0, "first": None}
    deadline, i = time.monotonic() + seconds, start
    while time.monotonic() < deadline:
        try:
            verdict = verify(records[i % len(records)], {"code": {}})
            status, detail = verdict.status, verdict.detail
        except Exception as exc:  # noqa: BLE001 - a crash is what the pipeline counts as error
            status, detail = "error", f"verifier crashed: {exc!r}"
        counts["checks"] += 1
        counts[status] += 1
        if status != "pass" and counts["first"] is None:
            counts["first"] = detail[:300]
        i += 1
    return counts


def neighbours(count: int, seconds: float, neighbour_seconds: float, package: str
               ) -> dict[str, Any]:
    """One checker for ``seconds`` and ``count`` neighbours, started one after another.

    Each process's counts: checks, pass, fail, error and the first non-pass detail.
    """
    env = {**os.environ, "PYTHONPATH": package}

    def role(name: str, how_long: float, start: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, __file__, "--role", name, "--seconds", str(how_long),
             "--start", str(start)], env=env, cwd=package, stdout=subprocess.PIPE, text=True)

    checker = role("checker", seconds, 0)
    started = time.monotonic()
    # the last neighbour exits well before the checker ends (~3 s to import and probe)
    gap = max(0.5, (seconds - neighbour_seconds - 6.0) / max(1, count))
    procs = {}
    for n in range(1, count + 1):
        time.sleep(max(0.0, started + 1.0 + (n - 1) * gap - time.monotonic()))
        procs[f"neighbour {n}"] = role(f"neighbour {n}", neighbour_seconds, 17 * n)
    procs["checker"] = checker
    results = {}
    for name, proc in procs.items():
        out, _ = proc.communicate()
        results[name] = _last_json(out, proc.returncode)
    return results


def _last_json(out: str, code: int) -> dict[str, Any]:
    lines = out.strip().splitlines()
    if code != 0 or not lines:
        return {"checks": 0, "pass": 0, "fail": 0, "error": 0, "first": f"exited {code}"}
    return dict(json.loads(lines[-1]))


def main_neighbours(args: argparse.Namespace) -> None:
    runs = {}
    if args.against:
        from bench_verifiers import _export  # tools/bench/ is this script's folder

        with tempfile.TemporaryDirectory(prefix="bench-before-") as before:
            _export(args.against, before)
            runs[args.against] = neighbours(args.neighbours, args.seconds,
                                            args.neighbour_seconds, before)
    runs["this tree"] = neighbours(args.neighbours, args.seconds, args.neighbour_seconds,
                                   str(ROOT))
    print(f"{'tree':<14}{'process':<14}{'checks':>8}{'pass':>8}{'fail':>6}{'error':>7}  first")
    for tree, results in runs.items():
        for name, got in results.items():
            print(f"{tree[:12]:<14}{name:<14}{got['checks']:>8}{got['pass']:>8}{got['fail']:>6}"
                  f"{got['error']:>7}  {got['first'] or ''}")
    print(json.dumps(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--neighbours", type=int, default=0,
                        help="run issue 25's reproduction with this many neighbours")
    parser.add_argument("--seconds", type=float, default=30.0, help="the checker's time")
    parser.add_argument("--neighbour-seconds", type=float, default=4.0)
    parser.add_argument("--against", help="with --neighbours: first run REV's raydistill")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(json.dumps(check_for(args.seconds, args.start)), flush=True)
        return
    if args.neighbours:
        main_neighbours(args)
        return
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
