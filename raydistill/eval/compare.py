"""Evaluations side by side (``raydistill compare``, :mod:`raydistill.cli.compare`).

One row per benchmark, one column per model: its avg@n ± standard error and, for
every model but the baseline (the first URI unless ``--baseline`` names one), its
difference from the baseline with a 95% paired-bootstrap interval over the problems
both evaluated (:func:`raydistill.eval.stats.paired_bootstrap`). Written as
``compare.json``, ``compare.md`` and ``compare.html`` into ``--out`` (a folder or
``s3://``). Evaluations made with different protocols are compared all the same,
and the table says which protocol keys differ.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pyarrow.parquet as pq

from raydistill.eval.stats import paired_bootstrap
from raydistill.output.storage import StorageError, resolve

# Bootstrap resamples: the interval's ends move by < 0.005 between seeds at 2,000.
ITERATIONS = 2000


class CompareError(ValueError):
    """An evaluation that cannot be compared (missing, unfinished)."""


def load_eval(uri: str, endpoint: str | None = None) -> dict[str, Any]:
    """An evaluation's eval.json, with its per-problem accuracies under ``"problems"``."""
    try:
        fs, root = resolve(uri, endpoint)
        with fs.open_input_stream(f"{root}/eval.json") as stream:
            result: dict[str, Any] = json.loads(stream.read())
        table = pq.read_table(f"{root}/eval_problems.parquet", filesystem=fs)
    except (FileNotFoundError, StorageError, OSError) as exc:
        raise CompareError(f"{uri} is not a finished evaluation (no eval.json / "
                           f"eval_problems.parquet): {exc}") from None
    problems: dict[str, dict[str, float]] = {}
    for row in table.to_pylist():
        if row["accuracy"] is not None:
            problems.setdefault(row["benchmark"], {})[row["problem_id"]] = row["accuracy"]
    result["problems"] = problems
    result["uri"] = uri
    return result


def compare(evals: list[dict[str, Any]], baseline: int = 0) -> dict[str, Any]:
    """The comparison of ``evals`` against ``evals[baseline]``."""
    base = evals[baseline]
    names = list(dict.fromkeys(name for e in evals for name in e["benchmarks"]))
    keys = ("n", "temperature", "top_p", "max_tokens", "seeds", "template")
    differ = sorted(k for k in keys if len({json.dumps(e["protocol"].get(k)) for e in evals}) > 1)
    table = []
    for name in names:
        row: dict[str, Any] = {"benchmark": name, "models": []}
        for i, e in enumerate(evals):
            b = e["benchmarks"].get(name)
            cell: dict[str, Any] = {"uri": e["uri"], "model": e["protocol"]["model"]}
            if b is not None:
                cell.update({"avg@n": b["avg@n"], "stderr": b["stderr"],
                             "problems": b["problems"]})
                if i != baseline and name in base["benchmarks"]:
                    cell["vs_baseline"] = paired_bootstrap(
                        base["problems"].get(name, {}), e["problems"].get(name, {}), ITERATIONS)
            row["models"].append(cell)
        table.append(row)
    return {"baseline": base["uri"], "protocol_keys_differ": differ,
            "models": [{"uri": e["uri"], "model": e["protocol"]["model"],
                        "protocol": e["protocol"]} for e in evals],
            "benchmarks": table}


def _cell(cell: dict[str, Any]) -> str:
    if "avg@n" not in cell:
        return "–"
    text = f"{100 * cell['avg@n']:.1f} ± {100 * cell['stderr']:.1f}"
    d = cell.get("vs_baseline")
    if d and d["problems"]:
        text += (f" ({100 * d['diff']:+.1f}, 95% CI {100 * d['low']:+.1f} to "
                 f"{100 * d['high']:+.1f})")
    return text


def labels(result: dict[str, Any]) -> list[str]:
    """A column name per model: its URI's last part (the baseline marked)."""
    return [m["uri"].rstrip("/").rsplit("/", 1)[-1] + (" (baseline)" if m["uri"] ==
            result["baseline"] else "") for m in result["models"]]


def render_markdown(result: dict[str, Any]) -> str:
    """The table: avg@n ± se per model, and each difference from the baseline."""
    head = ["benchmark", *labels(result)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["benchmarks"]:
        lines.append("| " + " | ".join([row["benchmark"], *map(_cell, row["models"])]) + " |")
    notes = ["", "Accuracy in % (avg@n ± standard error over problems); in brackets the "
             "difference from the baseline with a 95% paired-bootstrap interval over the "
             "problems both evaluated.", "",
             *(f"- `{label}`: {m['uri']} (model `{m['model']}`)" for label, m in
               zip(labels(result), result["models"], strict=True))]
    if result["protocol_keys_differ"]:
        notes.append(f"\nProtocols differ in: {', '.join(result['protocol_keys_differ'])}.")
    return "\n".join(lines + notes) + "\n"


def render_html(result: dict[str, Any]) -> str:
    """The same table as a page."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in ["benchmark", *labels(result)])
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in
                                     [row["benchmark"], *map(_cell, row["models"])]) + "</tr>"
                   for row in result["benchmarks"])
    note = render_markdown(result).split("\n\n", 1)[1]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>raydistill compare"
            f"</title><style>body{{font-family:system-ui,sans-serif;margin:2em}}table"
            f"{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}"
            f"</style></head><body><h1>Models compared</h1><table><tr>{head}</tr>{body}"
            f"</table><pre>{esc(note)}</pre></body></html>\n")
