"""``<output.uri>/report.html``: the loop's rounds side by side (pass rates, yield, lengths).

Each round's evaluation is a ``raydistill eval`` (``rounds/<r>/eval/eval.html`` is its
card); the benchmarks the conf's ``eval`` section names get a column each.
"""

from __future__ import annotations

from html import escape
from typing import Any

from raydistill.loop.state import LoopLocation, LoopState
from raydistill.observe.charts import lines
from raydistill.output.storage import write_bytes_atomic


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def benchmark_names(state: LoopState) -> list[str]:
    """The benchmarks (besides the held-out split) any round's evaluation scored."""
    return list(dict.fromkeys(name for e in state.rounds
                              for name in e.get("eval", {}).get("benchmarks", {})))


def _row(entry: dict[str, Any], best: int | None, benchmarks: list[str]) -> list[str]:
    run, ev, train = entry.get("run", {}), entry.get("eval", {}), entry.get("train", {})
    loss = train.get("loss")
    scored = ev.get("benchmarks", {})
    return [
        f"{entry['round']}{' (best)' if entry['round'] == best else ''}",
        escape(str(entry.get("model", ""))),
        _percent(ev.get("pass@1")),
        _percent(ev.get("pass@k")),
        str(run.get("samples", "")),
        str(run.get("verified", "")),
        _percent(run.get("yield")),
        f"{run['mean_completion_tokens']:.1f}" if "mean_completion_tokens" in run else "",
        str(entry.get("selected", "")),
        "" if loss is None else f"{loss:.4f}",
        *(_percent(scored.get(name, {}).get("avg@n")) for name in benchmarks),
    ]


def render(state: LoopState, uri: str) -> str:
    """The HTML of the loop report."""
    benchmarks = benchmark_names(state)
    header = ["round", "model", "held-out pass@1 (greedy)", "held-out pass@k", "samples",
              "verified", "yield", "mean tokens", "trained on", "training loss",
              *(f"{escape(name)} (greedy)" for name in benchmarks)]
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in _row(e, state.best_round,
                                                                   benchmarks))
                   + "</tr>" for e in state.rounds)
    scored = [e for e in state.rounds if "eval" in e]
    chart = lines("Held-out pass rates by round", [e["round"] for e in scored], {
        "pass@1 (greedy)": [e["eval"]["pass@1"] for e in scored],
        "pass@k (sampled)": [e["eval"]["pass@k"] for e in scored],
        "yield (verified / samples)": [e.get("run", {}).get("yield", 0.0) for e in scored],
    }, "round") if scored else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>raydistill loop: {escape(uri)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}td,th{{padding:4px 10px;
border-bottom:1px solid #ddd;text-align:right}}td:nth-child(2){{text-align:left}}</style>
</head><body><h1>Self-bootstrapping rounds</h1>
<p>{escape(uri)} &middot; best round: {state.best_round} ({escape(str(state.best_model))})
&middot; stopped: {escape(str(state.finished))}</p>
{chart}
<table><tr>{''.join(f'<th>{h}</th>' for h in header)}</tr>{rows}</table>
</body></html>
"""


def write_loop_report(loc: LoopLocation, state: LoopState) -> str:
    """Write ``report.html`` next to ``loop.json``; return its path."""
    write_bytes_atomic(loc.fs, loc.report, render(state, loc.uri).encode())
    return loc.report
