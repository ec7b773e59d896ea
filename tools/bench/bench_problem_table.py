"""Seconds and driver memory to write ``problems/`` of a synthetic run of P problems x n samples.

    python tools/bench/bench_problem_table.py [--problems 10000] [--n 4] [--distinct 2]
                                             [--workdir DIR]

Writes ``all/`` in the real schema (``records.OUTPUT``) for ``--problems`` math
problems with ``--n`` samples each, their final answers drawn from ``--distinct``
values written in two forms (``7`` and ``7.0``: one answer to the verifier, two
texts, so the math checker is asked), then times
:func:`raydistill.output.problems.write_problem_table` (the driver step a run ends
with) and prints seconds, rows, math checks asked and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time

import pyarrow.parquet as pq

from raydistill import records
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation
from raydistill.output.problems import write_problem_table
from raydistill.verifiers import votes


def synthesise(out: OutputLocation, problems: int, n: int, distinct: int) -> None:
    rng = random.Random(0)
    out.fs.create_dir(out.all, recursive=True)
    rows = []
    for p in range(problems):
        for i in range(n):
            value = rng.randrange(distinct) + p
            text = f"{value}.0" if rng.random() < 0.5 else str(value)
            rows.append({"problem_id": f"{p:016x}", "sample_idx": i, "source": "bench",
                         "source_index": p, "domain": "math", "problem": f"What is {p}? " * 20,
                         "ground_truth_solution": f"#### {p}", "test_cases": "",
                         "starter_code": "", "response": "x", "solution": f"\\boxed{{{text}}}",
                         "verified": value == p, "reason": "pass" if value == p
                         else "wrong_answer", "completion_tokens": rng.randrange(50, 4000)})
    for part, start in enumerate(range(0, len(rows), 100_000)):
        pq.write_table(records.table(rows[start:start + 100_000], records.OUTPUT),
                       f"{out.all}/part-{part:05d}.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--distinct", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    root = args.workdir or tempfile.mkdtemp(prefix="bench-problem-table-")
    out = OutputLocation(OutputConfig(uri=root))
    synthesise(out, args.problems, args.n, args.distinct)
    checks = 0
    same = votes.same_math

    def counted(a: str, b: str) -> bool:
        nonlocal checks
        checks += 1
        return same(a, b)

    votes.same_math = counted  # counted, not changed: equivalence() looks it up per call
    start = time.monotonic()
    tally = write_problem_table(out)
    seconds = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"problems {tally['problems']} samples {args.problems * args.n} seconds {seconds:.1f} "
          f"math_checks {checks} ms_per_check {1000 * seconds / max(1, checks):.1f} "
          f"peak_rss_mib {peak:.0f}")


if __name__ == "__main__":
    main()
