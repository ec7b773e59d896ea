"""Dedup + decontamination at scale, and side by side with the public approaches.

    python tools/bench/bench_filters.py --problems 1000000
    python tools/bench/bench_filters.py --problems 100000 --compare 10000 40000 100000 \
        --compare-only

Makes word problems: GSM8K's 8,792 train and test problems (from --gsm8k, while
they last, three in ten originals: templated problems, some distinct ones a
word or a number apart) and synthetic sentences of 30-50 words over a
2,000-word vocabulary, a fifth of them numbers. Planted rows, each a copy of an
earlier row (1% each): retyped (case, spacing, punctuation, full-width letters,
no-break and zero-width spaces, curly quotes, thousands separators), 1, 2 or 3
filler words inserted, 1, 2 or 3 words replaced (any token, numbers too); and
1% distinct problems, an earlier row with 1-3 of its numbers changed, which a
filter must keep; 1% benchmark problems embedded in a longer text (from 1,000
benchmark problems; a planted copy of one is contaminated too). Runs
raydistill's problem-filter plan (filters/problems.py: staging, then exact +
near dedup and 13-gram decontamination) on a local Ray cluster and reports
problems/s, the peak memory of the driver and all Ray processes together (sum
of PSS: shared pages counted once), and precision/recall on the planted rows.

``--compare N ...`` also runs, on the first N problems, OpenThoughts'
deduplication (every pair compared with ``rapidfuzz`` ``fuzz.ratio``; >= 95 is
a duplicate of the earlier problem; ``process.cdist`` on all cores, with
rapidfuzz's ``default_process`` so case and punctuation do not hide a copy), an
open-r1-style decontamination (one process, a Python set of the benchmarks'
8-grams) and raydistill on the same N problems, in the same run, and prints the
side-by-side table (recall per planted class, distinct problems kept,
precision, seconds, speed ratio) and one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import tempfile
import threading
import time
from collections import Counter
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
    """Peak summed PSS (MiB) of this process and its descendants, sampled every 0.5 s, and
    the CPU seconds they used meanwhile (the last sample of each process: a process
    that lives under 0.5 s may be missed). CPU seconds do not grow with the load
    that other users put on the machine; wall seconds do."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()
        self.cpu: dict[int, float] = {}
        self.cpu_before: dict[int, float] = {}

    def sample(self) -> float:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
                times = proc.cpu_times()
                self.cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                continue
        return total / 2**20

    def cpu_seconds(self) -> float:
        """CPU seconds used by this process tree since the first sample."""
        return sum(t - self.cpu_before.get(pid, 0.0) for pid, t in self.cpu.items())

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, self.sample())


FILLERS = ("really", "actually", "just", "basically", "simply", "indeed", "also", "now", "so",
           "well", "very", "quite", "then", "still", "exactly", "certainly")
COPY_KINDS = ("retyped", "inserted_1", "inserted_2", "inserted_3", "replaced_1", "replaced_2",
              "replaced_3")
DISTINCT = "distinct_numbers"


def retype(text: str, rng: random.Random) -> str:
    """The same problem typed differently: two to four of case, spacing, punctuation and
    Unicode variants a normaliser must see through."""
    def full_width(m: re.Match[str]) -> str:
        return "".join(chr(ord(c) + 0xFEE0) for c in m.group())

    variants = [
        lambda t: t.upper(), lambda t: t.lower(), lambda t: t.title(),
        lambda t: "  " + t.replace(" ", "  ") + " ",
        lambda t: t.replace(". ", ".\n\t"),
        lambda t: t.rstrip("?.") + " ?!",
        lambda t: re.sub(r"\b[a-zA-Z0-9]{4,}\b", full_width, t, count=3),
        lambda t: t.replace(" ", "\u00a0", 5),
        lambda t: re.sub(r"\b([a-zA-Z]{3})([a-zA-Z]{3,})\b", "\\1\u200b\\2", t, count=3),
        lambda t: t.replace("'", "\u2019").replace('"', "\u201c"),
        lambda t: re.sub(r"\b(\d)(\d{3})\b", r"\1,\2", t),
    ]
    for change in rng.sample(variants, rng.randint(2, 4)):
        text = change(text)
    return text


