"""An evaluation: ordinary runs over the benchmarks, then the protocol's numbers from their rows.

    <output.uri>/runs/seed-<s>/       one run per seed: n samples per problem (all/, summary)
    <output.uri>/runs/greedy/         with eval.greedy: one answer per problem at temperature 0
    <output.uri>/eval.json            per benchmark: avg@n ± stderr, pass@k, maj@n, greedy ...
    <output.uri>/eval_problems.parquet  per problem: samples, correct (what compare pairs on)
    <output.uri>/eval.md, eval.html   the evaluation card: the table and the protocol

Each run is a :func:`raydistill.pipeline.run` of the conf's teacher over every
benchmark at once (each benchmark a data set named after it; benchmarks asking for
another prompt template get runs of their own), so an evaluation scales, resumes
exactly once and verifies like a run. The numbers are computed from the runs' rows
every time, so a rerun of the same protocol writes the same ``eval.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raydistill.config import Config, to_dict
from raydistill.eval.benchmarks import Benchmark, resolve
from raydistill.eval.stats import majority, mean_stderr, pass_at_k
from raydistill.filters.config import FiltersConfig, TraceFiltersConfig
from raydistill.output.location import OutputLocation
from raydistill.output.storage import write_bytes_atomic
from raydistill.prompts import template_hash
from raydistill.reasons import status_of
from raydistill.sources.config import SourceConfig
from raydistill.verifiers.votes import equivalence, group_votes, vote_of

logger = logging.getLogger(__name__)

ROW_COLUMNS = ["problem_id", "source", "domain", "problem", "solution", "verified", "reason",
               "finish_reason", "completion_tokens"]


@dataclass
class EvalRun:
    """One run of an evaluation: its key under ``runs/``, its benchmarks and config."""

    key: str
    greedy: bool
    benchmarks: list[str]
    cfg: Config = field(repr=False)


def benchmarks_of(cfg: Config) -> list[Benchmark]:
    """The conf's benchmarks, each resolved against the built-in ones."""
    return [resolve(spec, cfg.eval.limit, cfg.prompt) for spec in cfg.eval.benchmarks]


def plan_runs(cfg: Config, benchmarks: list[Benchmark]) -> list[EvalRun]:
    """The runs of an evaluation: one per prompt template and seed, and the greedy ones."""
    groups: dict[str, list[Benchmark]] = {}
    for b in benchmarks:
        groups.setdefault(template_hash(b.prompt), []).append(b)
    runs = []
    for tag, group in groups.items():
        prefix = "" if len(groups) == 1 else f"{group[0].prompt.template}-{tag[:8]}-"
        for seed in cfg.eval.seeds:
            runs.append(_run(cfg, group, f"{prefix}seed-{seed}", seed, greedy=False))
        if cfg.eval.greedy:
            runs.append(_run(cfg, group, f"{prefix}greedy", cfg.eval.seeds[0], greedy=True))
    return runs


def _run(cfg: Config, group: list[Benchmark], key: str, seed: int, greedy: bool) -> EvalRun:
    run_cfg = copy.deepcopy(cfg)
    run_cfg.source = SourceConfig(datasets=[copy.deepcopy(b.dataset) for b in group],
                                  limit=None, problems_per_file=cfg.source.problems_per_file)
    run_cfg.prompt = copy.deepcopy(group[0].prompt)
    s, e = run_cfg.sampling, cfg.eval
    s.n, s.temperature, s.top_p = (1, 0.0, 1.0) if greedy else (e.n, e.temperature, e.top_p)
    s.max_tokens, s.seed, s.waves, s.min_tokens = e.max_tokens, seed, None, 0
    # Every sample is scored as the model wrote it: no problem or trace filter.
    run_cfg.filters = FiltersConfig(traces=TraceFiltersConfig(enabled=False))
    run_cfg.export.formats = []
    run_cfg.output.uri = f"{cfg.output.uri.rstrip('/')}/runs/{key}"
    return EvalRun(key, greedy, [b.name for b in group], run_cfg)


