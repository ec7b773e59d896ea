"""Benchmark decontamination: a word n-gram index of the benchmarks, a filter over problems.

As in datatrove's ``decont/n_grams.py``: the benchmarks (small: hundreds to a few
thousand problems) are read once on the driver into a set of normalised word
``n``-grams; each problem's n-grams are looked up in map_batches tasks, and the
first hit is kept as evidence (the benchmark, its problem, the shared n-gram). A
benchmark problem shorter than ``n`` words is indexed whole and matches a problem
that contains all of its words in order. Keys are the n-gram strings, not Python
hashes, which differ between worker processes.

Optionally (``filters.decontam.near``) a problem without a shared n-gram is also
compared by MinHash: the benchmarks' band keys (:mod:`raydistill.filters.minhash`)
sit in a dict on every task, a problem's bands are looked up, and a candidate whose
estimated Jaccard reaches the threshold is the evidence (``similarity`` instead of
``ngram``). The benchmarks are small, so no shuffle is needed here.

>>> index = build_index([("toy", ["Tom has three red apples and gives one of them to Ann."])], 5)
>>> match("Q: tom has three red apples and gives one away?", index)["ngram"]
'tom has three red apples'
>>> match("Unrelated text about chemistry and physics here.", index) is None
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from raydistill.filters import minhash
from raydistill.filters.config import BenchmarkConfig, NearDupConfig
from raydistill.filters.normalize import words
from raydistill.sources import read_dataset
from raydistill.sources.config import DatasetConfig

# How much of the benchmark problem the removal detail quotes.
QUOTE_CHARS = 300

HITS = pa.schema([("problem_id", pa.string()), ("benchmark", pa.string()),
                  ("detail", pa.string())])


@dataclass
class NearIndex:
    """Band key -> benchmark problems, and their MinHash signatures."""

    params: NearDupConfig
    bands: int
    rows: int
    buckets: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    signatures: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)


@dataclass
class NgramIndex:
    """n-gram -> (benchmark, index into its problems)."""

    n: int
    grams: dict[str, tuple[str, int]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    # Lengths of benchmark problems indexed whole (shorter than n words).
    short: set[int] = field(default_factory=set)
    near: NearIndex | None = None


def _grams(ws: list[str], n: int) -> Iterator[str]:
    for i in range(len(ws) - n + 1):
        yield " ".join(ws[i:i + n])


def _signatures(texts: list[str], params: NearDupConfig) -> np.ndarray:
    return minhash.signatures(texts, params.shingle_words, params.num_perm, params.seed)


def build_near_index(benchmarks: dict[str, list[str]], params: NearDupConfig) -> NearIndex:
    """The benchmarks' band keys and signatures, with ``params``' banding."""
    bands, rows = minhash.band_params(params.threshold, params.num_perm, params.bands,
                                      params.rows)
    index = NearIndex(params, bands, rows)
    for name, texts in benchmarks.items():
        if not texts:
            continue
        sig = _signatures(texts, params)
        for i, keys in enumerate(minhash.band_keys(sig, bands, rows).tolist()):
            index.signatures[(name, i)] = sig[i]
            for key in keys:
                index.buckets.setdefault(key, []).append((name, i))
    return index


def near_matches(texts: list[str], index: NgramIndex) -> list[dict[str, Any] | None]:
    """Per text, the most similar benchmark problem at or above the threshold, or None."""
    near = index.near
    if near is None or not texts:
        return [None] * len(texts)
    sig = _signatures(texts, near.params)
    found: list[dict[str, Any] | None] = []
    for s, keys in zip(sig, minhash.band_keys(sig, near.bands, near.rows).tolist(),
                       strict=True):
        best, score = None, near.params.threshold
        for candidate in {c for key in keys for c in near.buckets.get(key, ())}:
            similarity = minhash.estimated_jaccard(s, near.signatures[candidate])
            if similarity >= score:
                best, score = candidate, similarity
        if best is None:
            found.append(None)
            continue
        name, i = best
        found.append({"benchmark": name, "benchmark_index": i,
                      "benchmark_problem": index.problems[name][i][:QUOTE_CHARS],
                      "similarity": round(score, 4)})
    return found


def build_index(benchmarks: Iterable[tuple[str, list[str]]], n: int,
                near: NearDupConfig | None = None) -> NgramIndex:
    """Index ``(name, problem texts)`` pairs by their word ``n``-grams (and MinHash bands).

    >>> index = build_index([("toy", ["Tom has three red apples and gives one to Ann."])], 13,
    ...                     NearDupConfig(shingle_words=2))
    >>> near_matches(["Tom has three red apples and gives one to Bob."], index)[0]["similarity"]
    0.8594
    """
    index = NgramIndex(n)
    for name, texts in benchmarks:
        index.problems[name] = texts
        for i, text in enumerate(texts):
            ws = words(text)
            if not ws:
                continue
            if len(ws) < n:
                index.short.add(len(ws))
                index.grams.setdefault(" ".join(ws), (name, i))
                continue
            for gram in _grams(ws, n):
                index.grams.setdefault(gram, (name, i))
    if near is not None:
        index.near = build_near_index(index.problems, near)
    return index


def read_benchmarks(specs: list[BenchmarkConfig], n: int, endpoint: str | None = None,
                    near: NearDupConfig | None = None) -> NgramIndex:
    """Read every configured benchmark (hub id, local file or s3://) and index it."""
    sets = []
    for spec in specs:
        source = DatasetConfig(name=spec.name, format=spec.format, path=spec.path,
                               split=spec.split, subset=spec.subset, preset=spec.preset,
                               question_field=spec.question_field,
                               answer_field=spec.answer_field)
        texts = [row["problem"] for row in read_dataset(source, spec.limit, endpoint)
                 if row["input_error"] is None]
        sets.append((spec.name, texts))
    return build_index(sets, n, near)


def match(text: str, index: NgramIndex) -> dict[str, Any] | None:
    """The first benchmark n-gram found in ``text``: benchmark, its problem, the n-gram."""
    ws = words(text)
    for length in (index.n, *sorted(index.short)):
        for gram in _grams(ws, length):
            hit = index.grams.get(gram)
            if hit is not None:
                name, i = hit
                return {"benchmark": name, "benchmark_index": i,
                        "benchmark_problem": index.problems[name][i][:QUOTE_CHARS],
                        "ngram": gram}
    return None


def contaminated(batch: pa.Table, index: NgramIndex) -> pa.Table:
    """The rows of ``batch`` (problems) that overlap a benchmark, with the evidence."""
    hits, unmatched = [], []
    for pid, text, error in zip(batch.column("problem_id").to_pylist(),
                                batch.column("problem").to_pylist(),
                                batch.column("input_error").to_pylist(), strict=True):
        if error is not None or not text:
            continue
        hit = match(text, index)
        if hit is not None:
            hits.append((pid, hit))
        elif index.near is not None:
            unmatched.append((pid, text))
    near = near_matches([t for _, t in unmatched], index)
    hits += [(pid, hit) for (pid, _), hit in zip(unmatched, near, strict=True) if hit]
    return pa.table([[p for p, _ in hits], [h["benchmark"] for _, h in hits],
                     [json.dumps(h, ensure_ascii=False) for _, h in hits]], schema=HITS)
