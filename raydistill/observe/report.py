"""The run report: one self-contained HTML page next to the data (``<uri>/report.html``).

Built from what the run wrote (``all/`` and ``summary.json``), so it can be made
again at any time for any output URI, local or ``s3://``
(``raydistill report URI``); ``pipeline.run`` writes it at the end of a run.
Sections (counted by :mod:`raydistill.observe.tally`): headline numbers, the funnel
(problems -> samples -> verified) by source and domain, pass@k per problem, problems
by pass rate (``problems/``), reasoning and answer lengths in tokens, the verdict
breakdown, throughput over time, and cost. Charts are inline SVG
(:mod:`raydistill.observe.charts`): the page fetches nothing, so it opens offline
and can be mailed or attached to a ticket.

Reasoning and answer lengths are each sample's ``completion_tokens`` split in
proportion to the characters of its reasoning and its answer: exact in total,
close per part (the tokenizer is not loaded to make a report).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from html import escape
from typing import Any

import pyarrow as pa

from raydistill.observe import charts
from raydistill.observe.tally import VERDICTS, Tally, pass_at_k, read_samples, read_summary
from raydistill.output.location import OutputLocation
from raydistill.output.problems import RATE_BINS, TALLY_COLUMNS, read_problem_table, tally
from raydistill.output.storage import StorageError

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
# Bins of the length histograms and of the throughput-over-time chart: enough
# for a shape, few enough that each bar's count stays legible.
LENGTH_BINS = 20
TIME_BINS = 40
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;
padding:8px 12px;min-width:120px}.card b{display:block;font-size:20px}.card span{color:#666;
font-size:12px}table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{
text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}.note{color:#666;font-size:12px}
"""


def _money(usd: float) -> str:
    """Dollars, with cents unless the amount is below a dollar.

    >>> _money(1234.5), _money(0.00123)
    ('$1,234.50', '$0.00123')
    """
    if usd >= 1 or usd <= 0:
        return f"${usd:,.2f}"
    return f"${usd:.{2 - math.floor(math.log10(usd))}f}"  # three significant digits


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.4g}"
        return escape(f"{value:,}" if isinstance(value, int) else str(value))

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _funnel(tally: Tally, key: str) -> tuple[str, str]:
    column = 0 if key == "source" else 1
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for entry in tally.problems.values():
        # problems, answered, samples, trace-filtered samples, verified samples, solved
        g = groups[entry[column]]
        g[0] += 1
        g[1] += entry[2] > 0
        g[2] += entry[2]
        g[3] += entry[4]
        g[4] += entry[3]
        g[5] += entry[3] > 0
    names = sorted(groups)
    rows: list[list[Any]] = [
        [name, *groups[name][:5], f"{groups[name][4] / groups[name][2]:.1%}"
         if groups[name][2] else "-", groups[name][5]] for name in names]
    table = _table([key, "problems", "answered", "samples", "filtered by trace filters",
                    "verified samples", "pass rate", "problems solved"], rows)
    chart = charts.bars(f"Funnel by {key}", names, {
        "problems": [groups[n][0] for n in names], "samples": [groups[n][2] for n in names],
        "filtered samples": [groups[n][3] for n in names],
        "verified samples": [groups[n][4] for n in names],
        "problems solved": [groups[n][5] for n in names]})
    return chart, table