@dataclass
class ProblemTally:
    """One problem's samples across the runs of an evaluation."""

    domain: str = ""
    correct: int = 0
    scored: int = 0
    errors: int = 0
    truncated: int = 0
    no_answer: int = 0
    tokens: list[int] = field(default_factory=list)
    votes: list[str | None] = field(default_factory=list)
    vote_correct: list[bool] = field(default_factory=list)
    per_seed: dict[str, list[bool]] = field(default_factory=dict)
    greedy: bool | None = None


def tally(out_of: dict[str, OutputLocation], runs: list[EvalRun]
          ) -> dict[str, dict[str, ProblemTally]]:
    """``{benchmark: {problem_id: ProblemTally}}`` from every run's ``all/``."""
    found: dict[str, dict[str, ProblemTally]] = defaultdict(dict)
    for run in runs:
        out = out_of[run.key]
        for part in out.iter_columns(out.all, ROW_COLUMNS):
            for row in part.to_pylist():
                t = found[row["source"]].setdefault(row["problem_id"], ProblemTally())
                t.domain = row["domain"]
                reason = row["reason"] or ""
                if reason and status_of(reason) == "error":
                    t.errors += 1  # infrastructure: neither a pass nor a fail
                    continue
                ok = bool(row["verified"])
                if run.greedy:
                    t.greedy = ok if t.greedy is None else (t.greedy and ok)
                    continue
                t.scored += 1
                t.correct += ok
                t.truncated += reason == "truncated"
                t.no_answer += reason == "no_answer"
                t.tokens.append(int(row["completion_tokens"] or 0))
                t.per_seed.setdefault(run.key, []).append(ok)
                t.votes.append(None if reason == "truncated" else
                               vote_of(row["domain"], row["solution"]))
                t.vote_correct.append(ok)
    return found


def benchmark_figures(problems: dict[str, ProblemTally], ks: list[int]) -> dict[str, Any]:
    """The protocol's numbers for one benchmark's problems."""
    scored = {pid: t for pid, t in problems.items() if t.scored}
    accuracies = [t.correct / t.scored for t in scored.values()]
    avg, stderr = mean_stderr(accuracies)
    samples = sum(t.scored for t in scored.values())
    tokens = [n for t in scored.values() for n in t.tokens]
    pass_k: dict[str, float | None] = {}
    for k in ks:
        eligible = [t for t in scored.values() if t.scored >= k]
        pass_k[str(k)] = (round(statistics.fmean(pass_at_k(t.scored, t.correct, k)
                                                 for t in eligible), 4) if eligible else None)
    maj: list[bool] = []
    for t in scored.values():
        if t.domain == "code":
            continue  # programs cast no vote (verifiers.votes)
        groups = group_votes(t.votes, t.vote_correct, equivalence(t.domain))
        maj.append(majority(groups)[1])
    per_seed: dict[str, list[float]] = defaultdict(list)
    for t in scored.values():
        for key, oks in t.per_seed.items():
            per_seed[key].append(sum(oks) / len(oks))
    greedy = [t.greedy for t in problems.values() if t.greedy is not None]
    figures: dict[str, Any] = {
        "problems": len(scored),
        "samples": samples,
        "samples_per_problem": round(samples / len(scored), 4) if scored else 0,
        "avg@n": avg,
        "stderr": stderr,
        "pass@k": pass_k,
        "maj@n": round(statistics.fmean(maj), 4) if maj else None,
        "truncated_rate": round(sum(t.truncated for t in scored.values()) / samples, 4)
        if samples else 0.0,
        "no_answer_rate": round(sum(t.no_answer for t in scored.values()) / samples, 4)
        if samples else 0.0,
        "mean_completion_tokens": round(statistics.fmean(tokens), 1) if tokens else 0.0,
        "median_completion_tokens": statistics.median(tokens) if tokens else 0,
        "error_samples": sum(t.errors for t in problems.values()),
        "per_seed_avg": {k: round(statistics.fmean(v), 4) for k, v in sorted(per_seed.items())},
    }
    if greedy:
        figures["greedy_pass@1"] = round(sum(greedy) / len(greedy), 4)
    return figures


