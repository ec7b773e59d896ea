"""Dedup + decontamination at scale, and side by side with the public approaches.

    python tools/bench/bench_filters.py --problems 1000000
    python tools/bench/bench_filters.py --problems 40000 --compare 10000 40000 --compare-only

Makes synthetic word problems (random sentences of 30-50 words over a 2,000-word
vocabulary, a fifth of them numbers) with planted rows: 4% exact duplicates
retyped (upper case, doubled spaces, trailing punctuation), 4% near duplicates
(1, 2 or 3 words replaced, a third each), 1% benchmark problems embedded in a
longer text (from 1,000 benchmark problems). A planted copy of a benchmark
problem is contaminated too. Runs raydistill's problem-filter plan
(filters/problems.py: staging, then exact + near dedup and 13-gram
decontamination) on a local Ray cluster and reports problems/s, the peak memory
of the driver and all Ray processes together (sum of PSS: shared pages counted
once), and precision/recall on the planted rows.

``--compare N ...`` also runs, on the first N problems, OpenThoughts'
deduplication (every pair compared with ``rapidfuzz`` ``fuzz.ratio``; >= 95 is
a duplicate of the earlier problem; ``process.cdist`` on all cores, with
rapidfuzz's ``default_process`` so case and punctuation do not hide a copy), an
open-r1-style decontamination (one process, a Python set of the benchmarks'
8-grams) and raydistill on the same N problems, in the same run, and prints the
speed ratios. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import ray
from rapidfuzz import fuzz, process, utils

from raydistill.config import load
from raydistill.filters.normalize import words
from raydistill.filters.problems import filter_problems
from raydistill.output.location import OutputLocation
from raydistill.ray_session import init_ray
from raydistill.sources import problem_id, read_problems

DUP_REASONS = ("duplicate", "near_duplicate")


class PeakMemory(threading.Thread):
    """Peak summed PSS (MiB) of this process and its descendants, sampled every 0.5 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()

    def sample(self) -> float:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                continue
        return total / 2**20

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, self.sample())


def make(n: int, seed: int) -> tuple[list[str], list[str], dict[int, str], set[int]]:
    """Problems, benchmark problems, the planted duplicates (index -> kind) and the
    contaminated rows (planted benchmark problems and copies of them)."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(2000)]

    def sentence() -> str:
        return " ".join(rng.choice(vocab) if rng.random() < 0.8 else str(rng.randint(1, 99999))
                        for _ in range(rng.randint(30, 50))) + "?"

    bench = [sentence() for _ in range(1000)]
    texts: list[str] = []
    seen: set[str] = set()  # staging drops rows whose raw text repeats: none may
    planted: dict[int, str] = {}
    contaminated: set[int] = set()
    while len(texts) < n:
        roll = rng.random()
        origin = rng.randrange(len(texts)) if texts else -1
        if texts and roll < 0.04:
            text, kind = ("  " + texts[origin].upper().replace(" ", "  ") + " !"), "duplicate"
        elif texts and roll < 0.08:
            ws = texts[origin].split()
            changed = rng.randint(1, 3)
            for at in rng.sample(range(len(ws)), changed):
                ws[at] = rng.choice(vocab)
            text, kind = " ".join(ws), f"near_duplicate_{changed}"
        elif roll < 0.09:
            text, kind, origin = f"Consider this. {rng.choice(bench)} Explain.", "bench", -1
        else:
            text, kind, origin = sentence(), "", -1
        if text in seen:
            continue
        seen.add(text)
        texts.append(text)
        at = len(texts) - 1
        if kind == "bench" or (origin >= 0 and origin in contaminated):
            contaminated.add(at)
        if kind and kind != "bench":
            planted[at] = kind
    return texts, bench, planted, contaminated


def scores(removed: set[int], truth: set[int], found: set[int] | None = None) -> dict[str, float]:
    """Precision of ``removed`` (the rows a method removed for this reason) and the recall
    of ``found`` (every row it removed, whatever the reason; default ``removed``)."""
    found = removed if found is None else found
    return {"precision": round(len(removed & truth) / len(removed), 4) if removed else 1.0,
            "recall": round(len(found & truth) / len(truth), 4) if truth else 1.0,
            "removed": len(removed)}


def run_raydistill(texts: list[str], bench: list[str], root: Path) -> tuple[dict[int, str], dict]:
    """raydistill's staging + problem filters; (removed index -> reason, figures)."""
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
    before = memory.sample()
    memory.start()
    started = time.monotonic()
    staged = out.stage_problems(read_problems(cfg.source), cfg.source.problems_per_file,
                                out.inputs)
    staged_s = time.monotonic() - started
    tally = filter_problems(cfg, out, staged["problems"])
    seconds = time.monotonic() - started
    memory.stop.set()
    memory.join()
    assert staged["problems"] == len(texts), staged
    index_of = {problem_id("synth", t): i for i, t in enumerate(texts)}
    gone = out.read_columns(out.removed, ["problem_id", "reason"]).to_pylist()
    filter_s = seconds - staged_s
    return {index_of[r["problem_id"]]: r["reason"] for r in gone}, {
        "seconds": round(seconds, 1), "staging_s": round(staged_s, 1),
        "filter_s": round(filter_s, 1),
        "problems_per_s": round(len(texts) / seconds),
        "problems_per_s_filters_only": round(len(texts) / filter_s),
        "pss_before_mib": round(before), "peak_pss_mib": round(memory.peak),
        "removed": tally["removed"]}


