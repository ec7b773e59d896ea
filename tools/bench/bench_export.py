"""Seconds and peak driver memory to export runs of 10k, 100k and 300k samples to every format.

    python tools/bench/bench_export.py [--sizes 10000 100000 300000] [--chars 4000] [--n 4]
                                 [--formats ...] [--workdir DIR]

For each size, a child process synthesises a finished run (no teacher: the run
folder as ``raydistill.run`` leaves it) into a temporary directory: ``all/`` and
``verified/`` in the real schema (``records.OUTPUT``) written by the project's
own atomic Parquet writer, ``summary.json`` with the real ``conf=local`` config,
and the manifest (``_work/run.json``) marking it published. Samples come ``--n``
per problem with R1-like traces: reasoning of log-normally spread length around
``--chars`` characters (~4 characters a token) of shuffled words (so Parquet
compresses them like prose, not like one repeated letter), about 40% verified,
50% wrong, 5% truncated, 3% verifier errors, 2% teacher errors, log-probability
statistics on every sample.

Then ``export_run`` into the run's ``exports/`` for every format in turn, each
in a fresh child process with its own local Ray cluster (as ``python -m
raydistill.export`` runs; one long-lived process would carry what the previous
exports left in its allocators into the next one's figures), while a thread
samples the driver's resident memory every 20 ms. Printed per (size, format):
seconds, rows written, the driver's peak RSS during the export, its RSS before
it (Ray started), and its peak private memory (RSS less shared pages: blocks of
Ray's object store that the driver maps and reads count in RSS but are not the
driver's); then the ratio of the largest size to the smallest per format. Flat
memory means a ratio close to 1 while the run grows. Only the driver is
measured: Ray's workers and object store hold the shuffle of the grouped formats
(spilled to disk when it does not fit).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
FORMATS = ("sharegpt", "sharegpt_pairs", "openai", "trl_sft", "trl_dpo", "verl")
PROBLEMS_PER_FILE = 1000  # a few MB per part, as ray.rows_per_block-sized parts add up
WORDS = ("so the sum is we need to check whether this works let us compute the value of "
         "wait but actually hmm that gives x squared plus two times then divide both sides "
         "by factor therefore substituting back into equation yields area of triangle angle "
         "modulo prime integer solutions count cases first second third case alternatively "
         "recall that identity holds verify again carefully answer").split()


def trace(rng: random.Random, chars: int) -> str:
    """A reasoning-like text of about ``chars`` characters (log-normal spread, sigma 0.6)."""
    target = int(chars * math.exp(rng.gauss(0, 0.6) - 0.18))
    words: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word = f"{rng.randint(0, 9999)}."
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def sample_row(problem: int, idx: int, n: int, chars: int, rng: random.Random,
               config: dict[str, Any]) -> dict[str, Any]:
    """One ``all/`` row of the synthetic run."""
    roll = rng.random()
    kind = ("pass" if roll < 0.40 else "fail" if roll < 0.90 else "truncated" if roll < 0.95
            else "error" if roll < 0.98 else "teacher_error")
    question = f"Problem {problem}: find the value of {rng.randint(2, 999)} * x. " + \
        trace(rng, 200)
    answer = str(rng.randint(0, 9999))
    reasoning = trace(rng, chars)
    tokens = len(reasoning) // 4
    row: dict[str, Any] = {
        "problem_id": f"{problem:016x}", "sample_idx": idx, "source": "numinamath",
        "source_index": problem, "domain": "math", "problem": question,
        "ground_truth_solution": answer, "test_cases": None, "starter_code": None,
        "prompt_tokens": 80, "generated_at": 1.7e9 + problem, "generation_seconds": 30.0,
        "teacher": config["teacher"]["model"], "temperature": 0.6, "top_p": 0.95,
        "max_tokens": 16384, "n": n, "seed": 0, "template_hash": "bench",
        "raydistill_version": "bench",
        "messages": [{"role": "user", "content": question
                      + " Please reason step by step, and put your final answer within "
                        "\\boxed{}."}],
    }
    if kind == "teacher_error":
        return {**row, "verified": False, "verdict": "error", "reason": "teacher_error",
                "verdict_detail": "teacher: prompt too long", "completion_tokens": 0}
    solution = f"The answer is \\boxed{{{answer if kind == 'pass' else answer + '1'}}}."
    closed = kind != "truncated"
    logprob_mean = -rng.uniform(0.05, 0.7)
    verdict = {"pass": "pass", "fail": "fail", "truncated": "fail", "error": "error"}[kind]
    return {
        **row, "response": reasoning + ("</think>\n\n" + solution if closed else ""),
        "reasoning": reasoning, "solution": solution if closed else None,
        "finish_reason": "stop" if closed else "length", "think_closed": closed,
        "verified": kind == "pass", "verdict": verdict,
        "reason": {"pass": "pass", "fail": "wrong_answer", "truncated": "truncated",
                   "error": "verifier_error"}[kind],
        "verdict_detail": {"pass": "equal", "fail": "not equal", "truncated": "truncated",
                           "error": "verifier crashed"}[kind],
        "verdicts": [{"verifier": "math", "status": verdict, "reason": "bench",
                      "detail": None, "seconds": 0.001, "retries": 0}],
        "completion_tokens": tokens, "logprob_sum": logprob_mean * tokens,
        "logprob_mean": logprob_mean, "perplexity": math.exp(-logprob_mean),
        "logprobs_mode": "vllm:raw_logprobs",
    }


def synthesize(root: str, samples: int, n: int, chars: int) -> None:
    """Write a finished run of ``samples`` samples at ``root`` (the child process)."""
    from raydistill import records
    from raydistill.config import load
    from raydistill.config.loader import to_dict
    from raydistill.output.location import OutputLocation
    from raydistill.output.manifest import Manifest, fingerprint
    from raydistill.output.storage import write_table_atomic

    cfg = load(["conf=local", f"output.uri={root}", f"sampling.n={n}"])
    config = to_dict(cfg)
    config["teacher"]["model"] = "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B (synthetic)"
    out = OutputLocation(cfg.output)
    rng = random.Random(0)
    problems = samples // n
    parts: dict[str, list[dict[str, Any]]] = {"all": [], "verified": []}
    counts = {"verified": 0, "failed": 0, "errors": 0, "truncated": 0, "completion_tokens": 0}
    for part, start in enumerate(range(0, problems, PROBLEMS_PER_FILE)):
        rows = [sample_row(p, i, n, chars, rng, config)
                for p in range(start, min(start + PROBLEMS_PER_FILE, problems))
                for i in range(n)]
        for name, kept in (("all", rows), ("verified", [r for r in rows if r["verified"]])):
            path = f"part-{part:05d}.parquet"
            write_table_atomic(out.fs, f"{out.root}/{name}/{path}",
                               records.table(kept, records.OUTPUT))
            parts[name].append({"path": f"{name}/{path}", "rows": len(kept)})
        for r in rows:
            counts["verified"] += r["verified"]
            counts["failed"] += r["verdict"] == "fail"
            counts["errors"] += r["verdict"] == "error"
            counts["truncated"] += r.get("finish_reason") == "length"
            counts["completion_tokens"] += r["completion_tokens"]
    out.write_summary({
        "problems_read": problems, "input_errors": 0, "teacher_errors": 0,
        "samples": problems * n, "rows_in_all": problems * n, **counts,
        "problems_with_a_verified_sample": None, "config": config,
        "versions": {"raydistill": "bench"}})
    Manifest(fingerprint=fingerprint(cfg), generated=True,
             staged={"problems": problems, "input_errors": 0, "duplicates": 0},
             published=parts).save(out)


class PeakRSS:
    """The driver's peak resident memory while the block runs (sampled every 20 ms)."""

    def __enter__(self) -> PeakRSS:
        self.proc = psutil.Process()
        self.before = self.peak = self.proc.memory_info().rss
        self.peak_private = self._private()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _private(self) -> int:
        # RSS less shared pages: the object store's blocks the driver maps and reads
        # are shared memory, counted in RSS once touched, but not the driver's own.
        info = self.proc.memory_info()
        return int(info.rss - getattr(info, "shared", 0))

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.peak_private = max(self.peak_private, self._private())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def export_one(root: str, fmt: str) -> None:
    """One export in this (fresh) process, its own local Ray: print its figures as JSON."""
    from raydistill.export.plan import export_run
    from raydistill.ray_config import RayConfig
    from raydistill.ray_session import init_ray

    init_ray(RayConfig())
    with PeakRSS() as rss:
        started = time.monotonic()
        done = export_run(root, fmt)
        seconds = time.monotonic() - started
    print(json.dumps({"format": fmt, "seconds": round(seconds, 1), "rows": done["rows"],
                      "files": len(done["files"]), "peak_rss_mb": round(rss.peak / 2**20),
                      "peak_private_mb": round(rss.peak_private / 2**20),
                      "rss_before_mb": round(rss.before / 2**20)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--chars", type=int, default=4000)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic runs")
    parser.add_argument("--workdir", help="synthesise into (or reuse the runs in) this "
                        "folder, kept; default: a temporary one, deleted")
    parser.add_argument("--synthesize", nargs=2, metavar=("ROOT", "SAMPLES"),
                        help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--export", nargs=2, metavar=("ROOT", "FORMAT"),
                        help=argparse.SUPPRESS)  # the child process of one export
    args = parser.parse_args()
    if args.synthesize:
        synthesize(args.synthesize[0], int(args.synthesize[1]), args.n, args.chars)
        return
    if args.export:
        export_one(*args.export)
        return

    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="raydistill-bench-export-"))
    runs = {}
    for size in args.sizes:
        root = tmp / f"run-{size}-{args.n}-{args.chars}"
        started = time.monotonic()
        if not (root / "_work" / "run.json").exists():
            subprocess.run([sys.executable, __file__, "--synthesize", str(root), str(size),
                            "--n", str(args.n), "--chars", str(args.chars)], check=True,
                           cwd=REPO)
        mb = sum(f.stat().st_size for f in (root / "all").iterdir()) / 2**20
        print(f"synthesised {size} samples in {time.monotonic() - started:.0f} s "
              f"(all/: {mb:.0f} MiB Parquet) at {root}", flush=True)
        runs[size] = root

    results = []
    for size, root in runs.items():
        for fmt in args.formats:
            done = subprocess.run([sys.executable, __file__, "--export", str(root), fmt],
                                  check=True, cwd=REPO, stdout=subprocess.PIPE, text=True)
            results.append({"samples": size, **json.loads(done.stdout.splitlines()[-1])})
            print(json.dumps(results[-1]), flush=True)
    print(f"\n{'samples':>8} {'format':>15} {'seconds':>8} {'rows':>7} "
          f"{'driver peak MiB':>16} {'before':>7} {'private peak':>13}")
    for r in results:
        print(f"{r['samples']:>8} {r['format']:>15} {r['seconds']:>8.1f} {r['rows']:>7} "
              f"{r['peak_rss_mb']:>16} {r['rss_before_mb']:>7} {r['peak_private_mb']:>13}")
    sizes = sorted(runs)
    by = {(r["samples"], r["format"]): r for r in results}
    for small, large in zip(sizes, sizes[1:], strict=False):
        print(f"\nratio {large}/{small} per format: seconds, driver peak RSS, private peak")
        for fmt in args.formats:
            a, b = by[small, fmt], by[large, fmt]
            print(f"{fmt:>15} {b['seconds'] / a['seconds']:>6.1f} "
                  f"{b['peak_rss_mb'] / a['peak_rss_mb']:>6.2f} "
                  f"{b['peak_private_mb'] / a['peak_private_mb']:>6.2f}")
    if not (args.keep or args.workdir):
        import shutil

        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