def renumber(text: str, rng: random.Random) -> str | None:
    """A distinct problem: 1-3 of the text's numbers changed (None if it has none)."""
    spots = list(re.finditer(r"\b\d+\b", text))
    if not spots:
        return None
    chosen = sorted(rng.sample(spots, min(len(spots), rng.randint(1, 3))),
                    key=lambda m: m.start(), reverse=True)
    for m in chosen:
        value = int(m.group())
        new = value + rng.randint(1, 9) * rng.choice((1, 10)) if value < 10**9 else value + 1
        text = text[:m.start()] + str(new) + text[m.end():]
    return text


def gsm8k_problems(folder: Path) -> list[str]:
    """GSM8K's problems (train and test) found in ``folder``, in a fixed shuffled order."""
    found = [json.loads(line)["question"] for name in sorted(folder.glob("*.jsonl"))
             for line in name.read_text().splitlines() if line.strip()]
    random.Random(7).shuffle(found)
    return found


def make(n: int, seed: int, gsm8k: list[str]) -> tuple[list[str], list[str], dict[int, str],
                                                       set[int]]:
    """Problems, benchmark problems, the planted rows (index -> kind: a copy kind, or
    DISTINCT for a problem that must be kept) and the contaminated rows (planted
    benchmark problems and copies of them)."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(2000)]
    gsm_vocab = sorted({w for t in gsm8k for w in re.findall(r"[a-z]+", t)}) or vocab
    real = iter(gsm8k)

    def sentence() -> str:
        return " ".join(rng.choice(vocab) if rng.random() < 0.8 else str(rng.randint(1, 99999))
                        for _ in range(rng.randint(30, 50))) + "?"

    def original() -> tuple[str, bool]:
        if rng.random() < 0.3:
            text = next(real, None)
            if text is not None:
                return text, True
        return sentence(), False

    bench = [sentence() for _ in range(1000)]
    texts: list[str] = []
    from_gsm8k: list[bool] = []
    seen: set[str] = set()  # staging drops rows whose raw text repeats: none may
    planted: dict[int, str] = {}
    contaminated: set[int] = set()
    while len(texts) < n:
        roll, real_origin = rng.random(), False
        origin = rng.randrange(len(texts)) if texts else -1
        kind = ""
        text: str | None
        if texts and roll < 0.07:
            kind = COPY_KINDS[int(roll / 0.01)]
            ws = texts[origin].split()
            changed = int(kind[-1]) if kind != "retyped" else 0
            if kind.startswith("inserted"):
                for _ in range(changed):
                    ws.insert(rng.randint(0, len(ws)), rng.choice(FILLERS))
            elif kind.startswith("replaced"):
                pool = gsm_vocab if from_gsm8k[origin] else vocab
                for at in rng.sample(range(len(ws)), min(changed, len(ws))):
                    ws[at] = rng.choice(pool)
            text = retype(texts[origin], rng) if kind == "retyped" else " ".join(ws)
        elif texts and roll < 0.08:
            text, kind = renumber(texts[origin], rng), DISTINCT
        elif roll < 0.09:
            text, kind, origin = f"Consider this. {rng.choice(bench)} Explain.", "bench", -1
        else:
            (text, real_origin), origin = original(), -1
        if text is None or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        from_gsm8k.append(from_gsm8k[origin] if origin >= 0 else (kind == "" and real_origin))
        at = len(texts) - 1
        if kind == "bench" or (origin >= 0 and origin in contaminated):
            contaminated.add(at)
        if kind and kind != "bench":
            planted[at] = kind
    return texts, bench, planted, contaminated


def scores(removed: set[int], planted: dict[int, str],
           found: set[int] | None = None) -> dict[str, Any]:
    """Dedup figures of ``removed`` (the rows a method removed as duplicates): precision
    against the planted copies, the share of the distinct problems (numbers changed)
    it merged; and the recall of ``found`` (every row it removed, whatever the reason:
    a copy of a benchmark problem may go as contaminated; default ``removed``), per
    copy kind and in all."""
    found = removed if found is None else found
    copies = {i for i, k in planted.items() if k != DISTINCT}
    distinct = {i for i, k in planted.items() if k == DISTINCT}
    return {"precision": round(len(removed & copies) / len(removed), 4) if removed else 1.0,
            "recall": round(len(found & copies) / len(copies), 4) if copies else 1.0,
            "removed": len(removed),
            "recall_by_kind": recall_by_kind(found, planted),
            "distinct_merged": round(len(removed & distinct) / len(distinct), 4)
            if distinct else 0.0}


def decontam_scores(removed: set[int], truth: set[int], found: set[int]) -> dict[str, float]:
    """Precision of ``removed`` (rows removed as contaminated) and the recall of ``found``
    (every row removed, whatever the reason)."""
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
    memory.cpu_before = dict(memory.cpu)
    memory.start()
    started = time.monotonic()
    staged = out.stage_problems(read_problems(cfg.source), cfg.source.problems_per_file,
                                out.inputs)
    staged_s = time.monotonic() - started
    tally = filter_problems(cfg, out, staged["problems"])
    seconds = time.monotonic() - started
    memory.stop.set()
    memory.join()
    memory.sample()
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
        "cpu_s": round(memory.cpu_seconds(), 1),
        "removed": tally["removed"]}


def score_raydistill(reasons: dict[int, str], planted: dict[int, str],
                     contaminated: set[int]) -> dict[str, Any]:
    return {"dedup": scores({i for i, r in reasons.items() if r in DUP_REASONS}, planted,
                            set(reasons)),
            "decontam": decontam_scores({i for i, r in reasons.items() if r == "contaminated"},
                                        contaminated, set(reasons))}


def recall_by_kind(removed: set[int], planted: dict[int, str]) -> dict[str, float]:
    """Recall per planted copy kind (retyped; 1, 2 or 3 words inserted or replaced)."""
    found = {}
    for kind in COPY_KINDS:
        rows = {i for i, k in planted.items() if k == kind}
        found[kind] = round(len(rows & removed) / len(rows), 4) if rows else 1.0
    return found


def openthoughts_dedup(texts: list[str]) -> tuple[set[int], float, float]:
    """Every pair by fuzz.ratio; a problem scoring >= 95 against an earlier one is removed."""
    started = time.monotonic()
    cpu = time.process_time()  # cdist's threads are this process's
    matrix = process.cdist(texts, texts, scorer=fuzz.ratio, processor=utils.default_process,
                           score_cutoff=95, workers=-1, dtype=np.uint8)
    rows, cols = np.nonzero(np.triu(matrix, k=1))
    return {int(j) for j in cols}, time.monotonic() - started, time.process_time() - cpu


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
    sub_planted = {i: k for i, k in planted.items() if i < size}
    sub_cont = {i for i in contaminated if i < size}
    ours, ours_stats = run_raydistill(sub, bench, root)
    print(json.dumps({"problems": size, "raydistill": ours_stats}), flush=True)
    load_before = psutil.getloadavg()
    fuzzy, fuzzy_s, fuzzy_cpu = openthoughts_dedup(sub)
    r1, r1_s = open_r1_decontam(sub, bench)
    return {
        "problems": size,
        "raydistill": {"seconds": ours_stats["seconds"], "filter_s": ours_stats["filter_s"],
                       "cpu_s": ours_stats["cpu_s"],
                       **score_raydistill(ours, sub_planted, sub_cont)},
        "openthoughts_rapidfuzz": {"seconds": round(fuzzy_s, 2), "cpu_s": round(fuzzy_cpu, 1),
                                   "dedup": scores(fuzzy, sub_planted),
                                   "load_average_before": load_before},
        "open_r1_8gram": {"seconds": round(r1_s, 3),
                          "decontam": decontam_scores(r1, sub_cont, r1)},
        "speed_ratio_rapidfuzz_over_raydistill": round(fuzzy_s / ours_stats["seconds"], 2),
        "cpu_ratio_rapidfuzz_over_raydistill": round(fuzzy_cpu / max(ours_stats["cpu_s"], 0.1),
                                                     2),
        "speed_ratio_open_r1_over_raydistill": round(r1_s / ours_stats["seconds"], 4),
    }


def table(compared: list[dict[str, Any]]) -> str:
    """The side-by-side dedup table (Markdown): recall per copy kind, distinct problems
    merged, precision, seconds, and how many times faster raydistill ran."""
    head = ["problems", "method", *COPY_KINDS, "recall", DISTINCT + " merged", "precision",
            "seconds", "CPU s", "speed-up (wall)", "speed-up (CPU)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in compared:
        for name, key in (("raydistill", "raydistill"), ("pairwise fuzz.ratio>=95",
                                                          "openthoughts_rapidfuzz")):
            d = c[key]["dedup"]
            ratio = c["speed_ratio_rapidfuzz_over_raydistill"]
            cpu_ratio = c["cpu_ratio_rapidfuzz_over_raydistill"]
            lines.append("| " + " | ".join([
                f"{c['problems']:,}", name, *(f"{d['recall_by_kind'][k]:.3f}" for k in COPY_KINDS),
                f"{d['recall']:.3f}", f"{d['distinct_merged']:.3f}", f"{d['precision']:.4f}",
                f"{c[key]['seconds']:.1f}", f"{c[key]['cpu_s']:.1f}",
                f"{ratio:.1f}x" if key == "raydistill" else "",
                f"{cpu_ratio:.1f}x" if key == "raydistill" else ""]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--problems", type=int, default=100_000)
    parser.add_argument("--compare", type=int, nargs="*", default=[],
                        help="subset sizes for the baselines (pairwise is quadratic)")
    parser.add_argument("--compare-only", action="store_true",
                        help="only the side-by-side runs, not raydistill on all --problems")
    parser.add_argument("--pairwise-only", type=int, default=0, metavar="N",
                        help="only the pairwise baseline on the first N problems (no Ray)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gsm8k", type=Path, default=Path("/work/shared/data/gsm8k"),
                        help="folder of GSM8K *.jsonl files (train and test)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    texts, bench, planted, contaminated = make(args.problems, args.seed,
                                               gsm8k_problems(args.gsm8k))
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "problems": args.problems, "planted": dict(sorted(Counter(planted.values()).items())),
        "contaminated_rows": len(contaminated), "make_s": round(time.monotonic() - started, 1),
        "load_average_before": psutil.getloadavg()}
    if args.pairwise_only:
        sub_planted = {i: k for i, k in planted.items() if i < args.pairwise_only}
        fuzzy, fuzzy_s, fuzzy_cpu = openthoughts_dedup(texts[:args.pairwise_only])
        result["openthoughts_rapidfuzz"] = {
            "problems": args.pairwise_only, "seconds": round(fuzzy_s, 2),
            "cpu_s": round(fuzzy_cpu, 1), "dedup": scores(fuzzy, sub_planted),
            "load_average_after": psutil.getloadavg()}
        print(json.dumps(result))
        return 0
    init_ray(load(["conf=local"]).ray)
    with tempfile.TemporaryDirectory(prefix="bench-filters-") as tmp:
        root = Path(tmp)
        if not args.compare_only:
            reasons, stats = run_raydistill(texts, bench, root)
            result["raydistill"] = {**stats, **score_raydistill(reasons, planted, contaminated)}
            print(json.dumps(result), flush=True)
        result["compare"] = []
        for size in args.compare:
            result["compare"].append(compare(size, texts, bench, planted, contaminated, root))
            print(json.dumps(result["compare"][-1]), flush=True)
            print(table(result["compare"]), flush=True)
    result["load_average_after"] = psutil.getloadavg()
    ray.shutdown()
    print(json.dumps(result))
    if result["compare"]:
        print(table(result["compare"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