def _pass_at_k(tally: Tally) -> tuple[str, str]:
    # (source, n, c) -> problems: few distinct keys, however many problems.
    per_problem = Counter((e[0], e[2], e[3]) for e in tally.problems.values() if e[2])
    if not per_problem:
        return "<p>No samples were generated.</p>", ""
    n_max = max(n for _, n, _ in per_problem)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n_max] or [1]
    sources = sorted({source for source, _, _ in per_problem})
    rows = []
    for source in [*sources, "all"]:
        chosen = {(s, n, c): m for (s, n, c), m in per_problem.items() if source in ("all", s)}
        row: list[Any] = [source, sum(chosen.values())]
        for k in ks:
            usable = [(pass_at_k(n, c, k), m) for (_, n, c), m in chosen.items() if n >= k]
            total = sum(m for _, m in usable)
            row.append(f"{sum(p * m for p, m in usable) / total:.1%}" if total else "-")
        rows.append(row)
    table = _table(["source", "problems", *[f"pass@{k}" for k in ks]], rows)
    passing: Counter[int] = Counter()
    for (_, _, c), m in per_problem.items():
        passing[c] += m
    chart = charts.bars(
        "Problems by number of passing samples", [f"{c} of {n_max}" for c in range(n_max + 1)],
        {"problems": [passing.get(c, 0) for c in range(n_max + 1)]}, width=520)
    return chart, table


