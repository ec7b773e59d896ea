"""Small inline SVG charts for the run report: no plotting library, no network.

Each function returns one ``<svg>`` element as a string, sized in CSS pixels,
with its numbers written on it (a report is read, not hovered). Text is escaped.

>>> svg = bars("Verdicts", ["pass", "fail"], {"samples": [3, 5]})
>>> svg.startswith("<svg") and ">Verdicts<" in svg and ">5<" in svg
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# Colour-blind-safe palette (Okabe-Ito), in series order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
# Verdict colours shared by every chart that splits by verdict.
VERDICT_COLOURS = {"pass": "#009E73", "fail": "#D55E00", "error": "#999999"}
FONT = "font-family='system-ui, sans-serif' font-size='12'"


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _axis(value: float) -> str:
    """A short axis label: 43,534.5 -> 44k, 1,471.8 -> 1.5k."""
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return _number(value)


def _colour(i: int, name: str) -> str:
    return VERDICT_COLOURS.get(name, PALETTE[i % len(PALETTE)])


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        parts.append(f"<rect x='{x:.0f}' y='{y - 9:.0f}' width='10' height='10' "
                     f"fill='{_colour(i, name)}'/>")
        parts.append(f"<text x='{x + 14:.0f}' y='{y:.0f}'>{escape(name)}</text>")
        x += 24 + 7 * len(name)
    return parts


def _frame(title: str, width: int, height: int, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}' {FONT}>"
            f"<text x='4' y='16' font-size='14' font-weight='bold'>{escape(title)}</text>"
            + "".join(body) + "</svg>")


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
         width: int = 640, colours: Sequence[str] | None = None) -> str:
    """Horizontal grouped bars: one group per label, one bar per series, values written.

    ``colours`` (one per label) colours a single series bar by bar, e.g. by verdict.
    """
    names = list(series)
    label_w = min(220, 12 + 7 * max((len(s) for s in labels), default=4))
    bar_h, gap = 16, 10
    group_h = bar_h * len(names) + gap
    top = 46
    height = top + group_h * max(1, len(labels)) + 10
    peak = max((v for vals in series.values() for v in vals), default=0) or 1
    plot_w = width - label_w - 70
    body = [] if colours else _legend(names, label_w, 34)
    for g, label in enumerate(labels):
        y0 = top + g * group_h
        body.append(f"<text x='{label_w - 6}' y='{y0 + group_h / 2:.0f}' "
                    f"text-anchor='end'>{escape(label[:30])}</text>")
        for i, name in enumerate(names):
            value = series[name][g]
            w = plot_w * value / peak
            y = y0 + i * bar_h
            fill = colours[g] if colours else _colour(i, name)
            body.append(f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h - 3}' "
                        f"fill='{fill}'><title>{escape(name)}: "
                        f"{_number(value)}</title></rect>")
            body.append(f"<text x='{label_w + w + 4:.1f}' y='{y + bar_h - 5}'>"
                        f"{_number(value)}</text>")
    return _frame(title, width, height, body)


def histogram(title: str, edges: Sequence[float], series: Mapping[str, Sequence[int]],
              xlabel: str, width: int = 640, height: int = 260) -> str:
    """Stacked vertical bars over ``len(edges) - 1`` bins, one colour per series."""
    names = list(series)
    bins = len(edges) - 1
    left, right, top, bottom = 48, 12, 52, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(series[n][b] for n in names) for b in range(bins)]
    peak = max(totals, default=0) or 1
    body = _legend(names, left, 32)
    body.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' "
                f"y2='{top + plot_h}' stroke='#333'/>")
    body.append(f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{_axis(peak)}</text>")
    body.append(f"<text x='{left - 4}' y='{top + plot_h}' text-anchor='end'>0</text>")
    bw = plot_w / max(1, bins)
    for b in range(bins):
        x, y = left + b * bw, float(top + plot_h)
        for i, name in enumerate(names):
            h = plot_h * series[name][b] / peak
            if h > 0:
                y -= h
                body.append(f"<rect x='{x + 1:.1f}' y='{y:.1f}' width='{max(bw - 2, 1):.1f}' "
                            f"height='{h:.1f}' fill='{_colour(i, name)}'><title>{escape(name)} "
                            f"{_number(edges[b])}-{_number(edges[b + 1])}: {series[name][b]}"
                            f"</title></rect>")
        if totals[b] and bins <= 30:
            body.append(f"<text x='{x + bw / 2:.1f}' y='{y - 3:.1f}' text-anchor='middle' "
                        f"font-size='10'>{totals[b]}</text>")
    step = max(1, bins // 8)
    for b in range(0, bins + 1, step):
        body.append(f"<text x='{left + b * bw:.1f}' y='{top + plot_h + 14}' "
                    f"text-anchor='middle' font-size='10'>{_number(edges[b])}</text>")
    body.append(f"<text x='{left + plot_w / 2:.0f}' y='{height - 6}' "
                f"text-anchor='middle'>{escape(xlabel)}</text>")
    return _frame(title, width, height, body)


def lines(title: str, xs: Sequence[float], series: Mapping[str, Sequence[float]], xlabel: str,
          width: int = 640, height: int = 240) -> str:
    """Line chart of each series over ``xs`` (e.g. tokens/s over seconds into the run)."""
    names = list(series)
    left, right, top, bottom = 56, 12, 52, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = max(xs, default=0) or 1
    y_max = max((v for vals in series.values() for v in vals), default=0) or 1
    body = _legend(names, left, 32)
    body.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' "
                f"y2='{top + plot_h}' stroke='#333'/>")
    body.append(f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='#333'/>")
    body.append(f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{_axis(y_max)}</text>")
    body.append(f"<text x='{left - 4}' y='{top + plot_h}' text-anchor='end'>0</text>")
    for frac in (0, 0.25, 0.5, 0.75, 1):
        body.append(f"<text x='{left + plot_w * frac:.0f}' y='{top + plot_h + 14}' "
                    f"text-anchor='middle' font-size='10'>{_number(x_max * frac)}</text>")
    for i, name in enumerate(names):
        points = " ".join(
            f"{left + plot_w * x / x_max:.1f},{top + plot_h - plot_h * y / y_max:.1f}"
            for x, y in zip(xs, series[name], strict=True)
        )
        body.append(f"<polyline points='{points}' fill='none' stroke='{_colour(i, name)}' "
                    f"stroke-width='2'/>")
    body.append(f"<text x='{left + plot_w / 2:.0f}' y='{height - 6}' "
                f"text-anchor='middle'>{escape(xlabel)}</text>")
    return _frame(title, width, height, body)