def protocol(cfg: Config) -> dict[str, Any]:
    """What makes the numbers reproducible: the model, decoding, seeds, verifiers, template."""
    e = cfg.eval
    return {"model": cfg.teacher.model, "teacher": cfg.teacher.name, "n": e.n,
            "temperature": e.temperature, "top_p": e.top_p, "max_tokens": e.max_tokens,
            "seeds": list(e.seeds), "k": list(e.k), "greedy": e.greedy, "limit": e.limit,
            "template": cfg.prompt.template, "judge": cfg.judge.policy,
            "verifiers": "raydistill rule verifiers (math: math-verify + fixes; code: sandbox;"
                         " mcq: letter)"}


def problem_table(found: dict[str, dict[str, ProblemTally]]) -> pa.Table:
    """One row per (benchmark, problem): what ``raydistill compare`` pairs models on."""
    rows = [{"benchmark": name, "problem_id": pid, "samples": t.scored, "correct": t.correct,
             "accuracy": t.correct / t.scored if t.scored else None, "greedy": t.greedy}
            for name in sorted(found) for pid, t in sorted(found[name].items())]
    return pa.Table.from_pylist(rows, schema=PROBLEMS)


PROBLEMS = pa.schema([("benchmark", pa.string()), ("problem_id", pa.string()),
                      ("samples", pa.int64()), ("correct", pa.int64()),
                      ("accuracy", pa.float64()), ("greedy", pa.bool_())])


def write_results(out: OutputLocation, result: dict[str, Any], table: pa.Table) -> None:
    """``eval.json``, ``eval_problems.parquet`` and the card, each written atomically."""
    from raydistill.eval.card import render_html, render_markdown

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes_atomic(out.fs, f"{out.root}/eval_problems.parquet", sink.getvalue().to_pybytes())
    write_bytes_atomic(out.fs, f"{out.root}/eval.json",
                       json.dumps(result, indent=2).encode())
    write_bytes_atomic(out.fs, f"{out.root}/eval.md", render_markdown(result).encode())
    write_bytes_atomic(out.fs, f"{out.root}/eval.html", render_html(result).encode())


def evaluate(cfg: Config) -> dict[str, Any]:
    """Run (or resume) every run of the evaluation and write its results; return eval.json."""
    from raydistill.eval.contamination import overlap
    from raydistill.pipeline import run

    benchmarks = benchmarks_of(cfg)
    runs = plan_runs(cfg, benchmarks)
    out_of = {r.key: OutputLocation(r.cfg.output) for r in runs}
    for r in runs:
        logger.info("eval run %s: %s", r.key, ", ".join(r.benchmarks))
        run(r.cfg, out_of[r.key])
    found = tally(out_of, runs)
    result: dict[str, Any] = {
        "protocol": protocol(cfg),
        "benchmarks": {b.name: {**benchmark_figures(found.get(b.name, {}), cfg.eval.k),
                                "domain": b.dataset.domain, "source": asdict(b.dataset)}
                       for b in benchmarks},
        "runs": {r.key: r.cfg.output.uri for r in runs},
    }
    if cfg.eval.train_runs:
        hits = overlap(cfg, out_of[runs[0].key], [b.name for b in benchmarks])
        for name, figures in hits.items():
            result["benchmarks"][name]["contamination"] = figures
    first = out_of[runs[0].key].read_summary()
    result["versions"] = first.get("versions", {})
    result["config"] = {k: v for k, v in to_dict(cfg).items()
                        if k in ("teacher", "eval", "prompt", "verify", "judge")}
    out = OutputLocation(cfg.output)
    write_results(out, result, problem_table(found))
    logger.info("wrote %s/eval.json", cfg.output.uri.rstrip("/"))
    return result

