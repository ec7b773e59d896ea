"""The run summary: the funnel counted from the files written, not from memory.

Counting from ``all/`` and ``verified/`` means the summary cannot disagree with
the data, whichever workers produced it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raydistill.observe.labels import COLUMNS as LABEL_COLUMNS
from raydistill.observe.labels import LabelTally
from raydistill.output.location import OutputLocation
from raydistill.reasons import FILTERED_PREFIX
from raydistill.sampling.waves import Wave, wave_summary

# Read file by file; each file's response text is reduced to "was one generated"
# before the next is read, so the summary's memory does not grow with the run.
COLUMNS = ["problem_id", "sample_idx", "source", "verdict", "reason", "verified",
           "finish_reason", "think_closed", "prompt_tokens", "completion_tokens",
           "generated_at", "generation_seconds", "verdicts", "response", "budget_forced",
           "unspent_tokens"]


class Tally:
    """The summary's counts, added one record batch of ``all/`` at a time.

    Memory is Arrow columns of a few bytes per row (the ids of verified
    samples, the time of each verifier check), never the rows' texts.
    """

    def __init__(self, waves: list[Wave] | None = None) -> None:
        # Adaptive sampling: each wave's first sample index, and per row the few
        # columns wave_summary counts.
        self.offsets = pa.array([w.offset for w in waves or []], pa.int64())
        self.by_wave: list[pa.Table] = []
        self.rows = self.samples = self.truncated = 0
        # sampling.stop_on_repetition and think_budget: samples stopped looping,
        # the tokens they did not spend, samples whose reasoning was closed.
        self.repetition_stopped = self.unspent_tokens = self.budget_forced = 0
        self.completion_tokens = self.prompt_tokens = 0
        self.verdicts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.error_reasons: Counter[str] = Counter()
        self.by_source: dict[str, Counter[str]] = {}
        self.passed_ids: list[pa.Array] = []
        # Each timed row's request: start and end times (the window and its busy time).
        self.spans: list[pa.Table] = []
        self.checks: list[pa.Table] = []

    def add(self, batch: pa.Table) -> None:
        """Count one part of ``all/`` (its columns: :data:`COLUMNS`)."""
        self.rows += batch.num_rows
        generated = batch.filter(pc.is_valid(batch["response"]))
        self.samples += generated.num_rows
        self.truncated += generated.filter(pc.or_(
            pc.invert(generated["think_closed"]),
            pc.equal(generated["finish_reason"], "length"))).num_rows
        self.completion_tokens += pc.sum(generated["completion_tokens"]).as_py() or 0
        self.repetition_stopped += pc.sum(pc.equal(generated["finish_reason"],
                                                   "repetition")).as_py() or 0
        self.unspent_tokens += pc.sum(generated["unspent_tokens"]).as_py() or 0
        self.budget_forced += pc.sum(generated["budget_forced"]).as_py() or 0
        # Prompt tokens are per request, repeated on each of its sample rows: one
        # request per problem, or per problem and wave under adaptive sampling. A
        # prompt the teacher refused (too long for the context) consumed none.
        first = (pc.equal(batch["sample_idx"], pc.take(self.offsets, batch["wave"]))
                 if "wave" in batch.column_names else pc.equal(batch["sample_idx"], 0))
        sent = batch.filter(pc.and_(first, pc.is_valid(batch["response"])))
        self.prompt_tokens += pc.sum(sent["prompt_tokens"]).as_py() or 0
        if "wave" in batch.column_names:
            sent_mask = pc.fill_null(pc.and_(first, pc.is_valid(batch["response"])), False)
            self.by_wave.append(pa.table({
                "problem_id": batch["problem_id"], "wave": batch["wave"],
                "verified": batch["verified"], "completion_tokens": batch["completion_tokens"],
                "prompt_tokens": pc.if_else(sent_mask, pc.fill_null(batch["prompt_tokens"], 0),
                                            0),
                "generated": pc.is_valid(batch["response"])}))
        self.passed_ids.append(batch.filter(batch["verified"])["problem_id"])
        verdicts = batch["verdict"].to_pylist()
        self.verdicts.update(verdicts)
        for source, verdict in zip(batch["source"].to_pylist(), verdicts, strict=True):
            self.by_source.setdefault(source, Counter())[verdict] += 1
        self.reasons.update(batch["reason"].to_pylist())
        errors = batch.filter(pc.equal(batch["verdict"], "error"))["reason"]
        self.error_reasons.update(errors.to_pylist())
        timed = batch.filter(pc.is_valid(batch["generated_at"]))
        if timed.num_rows:
            self.spans.append(pa.table({
                "start": timed["generated_at"],
                "end": pc.add(timed["generated_at"], timed["generation_seconds"])}))
        self.checks.append(check_times(pc.list_flatten(batch["verdicts"])))

    def passed_problems(self) -> int:
        """Distinct problems with at least one verified sample."""
        if not self.passed_ids:
            return 0
        distinct = pc.count_distinct(pa.chunked_array(self.passed_ids, pa.string()))
        return int(distinct.as_py())

    @property
    def window(self) -> float:
        """First request start to last request end, 0 when nothing was timed.

        Engine start-up (~20-40 s on CPU) is outside it, so it does not dilute throughput.
        """
        if not self.spans:
            return 0.0
        spans = pa.concat_tables(self.spans)
        end = pc.max(spans["end"]).as_py()
        return 0.0 if end is None else end - pc.min(spans["start"]).as_py()

    @property
    def busy(self) -> float:
        """Seconds of the window with a request in flight (the union of request spans).

        The window less this is the time between waves (pools starting, waves written).

        >>> t = Tally()
        >>> t.spans = [pa.table({"start": [0.0, 1.0, 5.0], "end": [2.0, 3.0, 6.0]})]
        >>> t.busy
        4.0
        """
        if not self.spans:
            return 0.0
        spans = pa.concat_tables(self.spans).sort_by("start")
        busy, reach = 0.0, float("-inf")
        for start, end in zip(spans["start"].to_pylist(), spans["end"].to_pylist(),
                              strict=True):
            if end is None or end <= reach:
                continue
            busy += end - max(start, reach)
            reach = end
        return busy


def summarize(
    out: OutputLocation, staged: dict[str, int], timings: dict[str, float],
    waves: list[Wave] | None = None,
) -> dict[str, Any]:
    """Funnel counts, token throughput and pass rates by source and domain.

    ``waves`` (adaptive sampling's plan) adds ``waves``: the counts of each wave.
    """
    tally, labels = Tally(waves), LabelTally()
    columns = COLUMNS + [c for c in LABEL_COLUMNS if c not in COLUMNS]
    for part in out.iter_columns(out.all, columns + (["wave"] if waves else [])):
        tally.add(part)
        labels.add(part)
    verified_rows = sum(t.num_rows for t in out.iter_columns(out.verified, ["problem_id"]))
    window = tally.window
    return {
        "output": out.uri,
        "problems_read": staged["problems"],
        "duplicate_problems_dropped": staged["duplicates"],
        "input_errors": staged["input_errors"],
        "teacher_errors": tally.rows - tally.samples - staged["input_errors"],
        "samples": tally.samples,
        "rows_in_all": tally.rows,
        "verified": verified_rows,
        "failed": tally.verdicts.get("fail", 0),
        "errors": tally.verdicts.get("error", 0),
        # Reason codes (raydistill.reasons) of the error rows, and of every row.
        "error_reasons": dict(tally.error_reasons),
        "reasons": dict(tally.reasons),
        # Verified samples the trace filters turned into failures, by filter name.
        "trace_filtered": trace_filtered(tally.reasons),
        "truncated": tally.truncated,
        # Samples stopped looping (reason repetition) and the tokens of their
        # max_tokens they did not spend; samples whose reasoning hit think_budget.
        "repetition_stopped": tally.repetition_stopped,
        "unspent_tokens": tally.unspent_tokens,
        "budget_forced": tally.budget_forced,
        "pass_rate": verified_rows / tally.samples if tally.samples else 0.0,
        "problems_with_a_verified_sample": tally.passed_problems(),
        "prompt_tokens": tally.prompt_tokens,
        "completion_tokens": tally.completion_tokens,
        "completion_tokens_per_s": tally.completion_tokens / window if window else 0.0,
        "generation_window_s": window,
        # The window's seconds with a request in flight: its throughput is the
        # teacher's, without the time between waves.
        "generation_busy_s": tally.busy,
        "by_source": {k: dict(v) for k, v in tally.by_source.items()},
        # Where the labels came from and the golds a confident majority disagrees with.
        "labels": labels.summary(),
        "verifier_latency": checks_latency(pa.concat_tables(tally.checks))
        if tally.checks else {},
        "timings": timings,
        **({"waves": wave_summary(pa.concat_tables(tally.by_wave), waves)}
           if waves and tally.by_wave else {}),
    }


def trace_filtered(reasons: Counter[str] | dict[str, int]) -> dict[str, int]:
    """Samples per trace filter (``filtered:<name>`` reason codes), by filter name.

    >>> trace_filtered({"filtered:repetition": 2, "wrong_answer": 5, "filtered:length": 1})
    {'length': 1, 'repetition': 2}
    """
    return dict(sorted((k[len(FILTERED_PREFIX):], v) for k, v in reasons.items()
                       if k and k.startswith(FILTERED_PREFIX)))


def teacher_usage(summary: dict[str, Any], teacher: dict[str, Any],
                  teachers: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Tokens the teachers were billed for and their cost at the configured prices.

    ``teachers`` (the summary's per-teacher counts, escalation) makes ``cost`` the sum
    of each teacher's cost at its own prices; the prices shown are ``teacher``'s.

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
    escalated = teachers is not None and len(teachers) > 1
    return {
        "input_tokens": summary["prompt_tokens"],
        "output_tokens": summary["completion_tokens"],
        "price_input_per_million": teacher.get("price_input_per_million", 0.0),
        "price_output_per_million": teacher.get("price_output_per_million", 0.0),
        "cost_input": round(cost_in, 9),
        "cost_output": round(cost_out, 9),
        "cost": round(sum(t["cost"] for t in (teachers or {}).values()) if escalated
                      else cost_in + cost_out, 9),
    }


def verifier_latency(verdicts: pa.ChunkedArray) -> dict[str, dict[str, float]]:
    """Per verifier kind: checks, latency percentiles (ms) and retried sandbox errors.

    From the ``verdicts`` column, so it covers every worker. A slow tail here
    (p99 near ``verify.math_timeout_s`` or the sandbox's ``total_wall_s``) means
    the verifier pool can fall behind the teacher: add ``verify.replicas``.
    """
    return checks_latency(check_times(pc.list_flatten(verdicts)))


def check_times(entries: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Kind, seconds and retries of each verifier check (one entry of a ``verdicts`` list)."""
    return pa.table({name: pc.struct_field(entries, name)
                     for name in ("verifier", "seconds", "retries")})


def checks_latency(checks: pa.Table) -> dict[str, dict[str, float]]:
    """:func:`verifier_latency` of the checks :func:`check_times` listed."""
    found: dict[str, dict[str, float]] = {}
    kinds = checks["verifier"]
    for kind in sorted(set(pc.unique(kinds).to_pylist()) - {None}):
        chosen = checks.filter(pc.equal(kinds, kind))
        ms = pc.multiply(chosen["seconds"], 1000.0)
        p50, p90, p99 = pc.quantile(ms, q=[0.5, 0.9, 0.99]).to_pylist()
        found[kind] = {"checks": chosen.num_rows, "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
                       "retries": pc.sum(chosen["retries"]).as_py() or 0}
    return found


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-run table the CLI prints."""
    lines = [
        ("problems read", summary["problems_read"]),
        ("  bad input rows (kept)", summary["input_errors"]),
        ("  duplicates dropped", summary["duplicate_problems_dropped"]),
        # The problem filters' removals (removed/), by reason.
        *((f"  removed: {reason}", count)
          for reason, count in ((summary.get("removed") or {}).get("removed") or {}).items()),
        ("  teacher errors (kept)", summary["teacher_errors"]),
        ("samples generated", summary["samples"]),
        ("  truncated", summary["truncated"]),
        *((("  stopped looping", f"{summary['repetition_stopped']} "
            f"({summary['unspent_tokens']:,} tokens not spent)"),)
          if summary.get("repetition_stopped") else ()),
        *((("  budget forced", summary["budget_forced"]),) if summary.get("budget_forced")
          else ()),
        ("verified (pass)", summary["verified"]),
        ("failed", summary["failed"]),
        # Of the failures: passed the verifier, then failed a trace quality filter.
        *((f"  filtered: {name}", count)
          for name, count in summary.get("trace_filtered", {}).items()),
        ("errors", summary["errors"]),
        ("pass rate", f"{summary['pass_rate']:.1%}"),
        ("problems with a verified sample", summary["problems_with_a_verified_sample"]),
        *((("problems with a suspect gold", summary["labels"]["suspect_gold"]),)
          if summary.get("labels", {}).get("suspect_gold") else ()),
        # Adaptive sampling: one line per wave.
        *((f"  wave {w['wave']} ({w['n']} each)",
           f"{w['problems']} problems, {w['samples']} samples, {w['verified']} verified, "
           f"{w['newly_solved']} newly solved") for w in summary.get("waves", [])),
        # Escalation: one line per teacher.
        *((f"  teacher {name} ({t['model']})",
           f"{t['samples']} samples, {t['verified']} verified, {t['completion_tokens']} "
           f"tokens, cost {t['cost']:.4f}, {t['newly_solved']} first solved")
          for name, t in summary.get("teachers", {}).items()
          if len(summary.get("teachers", {})) > 1),
        ("completion tokens", summary["completion_tokens"]),
        ("tokens/s while generating", f"{summary['completion_tokens_per_s']:.0f}"),
        # Only for priced teachers (an API): a self-hosted engine has no prices set.
        *((("teacher cost (config prices)", f"{summary['usage']['cost']:.4f}"),)
          if summary.get("usage", {}).get("cost") else ()),
        *((f"{kind} latency p50/p90/p99",
           f"{v['p50_ms']:.1f} / {v['p90_ms']:.1f} / {v['p99_ms']:.1f} ms "
           f"({v['checks']} checks, {v['retries']} retried)")
          for kind, v in summary.get("verifier_latency", {}).items()),
        # A spending cap stopped the run between waves (output/caps.py).
        *((("STOPPED AT CAP", f"{c['cap']} before wave {c['before_wave']} (spent "
            f"{c['completion_tokens']} tokens, {c['cost']:.4f} USD); rerun with a higher cap "
            "to resume"),) if (c := summary.get("stopped_at_cap")) else ()),
        ("wall time", f"{summary['timings']['total_s']:.1f} s"),
        ("output", summary["output"]),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