def _lengths(tally: Tally) -> str:
    if not tally.status:
        return "<p>No samples were generated.</p>"
    svgs = []
    for part, values in tally.lengths.items():
        top = max(values) or 1.0
        width = math.ceil(top / LENGTH_BINS) or 1
        edges = [float(i * width) for i in range(LENGTH_BINS + 1)]
        series = {v: [0] * LENGTH_BINS for v in VERDICTS}
        for status, value in zip(tally.status, values, strict=True):
            series[VERDICTS[status]][min(int(value // width), LENGTH_BINS - 1)] += 1
        svgs.append(charts.histogram(f"{part.capitalize()} length", edges, series,
                                     f"{part} tokens per sample", width=520))
    return "".join(svgs)


def _verdicts(tally: Tally) -> tuple[str, str]:
    by_category, example = tally.verdicts, tally.example
    keys = sorted(by_category, key=lambda k: (VERDICTS.index(k[0]), -by_category[k]))
    total = sum(by_category.values()) or 1
    rows = [[cat, verdict, by_category[k], f"{by_category[k] / total:.1%}", example[k][:100]]
            for k in keys for verdict, cat in [k]]
    table = _table(["reason", "verdict", "samples", "share", "example detail"], rows)
    chart = charts.bars("Verdict breakdown (green pass, red fail, grey error)",
                        [cat for _, cat in keys], {"samples": [by_category[k] for k in keys]},
                        colours=[charts.VERDICT_COLOURS[v] for v, _ in keys])
    return chart, table


def _throughput(tally: Tally) -> str:
    if not tally.ends:
        return "<p>No timed generations.</p>"
    start, stop = min(tally.starts), max(tally.ends)
    step = max((stop - start) / TIME_BINS, 1e-3)
    tokens = [0.0] * TIME_BINS
    finished = {v: [0.0] * TIME_BINS for v in VERDICTS}
    for status, end, count in zip(tally.timed_status, tally.ends, tally.tokens, strict=True):
        b = min(int((end - start) / step), TIME_BINS - 1)
        tokens[b] += count / step
        finished[VERDICTS[status]][b] += 1 / step
    xs = [(b + 1) * step for b in range(TIME_BINS)]
    return (charts.lines("Teacher output tokens per second", xs, {"tokens/s": tokens},
                         "seconds since the first request", width=520)
            + charts.lines("Samples finished per second, by verdict", xs, finished,
                           "seconds since the first request", width=520))


def _cost(summary: dict[str, Any], prices: dict[str, float]) -> str:
    teacher = summary.get("config", {}).get("teacher", {})
    seconds = summary.get("timings", {}).get("generate_s", 0.0)
    replicas = teacher.get("replicas", 1)
    rows: list[list[Any]] = []
    total = 0.0
    for resource, amount in sorted((teacher.get("resources") or {}).items()):
        hours = replicas * amount * seconds / 3600
        price = prices.get(resource)
        total += hours * price if price is not None else 0.0
        rows.append([resource, replicas, amount, f"{hours:,.3f}",
                     _money(hours * price) if price is not None else "no price given"])
    html = _table(["resource", "replicas", "per replica", "resource-hours (generate stage)",
                   "cost"], rows)
    usage = summary.get("usage") or {}
    if usage:  # per-token prices (an API teacher): teacher.price_*_per_million
        total += usage.get("cost", 0.0)
        html += _table(["tokens", "count", "USD per million", "cost"], [
            ["input", usage["input_tokens"], usage["price_input_per_million"],
             _money(usage["cost_input"])],
            ["output", usage["output_tokens"], usage["price_output_per_million"],
             _money(usage["cost_output"])]])
    if total and summary.get("verified"):
        per_million = total * 1e6 / max(1, summary.get("completion_tokens", 0))
        html += (f"<p>{_money(total)} in all: {_money(total / summary['verified'])} per "
                 f"verified sample, {_money(per_million)} per million generated tokens.</p>")
    return html + ("<p class='note'>Resource-hours count the teacher pool for the whole "
                   "generate stage (engine start-up included: the pool holds its devices). "
                   "Prices per resource-hour come from <code>raydistill report URI --price "
                   "RESOURCE=USD_PER_HOUR</code>; per-token prices from the teacher config.</p>")


def _removed(summary: dict[str, Any]) -> str:
    """Problems the filters removed before generation, by reason, benchmark and source."""
    tally = summary.get("removed") or {}
    html = _table(["reason", "problems removed"],
                  [[k, v] for k, v in (tally.get("removed") or {}).items()] or [["none", 0]])
    if tally.get("removed_by_benchmark"):
        html += _table(["benchmark", "problems removed as contaminated"],
                       [[k, v] for k, v in tally["removed_by_benchmark"].items()])
    if tally.get("broken_tests"):
        html += _table(["source", "problems checked", "tests", "broken tests", "broken fraction"],
                       [[k, v.get("problems", 0), v.get("tests", 0), v.get("broken_tests", 0),
                         f"{v.get('broken_fraction', 0):.1%}"]
                        for k, v in tally["broken_tests"].items()])
    return html + (f"<p>{tally.get('inputs', 0)} problems read, {tally.get('kept', 0)} kept; "
                   "each removed one is in <code>removed/</code> with its reason and "
                   "detail.</p>")


def _waves(waves: list[dict[str, Any]]) -> str:
    """Adaptive sampling, wave by wave: what each wave asked, spent and newly solved."""
    rows: list[list[Any]] = []
    solved = 0
    for w in waves:
        solved += w["newly_solved"]
        rows.append([w["wave"], w["n"], w["problems"], w["samples"], w["verified"],
                     f"{w['verified'] / w['samples']:.1%}" if w["samples"] else "-",
                     f"{w['completion_tokens']:,}", w["newly_solved"], solved,
                     f"{w['completion_tokens'] / w['newly_solved']:,.0f}"
                     if w["newly_solved"] else "-"])
    table = _table(["wave", "samples asked per problem", "problems asked", "samples",
                    "verified samples", "pass rate", "completion tokens", "newly solved",
                    "solved so far", "tokens per newly solved problem"], rows)
    labels = [f"wave {w['wave']} ({w['n']} each)" for w in waves]
    chart = charts.bars("Problems asked and newly solved per wave", labels, {
        "problems asked": [w["problems"] for w in waves],
        "newly solved": [w["newly_solved"] for w in waves]}, width=520)
    return (f"<div class='charts'>{chart}</div>{table}<p class='note'>A wave asks its samples "
            "of every problem with fewer verified samples than "
            "<code>sampling.stop_at_verified</code> after the waves before it (at most "
            "<code>sampling.max_samples</code> in all); each row of <code>all/</code> names its "
            "<code>wave</code>.</p>")


def _labels(labels: dict[str, Any]) -> str:
    """The gold audit: the problems whose gold a confident majority disagrees with."""
    rows = [[p["problem_id"], p["source"], p["problem"], p["gold"], p["majority_answer"],
             f"{p['majority_share']:.0%}" if p["majority_share"] is not None else "-"]
            for p in labels.get("suspect_problems", [])]
    by_source = ", ".join(f"{k}: {v}" for k, v in labels.get("suspect_gold_by_source", {}).items())
    return (f"<p>{labels['suspect_gold']} problems with a suspect gold ({escape(by_source)}); "
            "each row of <code>all/</code> says <code>suspect_gold</code>, and "
            "<code>labels.on_suspect</code> decided what was done (docs/labels.md).</p>"
            + _table(["problem", "source", "text", "gold", "majority", "share"], rows))


def _problem_table(counts: dict[str, Any]) -> str:
    """Problems by pass rate and what their majority says, from ``problems/``'s tally."""
    bins = counts.get("pass_rate_bins", {})
    chart = charts.bars("Problems by pass rate", list(RATE_BINS),
                        {"problems": [bins.get(b, 0) for b in RATE_BINS]}, width=520)
    labels = ", ".join(f"{k}: {v}" for k, v in sorted(counts.get("label_source", {}).items()))
    table = _table(["problems", "with samples", "solved", "unsolved", "all verified",
                    "majority = gold", "majority &ne; gold", "suspect gold", "labels"],
                   [[counts["problems"], counts["with_samples"], counts["solved"],
                     counts["unsolved"], counts["all_verified"], counts["gold_agrees"],
                     counts["gold_disagrees"], counts["suspect_gold"], labels or "-"]])
    return (f"<div class='charts'>{chart}</div>{table}<p class='note'>One row per problem in "
            "<code>problems/</code>: pass rate, the answers grouped by the verifier's "
            "equivalence and their majority; <code>raydistill select</code> picks problems "
            "from it for the next run.</p>")


def _teachers(teachers: dict[str, dict[str, Any]]) -> str:
    """Escalation, teacher by teacher: what each wrote, spent and solved first."""
    rows = [[name, t["model"], t["waves"], t["samples"], t["verified"],
             f"{t['prompt_tokens']:,}", f"{t['completion_tokens']:,}", _money(t["cost"]),
             t["newly_solved"],
             _money(t["cost"] / t["newly_solved"]) if t["newly_solved"] else "-"]
            for name, t in teachers.items()]
    table = _table(["teacher", "model", "waves", "samples", "verified samples", "input tokens",
                    "output tokens", "cost", "problems first solved",
                    "cost per problem first solved"], rows)
    return (f"{table}<p class='note'>Each wave of <code>sampling.waves</code> asks its own "
            "teacher (<code>{n: 4, teacher: NAME}</code> names one of <code>teachers</code>); "
            "cost is each teacher's tokens at its own "
            "<code>price_*_per_million</code>. Rows name theirs in "
            "<code>teacher_name</code>.</p>")


def _cards(summary: dict[str, Any], tally: Tally) -> str:
    generated = sum(e[2] for e in tally.problems.values())
    passed = sum(e[3] for e in tally.problems.values())
    cards = [
        ("problems", summary.get("problems_read", len(tally.problems))),
        ("samples generated", generated),
        ("verified samples", passed),
        ("pass rate", f"{passed / generated:.1%}" if generated else "-"),
        ("problems solved", sum(e[3] > 0 for e in tally.problems.values())),
        ("completion tokens", f"{tally.completion_tokens:,}"),
        ("tokens/s generating", f"{summary.get('completion_tokens_per_s', 0):,.0f}"),
        ("wall time", f"{summary.get('timings', {}).get('total_s', 0):,.0f} s"),
    ]
    # sampling.stop_on_repetition / think_budget, only when they acted.
    if summary.get("repetition_stopped"):
        cards += [("stopped looping", summary["repetition_stopped"]),
                  ("tokens not spent", f"{summary.get('unspent_tokens', 0):,}")]
    if summary.get("budget_forced"):
        cards.append(("budget forced", summary["budget_forced"]))
    return "<div class='cards'>" + "".join(
        f"<div class='card'><b>{escape(str(v))}</b><span>{escape(k)}</span></div>"
        for k, v in cards) + "</div>"


def render(samples: pa.Table | Iterable[pa.Table], summary: dict[str, Any], uri: str,
           prices: dict[str, float] | None = None) -> str:
    """The report's HTML for ``samples`` (parts as :func:`read_samples` yields) and ``summary``."""
    tally = Tally()
    for part in [samples] if isinstance(samples, pa.Table) else samples:
        for batch in part.to_batches():
            tally.add(batch)
    teacher = summary.get("config", {}).get("teacher", {}).get("model", "?")
    funnel_source, table_source = _funnel(tally, "source")
    funnel_domain, table_domain = _funnel(tally, "domain")
    pass_chart, pass_table = _pass_at_k(tally)
    verdict_chart, verdict_table = _verdicts(tally)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        f"<h1>raydistill run report</h1><p>{escape(uri)} &middot; teacher {escape(teacher)}"
        f" &middot; made {now}</p>",
        _cards(summary, tally),
        "<h2>Funnel: problems &rarr; samples &rarr; verified</h2>",
        f"<div class='charts'>{funnel_source}{funnel_domain}</div>{table_source}{table_domain}",
        "<h2>pass@k per problem</h2>",
        f"<div class='charts'>{pass_chart}</div>{pass_table}",
        "<p class='note'>pass@k: the chance that at least one of k samples passes, unbiased "
        "estimate from the n samples of each problem.</p>",
        "<h2>Reasoning and answer lengths</h2>",
        f"<div class='charts'>{_lengths(tally)}</div>",
        "<p class='note'>Tokens per part: each sample's completion tokens split by the "
        "characters of its reasoning and its answer.</p>",
        "<h2>Verdicts</h2>", f"<div class='charts'>{verdict_chart}</div>{verdict_table}",
        "<h2>Throughput over time</h2>", f"<div class='charts'>{_throughput(tally)}</div>",
        "<h2>Cost</h2>", _cost(summary, prices or {}),
    ]
    if summary.get("problem_table"):
        # After the pass@k section (its heading, charts and note), before the lengths.
        sections[7:7] = ["<h2>Problems by pass rate</h2>",
                         _problem_table(summary["problem_table"])]
    if len(summary.get("teachers") or {}) > 1:
        sections += ["<h2>Escalation: per teacher</h2>", _teachers(summary["teachers"])]
    if summary.get("waves"):
        # After the pass@k section (its heading, charts and note), before the lengths.
        sections[7:7] = ["<h2>Adaptive sampling: waves</h2>", _waves(summary["waves"])]
    if summary.get("labels", {}).get("suspect_gold"):
        sections += ["<h2>Gold audit: suspect golds</h2>", _labels(summary["labels"])]
    if summary.get("removed"):
        sections[2:2] = ["<h2>Problems removed before generation</h2>", _removed(summary)]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>raydistill report: {escape(uri)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>")


def write_report(out: OutputLocation, prices: dict[str, float] | None = None) -> str:
    """Render the report of the run at ``out`` into ``<uri>/report.html``; return its path."""
    summary = read_summary(out)
    try:  # the table itself, so a report remade later shows what problems/ holds
        summary["problem_table"] = tally(read_problem_table(out, TALLY_COLUMNS))
    except StorageError:
        logger.info("%s has no problems/ table; the report goes without it", out.uri)
    html = render(read_samples(out), summary, out.uri, prices)
    path = f"{out.root}/{REPORT_NAME}"
    with out.fs.open_output_stream(path) as stream:
        stream.write(html.encode())
    logger.info("report written to %s/%s", out.uri, REPORT_NAME)
    return path


def report_run(out: OutputLocation) -> str | None:
    """:func:`write_report` at the end of a run: a failure is logged, never raised.

    The data and ``summary.json`` are written by then; ``raydistill report URI``
    makes the report again.
    """
    try:
        return write_report(out)
    except Exception:  # noqa: BLE001 - never lose a finished run over its report
        logger.exception("run report for %s failed; make it with `raydistill report %s`",
                         out.uri, out.uri)
        return None
