"""Seconds and peak memory to make the run report of a large output.

    python tools/bench/bench_report.py [--samples 100000] [--chars 2000] [--n 4]

Writes a synthetic ``all/`` (records.OUTPUT schema, ``--samples`` rows whose
reasoning is ``--chars`` characters, a third of them passing) and a
``summary.json`` into a temporary directory, then times
:func:`raydistill.observe.report.write_report` on it and prints one table.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from raydistill import records
from raydistill.observe.report import write_report
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation

ROWS_PER_FILE = 10_000


def fake_rows(count: int, start: int, chars: int, n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(start, start + count):
        verdict = rng.choice(["pass", "fail", "fail", "error"] if i % 50 else ["error"])
        reasoning = "x" * rng.randint(chars // 2, chars * 3 // 2)
        rows.append({
            "problem_id": f"{i // n:016x}", "sample_idx": i % n,
            "source": rng.choice(["numinamath", "apps", "gsm8k"]), "domain": "math",
            "problem": "p", "response": reasoning + "</think>42", "reasoning": reasoning,
            "solution": "42", "finish_reason": "stop", "think_closed": True,
            "verified": verdict == "pass", "verdict": verdict,
            "reason": {"pass": "pass", "fail": "wrong_answer", "error": "verifier_error"}[verdict],
            "verdict_detail": {"pass": "42 == 42", "fail": "41 != 42",
                               "error": "verifier crashed: X"}[verdict],
            "prompt_tokens": 100, "completion_tokens": len(reasoning) // 4,
            "generated_at": 1.7e9 + i * 0.01, "generation_seconds": rng.uniform(5, 60),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--n", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        out = OutputLocation(OutputConfig(uri=tmp))
        Path(out.all).mkdir(parents=True)
        for part, start in enumerate(range(0, args.samples, ROWS_PER_FILE)):
            count = min(ROWS_PER_FILE, args.samples - start)
            table = records.table(fake_rows(count, start, args.chars, args.n, rng),
                                  records.OUTPUT)
            pq.write_table(table, f"{out.all}/part-{part:05d}.parquet")
        Path(out.summary).write_text(json.dumps({
            "problems_read": args.samples // args.n, "verified": args.samples // 4,
            "completion_tokens": args.samples * args.chars // 4,
            "timings": {"generate_s": 3600.0, "total_s": 3700.0},
            "config": {"teacher": {"model": "bench", "replicas": 8, "resources": {"GPU": 8}}}}))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        path = write_report(out, {"GPU": 3.9})
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size_kb = Path(path).stat().st_size / 1024
    print(f"samples            {args.samples}")
    print(f"reasoning chars    ~{args.chars}")
    print(f"report seconds     {seconds:.1f}")
    print(f"peak RSS (MiB)     {peak_mb:.0f} (before the report: {before / 1024:.0f})")
    print(f"report.html (KiB)  {size_kb:.0f}")


if __name__ == "__main__":
    main()
