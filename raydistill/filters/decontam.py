"""Benchmark decontamination: a word n-gram index of the benchmarks, a filter over problems.

As in datatrove's ``decont/n_grams.py``: the benchmarks (small: hundreds to a few
thousand problems) are read once on the driver into a set of normalised word
``n``-grams; each problem's n-grams are looked up in map_batches tasks, and the
first hit is kept as evidence (the benchmark, its problem, the shared n-gram). A
benchmark problem shorter than ``n`` words is indexed whole and matches a problem
that contains all of its words in order. Keys are the n-gram strings, not Python
hashes, which differ between worker processes.

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

import pyarrow as pa

from raydistill.config import DatasetConfig
from raydistill.filters.config import BenchmarkConfig
from raydistill.filters.normalize import words
from raydistill.sources import read_dataset

# How much of the benchmark problem the removal detail quotes.
QUOTE_CHARS = 300

HITS = pa.schema([("problem_id", pa.string()), ("benchmark", pa.string()),
                  ("detail", pa.string())])


@dataclass
class NgramIndex:
    """n-gram -> (benchmark, index into its problems)."""

    n: int
    grams: dict[str, tuple[str, int]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    # Lengths of benchmark problems indexed whole (shorter than n words).
    short: set[int] = field(default_factory=set)


def _grams(ws: list[str], n: int) -> Iterator[str]:
    for i in range(len(ws) - n + 1):
        yield " ".join(ws[i:i + n])


def build_index(benchmarks: Iterable[tuple[str, list[str]]], n: int) -> NgramIndex:
    """Index ``(name, problem texts)`` pairs by their word ``n``-grams."""
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
    return index


def read_benchmarks(specs: list[BenchmarkConfig], n: int,
                    endpoint: str | None = None) -> NgramIndex:
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
    return build_index(sets, n)


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
    ids, names, details = [], [], []
    for pid, text, error in zip(batch.column("problem_id").to_pylist(),
                                batch.column("problem").to_pylist(),
                                batch.column("input_error").to_pylist(), strict=True):
        if error is not None or not text:
            continue
        hit = match(text, index)
        if hit is not None:
            ids.append(pid)
            names.append(hit["benchmark"])
            details.append(json.dumps(hit, ensure_ascii=False))
    return pa.table([ids, names, details], schema=HITS)
