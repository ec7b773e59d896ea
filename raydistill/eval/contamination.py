"""How many benchmark problems the model's training runs had seen: the filters' n-gram index.

The benchmarks' problems (as the evaluation read them) are indexed by their word
n-grams with :func:`raydistill.filters.decontam.build_index`, the index the
decontamination filter uses, and every problem of each training run (``all/``) is
looked up in it. A benchmark problem counts once however many training problems
share an n-gram with it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from raydistill.config import Config
from raydistill.filters.decontam import build_index, match
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation

# Overlapping problems quoted per benchmark in eval.json.
EXAMPLES = 3


def benchmark_texts(run: OutputLocation, names: list[str]) -> dict[str, list[str]]:
    """Each benchmark's problem texts, in problem-id order, from an evaluation run's rows."""
    seen: dict[str, dict[str, str]] = defaultdict(dict)
    for part in run.iter_columns(run.all, ["problem_id", "source", "problem"]):
        for pid, source, text in zip(part["problem_id"].to_pylist(),
                                     part["source"].to_pylist(), part["problem"].to_pylist(),
                                     strict=True):
            if source in names and text:
                seen[source].setdefault(pid, text)
    return {name: [seen[name][pid] for pid in sorted(seen[name])] for name in names}


def overlap(cfg: Config, run: OutputLocation, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per benchmark: the training runs checked and the benchmark problems they overlap."""
    n = cfg.eval.contamination_ngram
    index = build_index(benchmark_texts(run, names).items(), n)
    hit: dict[str, set[int]] = defaultdict(set)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for uri in cfg.eval.train_runs:
        train = OutputLocation(OutputConfig(uri=uri, s3_endpoint=cfg.output.s3_endpoint,
                                            s3_region=cfg.output.s3_region))
        done: set[str] = set()
        for part in train.iter_columns(train.all, ["problem_id", "problem"]):
            for pid, text in zip(part["problem_id"].to_pylist(), part["problem"].to_pylist(),
                                 strict=True):
                if pid in done or not text:
                    continue
                done.add(pid)
                found = match(text, index)
                if found is None or found["benchmark_index"] in hit[found["benchmark"]]:
                    continue
                hit[found["benchmark"]].add(found["benchmark_index"])
                if len(examples[found["benchmark"]]) < EXAMPLES:
                    examples[found["benchmark"]].append(
                        {"train_run": uri, "train_problem_id": pid, "ngram": found["ngram"],
                         "benchmark_problem": found["benchmark_problem"]})
    return {name: {"train_runs": list(cfg.eval.train_runs), "ngram": n,
                   "overlapping_problems": len(hit[name]), "examples": examples[name]}
            for name in names}
