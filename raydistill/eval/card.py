"""The evaluation card: eval.json as a markdown table for a model card, and as a page.

Both state the protocol beside the numbers (model, n, temperature, top_p, max_tokens,
seeds, verifiers), the part of a number people cannot reproduce without.

>>> result = {"protocol": {"model": "m", "n": 4, "temperature": 0.6, "top_p": 0.95,
...           "max_tokens": 128, "seeds": [0], "k": [1, 4], "greedy": False,
...           "verifiers": "rules"},
...           "benchmarks": {"b": {"problems": 2, "samples": 8, "avg@n": 0.5, "stderr": 0.1,
...                                "pass@k": {"1": 0.5, "4": 0.75}, "maj@n": 0.5,
...                                "truncated_rate": 0.0, "no_answer_rate": 0.125,
...                                "mean_completion_tokens": 40.0,
...                                "median_completion_tokens": 38}}}
>>> print(render_markdown(result).splitlines()[4])
| b | 2 | 50.0 ± 10.0 | 50.0 | 75.0 | 50.0 | – | 0.0 | 12.5 | 40 |
"""

from __future__ import annotations

import html
from typing import Any


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def columns(result: dict[str, Any]) -> list[str]:
    """The table's headers: avg@n, each pass@k, maj@n, greedy, shares, tokens."""
    n = result["protocol"]["n"] * len(result["protocol"]["seeds"])
    return ["benchmark", "problems", f"avg@{n} ± se", *(f"pass@{k}" for k in
            result["protocol"]["k"]), f"maj@{n}", "greedy pass@1", "truncated %",
            "no answer %", "mean tokens"]


def rows(result: dict[str, Any]) -> list[list[str]]:
    """One row of cells per benchmark, in the order of the conf."""
    out = []
    for name, b in result["benchmarks"].items():
        out.append([name, str(b["problems"]), f"{_pct(b['avg@n'])} ± {_pct(b['stderr'])}",
                    *(_pct(b["pass@k"].get(str(k))) for k in result["protocol"]["k"]),
                    _pct(b["maj@n"]), _pct(b.get("greedy_pass@1")),
                    _pct(b["truncated_rate"]), _pct(b["no_answer_rate"]),
                    f"{b['mean_completion_tokens']:.0f}"])
    return out


def protocol_line(result: dict[str, Any]) -> str:
    """The protocol in one sentence."""
    p = result["protocol"]
    return (f"Model `{p['model']}`; {p['n']} sample(s) per problem and seed at temperature "
            f"{p['temperature']}, top_p {p['top_p']}, max_tokens {p['max_tokens']}, seeds "
            f"{p['seeds']}{'; plus one greedy answer' if p['greedy'] else ''}; verified by "
            f"{p['verifiers']}. Accuracies in %; ± is the standard error over problems.")


def contamination_lines(result: dict[str, Any]) -> list[str]:
    """One line per benchmark checked against training runs."""
    lines = []
    for name, b in result["benchmarks"].items():
        c = b.get("contamination")
        if c:
            lines.append(f"- {name}: {c['overlapping_problems']} of {b['problems']} problems "
                         f"overlap the training runs ({c['ngram']}-word n-grams)")
    return lines


def render_markdown(result: dict[str, Any]) -> str:
    """The table fit for a model card, then the protocol."""
    head = columns(result)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(result)]
    lines = ["## Evaluation", "", *lines, "", protocol_line(result)]
    contamination = contamination_lines(result)
    if contamination:
        lines += ["", "Contamination check:", *contamination]
    return "\n".join(lines) + "\n"


def render_html(result: dict[str, Any]) -> str:
    """A self-contained page: the table, the protocol, contamination, the runs."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in columns(result))
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
                   for cells in rows(result))
    runs = "".join(f"<li><code>{esc(k)}</code>: {esc(v)}</li>"
                   for k, v in result.get("runs", {}).items())
    contamination = "".join(f"<li>{esc(line[2:])}</li>" for line in contamination_lines(result))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>raydistill evaluation</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:72em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Evaluation of {esc(str(result['protocol']['model']))}</h1>
<table><tr>{head}</tr>{body}</table>
<p>{esc(protocol_line(result))}</p>
{f'<h2>Contamination</h2><ul>{contamination}</ul>' if contamination else ''}
<h2>Runs (every sample with its verdict, in each run's all/)</h2><ul>{runs}</ul>
</body></html>
"""
