"""Dedup + decontamination at scale, and side by side with the public approaches.

    .venv/bin/python tools/bench_filters.py --problems 1000000
    .venv/bin/python tools/bench_filters.py --problems 20000 --compare 5000

Makes synthetic word problems (random sentences over a 2,000-word vocabulary with
numbers, ~40 words each) with planted rows: 4% exact duplicates retyped (case,
spacing, punctuation, 1,000-style numbers), 4% near duplicates (three words
changed), 1% benchmark problems embedded in a longer text (from 1,000 benchmark
problems). Runs raydistill's problem-filter plan (filters/problems.py) on a local
Ray cluster and reports problems/s, the peak resident memory of the driver and
all Ray processes together, and precision/recall on the planted rows.

``--compare N`` also runs, on the first N problems, OpenThoughts' deduplication
(every pair compared with ``rapidfuzz`` ``fuzz.ratio``, >= 95 is a duplicate;
``process.cdist`` on all cores) and an open-r1-style decontamination (one
process, a Python set of the benchmarks' 8-grams), and raydistill on the same
N problems, and prints the speed ratios. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import ray
from rapidfuzz import fuzz, process

from raydistill.config import load
from raydistill.filters.normalize import words
from raydistill.filters.problems import filter_problems
from raydistill.output.location import OutputLocation
from raydistill.ray_session import init_ray
from raydistill.sources import problem_id, read_problems


class PeakMemory(threading.Thread):
    """Peak summed RSS (MiB) of this process and its descendants, sampled every 0.5 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.wait(0.5):
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total / 2**20)


def make(n: int, seed: int) -> tuple[list[str], list[str], dict[int, str]]:
    """Problems, benchmark problems, and the planted rows: index -> kind."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(2000)]

    def sentence() -> str:
        return " ".join(rng.choice(vocab) if rng.random() < 0.8 else str(rng.randint(1, 99999))
                        for _ in range(rng.randint(30, 50))) + "?"

    bench = [sentence() for _ in range(1000)]
    texts: list[str] = []
    planted: dict[int, str] = {}
    while len(texts) < n:
        roll = rng.random()
        if texts and roll < 0.04:
            src = texts[rng.randrange(len(texts))]
            texts.append("  " + src.upper().replace(" ", "  ") + " !")
            planted[len(texts) - 1] = "duplicate"
        elif texts and roll < 0.08:
            ws = texts[rng.randrange(len(texts))].split()
            for _ in range(3):
                ws[rng.randrange(len(ws))] = rng.choice(vocab)
            texts.append(" ".join(ws))
            planted[len(texts) - 1] = "near_duplicate"
        elif roll < 0.09:
            texts.append(f"Consider this. {rng.choice(bench)} Explain.")
            planted[len(texts) - 1] = "contaminated"
        else:
            texts.append(sentence())
    return texts, bench, planted


def scores(removed: set[int], truth: set[int]) -> dict[str, float]:
    hit = len(removed & truth)
    return {"precision": round(hit / len(removed), 4) if removed else 1.0,
            "recall": round(hit / len(truth), 4) if truth else 1.0}


def run_raydistill(texts: list[str], bench: list[str], root: Path) -> tuple[set[int], dict]:
    data = root / f"problems-{len(texts)}.jsonl"
    data.write_text("".join(json.dumps({"question": t, "answer": "#### 1"}) + "\n"
                            for t in texts))
    (root / "bench.jsonl").write_text("".join(json.dumps({"question": t, "answer": "#### 1"})
                                              + "\n" for t in bench))
    cfg = load(["conf=local", f"output.uri={root}/out-{len(texts)}", "output.overwrite=true",
                "source.limit=null", "source.problems_per_file=50000",
                f"source.datasets=[{{name: synth, path: '{data}', preset: gsm8k}}]",
                "filters.exact=true", "filters.near.enabled=true",
                "filters.decontam.enabled=true",
                f"filters.decontam.benchmarks=[{{name: bench, path: '{root}/bench.jsonl',"
                " preset: gsm8k}]"])
    out = OutputLocation(cfg.output)
    out.clear()
    memory = PeakMemory()
    memory.start()
    started = time.monotonic()
    staged = out.stage_problems(read_problems(cfg.source), cfg.source.problems_per_file,
                                out.inputs)
    staged_s = time.monotonic() - started
    tally = filter_problems(cfg, out, staged["problems"])
    seconds = time.monotonic() - started
    memory.stop.set()
    index_of = {problem_id("synth", t): i for i, t in enumerate(texts)}
    gone = out.read_columns(out.removed, ["problem_id"])["problem_id"].to_pylist()
    return {index_of[p] for p in gone}, {
        "seconds": round(seconds, 1), "staging_s": round(staged_s, 1),
        "filter_s": round(seconds - staged_s, 1),
        "problems_per_s": round(len(texts) / seconds), "peak_rss_mib": round(memory.peak),
        "removed": tally["removed"]}


def openthoughts_dedup(texts: list[str]) -> tuple[set[int], float]:
    """Every pair by fuzz.ratio; a problem scoring >= 95 against an earlier one is removed."""
    started = time.monotonic()
    matrix = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=95, workers=-1,
                           dtype=np.uint8)
    np.fill_diagonal(matrix, 0)
    removed = {int(j) for i, j in zip(*np.nonzero(matrix), strict=True) if i < j}
    return removed, time.monotonic() - started


def open_r1_decontam(texts: list[str], bench: list[str], n: int = 8) -> tuple[set[int], float]:
    """One process, one Python set of benchmark n-grams, each problem's n-grams looked up."""
    started = time.monotonic()
    grams = set()
    for b in bench:
        ws = words(b)
        grams.update(tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))
    removed = set()
    for i, t in enumerate(texts):
        ws = words(t)
        if any(tuple(ws[k:k + n]) in grams for k in range(len(ws) - n + 1)):
            removed.add(i)
    return removed, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=100_000)
    parser.add_argument("--compare", type=int, default=0, help="subset size for the baselines")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    texts, bench, planted = make(args.problems, args.seed)
    cfg = load(["conf=local"])
    init_ray(cfg.ray)
    result: dict = {"problems": args.problems, "load_average_before": psutil.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-filters-") as tmp:
        root = Path(tmp)
        dups = {i for i, k in planted.items() if k != "contaminated"}
        contaminated = {i for i, k in planted.items() if k == "contaminated"}
        removed, stats = run_raydistill(texts, bench, root)
        result["raydistill"] = {**stats, "dedup": scores(removed - contaminated, dups),
                                "decontam": scores(removed - dups, contaminated)}
        if args.compare:
            sub = texts[: args.compare]
            sub_dups = {i for i in dups if i < args.compare}
            sub_cont = {i for i in contaminated if i < args.compare}
            ours, ours_stats = run_raydistill(sub, bench, root)
            fuzzy, fuzzy_s = openthoughts_dedup(sub)
            r1, r1_s = open_r1_decontam(sub, bench)
            result["compare"] = {
                "problems": args.compare,
                "raydistill": {"seconds": ours_stats["seconds"],
                               "dedup": scores(ours - sub_cont, sub_dups),
                               "decontam": scores(ours - sub_dups, sub_cont)},
                "openthoughts_rapidfuzz": {"seconds": round(fuzzy_s, 1),
                                           "dedup": scores(fuzzy, sub_dups)},
                "open_r1_8gram": {"seconds": round(r1_s, 1),
                                  "decontam": scores(r1, sub_cont)},
            }
    result["load_average_after"] = psutil.getloadavg()
    ray.shutdown()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
