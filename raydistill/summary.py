"""The run summary: the funnel counted from the files written, not from memory.

Counting from ``all/`` and ``verified/`` means the summary cannot disagree with
the data, whichever workers produced it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raydistill.sinks import OutputLocation

COLUMNS = ["problem_id", "sample_idx", "source", "domain", "verdict", "verdict_detail", "verified",
           "finish_reason", "think_closed", "prompt_tokens", "completion_tokens", "response",
           "generated_at", "generation_seconds"]


def summarize(
    out: OutputLocation, staged: dict[str, int], timings: dict[str, float]
) -> dict[str, Any]:
    """Funnel counts, token throughput and pass rates by source and domain."""
    rows = out.read_columns(out.all, COLUMNS)
    verified_rows = out.read_columns(out.verified, ["problem_id"]).num_rows
    generated = rows.filter(pc.is_valid(rows["response"]))
    verdicts = Counter(rows["verdict"].to_pylist())
    truncated = generated.filter(
        pc.or_(pc.invert(generated["think_closed"]), pc.equal(generated["finish_reason"], "length"))
    ).num_rows
    completion_tokens = pc.sum(generated["completion_tokens"]).as_py() or 0
    passed_problems = len(set(rows.filter(rows["verified"])["problem_id"].to_pylist()))
    by_source: dict[str, dict[str, int]] = {}
    for source, verdict in zip(rows["source"].to_pylist(), rows["verdict"].to_pylist(),
                               strict=True):
        by_source.setdefault(source, Counter())[verdict] += 1
    details = Counter(
        d.split(":")[0] for d, v in zip(rows["verdict_detail"].to_pylist(),
                                        rows["verdict"].to_pylist(), strict=True)
        if v == "error"
    )
    # Throughput while the teacher pool was generating: first request start to
    # last request end, so engine start-up (~20-40 s on CPU) does not dilute it.
    window = 0.0
    timed = rows.filter(pc.is_valid(rows["generated_at"]))
    if timed.num_rows:
        ends = pc.add(timed["generated_at"], timed["generation_seconds"])
        window = pc.max(ends).as_py() - pc.min(timed["generated_at"]).as_py()
    return {
        "output": out.uri,
        "problems_read": staged["problems"],
        "duplicate_problems_dropped": staged["duplicates"],
        "input_errors": staged["input_errors"],
        "teacher_errors": rows.num_rows - generated.num_rows - staged["input_errors"],
        "samples": generated.num_rows,
        "rows_in_all": rows.num_rows,
        "verified": verified_rows,
        "failed": verdicts.get("fail", 0),
        "errors": verdicts.get("error", 0),
        "error_reasons": dict(details),
        "truncated": truncated,
        "pass_rate": verified_rows / generated.num_rows if generated.num_rows else 0.0,
        "problems_with_a_verified_sample": passed_problems,
        # Prompt tokens are per problem, repeated on each of its sample rows.
        "prompt_tokens": pc.sum(
            rows.filter(pc.equal(rows["sample_idx"], 0))["prompt_tokens"]
        ).as_py() or 0,
        "completion_tokens": completion_tokens,
        "completion_tokens_per_s": completion_tokens / window if window else 0.0,
        "generation_window_s": window,
        "by_source": {k: dict(v) for k, v in by_source.items()},
        "verifier_latency": verifier_latency(out.read_columns(out.all, ["verdicts"])["verdicts"]),
        "timings": timings,
    }


def teacher_usage(summary: dict[str, Any], teacher: dict[str, Any]) -> dict[str, Any]:
    """Tokens the teacher was billed for and their cost at the configured prices.

    Prices are per million tokens (``teacher.price_input_per_million`` and
    ``price_output_per_million``; 0 for a self-hosted engine). Input tokens are
    what the teacher reported per problem: one prompt for vLLM, one per request
    for an HTTP teacher that fans ``n`` out. Failed requests are not counted (the
    servers report no usage for them).

    >>> teacher_usage({"prompt_tokens": 2_000_000, "completion_tokens": 1_000_000},
    ...               {"price_input_per_million": 0.55, "price_output_per_million": 2.19})["cost"]
    3.29
    """
    cost_in = summary["prompt_tokens"] * teacher.get("price_input_per_million", 0.0) / 1e6
    cost_out = summary["completion_tokens"] * teacher.get("price_output_per_million", 0.0) / 1e6
    return {
        "input_tokens": summary["prompt_tokens"],
        "output_tokens": summary["completion_tokens"],
        "price_input_per_million": teacher.get("price_input_per_million", 0.0),
        "price_output_per_million": teacher.get("price_output_per_million", 0.0),
        "cost_input": round(cost_in, 9),
        "cost_output": round(cost_out, 9),
        "cost": round(cost_in + cost_out, 9),
    }


def verifier_latency(verdicts: pa.ChunkedArray) -> dict[str, dict[str, float]]:
    """Per verifier kind: checks, latency percentiles (ms) and retried sandbox errors.

    From the ``verdicts`` column, so it covers every worker. A slow tail here
    (p99 near ``verify.math_timeout_s`` or the sandbox's ``total_wall_s``) means
    the verifier pool can fall behind the teacher: add ``verify.replicas``.
    """
    entries = pc.list_flatten(verdicts)
    if not len(entries):
        return {}
    kinds = pc.struct_field(entries, "verifier")
    found: dict[str, dict[str, float]] = {}
    for kind in sorted(set(kinds.to_pylist()) - {None}):
        chosen = pc.filter(entries, pc.equal(kinds, kind))
        ms = pc.multiply(pc.struct_field(chosen, "seconds"), 1000.0)
        p50, p90, p99 = pc.quantile(ms, q=[0.5, 0.9, 0.99]).to_pylist()
        found[kind] = {"checks": len(chosen), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
                       "retries": pc.sum(pc.struct_field(chosen, "retries")).as_py() or 0}
    return found


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-run table the CLI prints."""
    lines = [
        ("problems read", summary["problems_read"]),
        ("  bad input rows (kept)", summary["input_errors"]),
        ("  duplicates dropped", summary["duplicate_problems_dropped"]),
        ("  teacher errors (kept)", summary["teacher_errors"]),
        ("samples generated", summary["samples"]),
        ("  truncated", summary["truncated"]),
        ("verified (pass)", summary["verified"]),
        ("failed", summary["failed"]),
        ("errors", summary["errors"]),
        ("pass rate", f"{summary['pass_rate']:.1%}"),
        ("problems with a verified sample", summary["problems_with_a_verified_sample"]),
        ("completion tokens", summary["completion_tokens"]),
        ("tokens/s while generating", f"{summary['completion_tokens_per_s']:.0f}"),
        # Only for priced teachers (an API): a self-hosted engine has no prices set.
        *((("teacher cost (config prices)", f"{summary['usage']['cost']:.4f}"),)
          if summary.get("usage", {}).get("cost") else ()),
        *((f"{kind} latency p50/p90/p99",
           f"{v['p50_ms']:.1f} / {v['p90_ms']:.1f} / {v['p99_ms']:.1f} ms "
           f"({v['checks']} checks, {v['retries']} retried)")
          for kind, v in summary.get("verifier_latency", {}).items()),
        ("wall time", f"{summary['timings']['total_s']:.1f} s"),
        ("output", summary["output"]),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