def score_raydistill(reasons: dict[int, str], planted: dict[int, str],
                     contaminated: set[int]) -> dict[str, Any]:
    removed = set(reasons)
    dups = set(planted)
    return {"dedup": scores({i for i, r in reasons.items() if r in DUP_REASONS}, dups, removed),
            "decontam": scores({i for i, r in reasons.items() if r == "contaminated"},
                               contaminated, removed),
            "dedup_recall_by_kind": recall_by_kind(removed, planted)}


def recall_by_kind(removed: set[int], planted: dict[int, str]) -> dict[str, float]:
    """Recall per planted kind (retyped copies, 1, 2 or 3 words replaced)."""
    found = {}
    for kind in sorted(set(planted.values())):
        rows = {i for i, k in planted.items() if k == kind}
        found[kind] = round(len(rows & removed) / len(rows), 4) if rows else 1.0
    return found


def openthoughts_dedup(texts: list[str]) -> tuple[set[int], float]:
    """Every pair by fuzz.ratio; a problem scoring >= 95 against an earlier one is removed."""
    started = time.monotonic()
    matrix = process.cdist(texts, texts, scorer=fuzz.ratio, processor=utils.default_process,
                           score_cutoff=95, workers=-1, dtype=np.uint8)
    rows, cols = np.nonzero(np.triu(matrix, k=1))
    return {int(j) for j in cols}, time.monotonic() - started


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


def compare(size: int, texts: list[str], bench: list[str], planted: dict[int, str],
            contaminated: set[int], root: Path) -> dict[str, Any]:
    """The three approaches on the first ``size`` problems, one after the other."""
    sub = texts[:size]
    sub_dups = {i: k for i, k in planted.items() if i < size}
    sub_cont = {i for i in contaminated if i < size}
    ours, ours_stats = run_raydistill(sub, bench, root)
    fuzzy, fuzzy_s = openthoughts_dedup(sub)
    r1, r1_s = open_r1_decontam(sub, bench)
    return {
        "problems": size,
        "raydistill": {"seconds": ours_stats["seconds"], "filter_s": ours_stats["filter_s"],
                       **score_raydistill(ours, sub_dups, sub_cont)},
        "openthoughts_rapidfuzz": {"seconds": round(fuzzy_s, 2),
                                   "dedup": scores(fuzzy, set(sub_dups)),
                                   "dedup_recall_by_kind": recall_by_kind(fuzzy, sub_dups)},
        "open_r1_8gram": {"seconds": round(r1_s, 3), "decontam": scores(r1, sub_cont)},
        "speed_ratio_rapidfuzz_over_raydistill": round(fuzzy_s / ours_stats["seconds"], 2),
        "speed_ratio_open_r1_over_raydistill": round(r1_s / ours_stats["seconds"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--problems", type=int, default=100_000)
    parser.add_argument("--compare", type=int, nargs="*", default=[],
                        help="subset sizes for the baselines (pairwise is quadratic)")
    parser.add_argument("--compare-only", action="store_true",
                        help="only the side-by-side runs, not raydistill on all --problems")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    texts, bench, planted, contaminated = make(args.problems, args.seed)
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "problems": args.problems, "planted_duplicates": len(planted),
        "contaminated_rows": len(contaminated), "make_s": round(time.monotonic() - started, 1),
        "load_average_before": psutil.getloadavg()}
    init_ray(load(["conf=local"]).ray)
    with tempfile.TemporaryDirectory(prefix="bench-filters-") as tmp:
        root = Path(tmp)
        if not args.compare_only:
            reasons, stats = run_raydistill(texts, bench, root)
            result["raydistill"] = {**stats, **score_raydistill(reasons, planted, contaminated)}
            print(json.dumps(result), flush=True)
        result["compare"] = [compare(size, texts, bench, planted, contaminated, root)
                             for size in args.compare]
    result["load_average_after"] = psutil.getloadavg()
    ray.shutdown()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
