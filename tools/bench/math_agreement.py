"""Agreement by class of the math verifier and of plain math-verify with a labelled corpus.

    python tools/bench/math_agreement.py [--corpus tests/data/math_pairs.jsonl] [--show-misses]

Each corpus row is ``{"class", "gold", "response", "label", "note"}``: a gold
solution, a whole R1-style response and whether the response is right. raydistill
is run the way the pipeline runs it (split at the last ``</think>``; a trace whose
reasoning never closes fails unchecked; then the comparison the math child runs);
plain math-verify is ``verify(parse(gold), parse(response))`` on the whole
response. A false pass is a wrong response called right (the costly error).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from math_verify import parse, verify

from raydistill.parsing import split_response
from raydistill.verifiers.math_compare import compare

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "math_pairs.jsonl"


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The labelled pairs of a corpus file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def raydistill_passes(gold: str, response: str) -> bool:
    """True if raydistill's math verifier passes ``response`` (as the pipeline would)."""
    trace = split_response(response)
    return trace.think_closed and compare(gold, trace.solution)[0] == "pass"


def math_verify_passes(gold: str, response: str) -> bool:
    """True if plain math-verify passes it: ``verify(parse(gold), parse(response))``."""
    try:
        return bool(verify(parse(gold, parsing_timeout=None), parse(response, parsing_timeout=None),
                           timeout_seconds=None))
    except Exception:  # noqa: BLE001 - counted as a fail, as a naive pipeline would
        return False


def table(rows: list[dict[str, Any]]) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
    """The agreement table, and the rows each checker got wrong."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    misses = []
    for row in rows:
        ours = raydistill_passes(row["gold"], row["response"])
        theirs = math_verify_passes(row["gold"], row["response"])
        for cls in (row["class"], "all"):
            c = counts[cls]
            c[0] += 1
            c[1] += ours == row["label"]
            c[2] += ours and not row["label"]
            c[3] += theirs == row["label"]
            c[4] += theirs and not row["label"]
        if ours != row["label"]:
            misses.append(("raydistill", "pass" if ours else "fail", row))
        if theirs != row["label"]:
            misses.append(("math-verify", "pass" if theirs else "fail", row))
    lines = ["| class | pairs | raydistill agreement | raydistill false passes "
             "| math-verify agreement | math-verify false passes |",
             "|---|---:|---:|---:|---:|---:|"]
    for cls in [*sorted(k for k in counts if k != "all"), "all"]:
        n, ours_ok, ours_fp, theirs_ok, theirs_fp = counts[cls]
        name = f"**{cls}**" if cls == "all" else cls
        lines.append(f"| {name} | {n} | {ours_ok / n:.3f} | {ours_fp} "
                     f"| {theirs_ok / n:.3f} | {theirs_fp} |")
    return "\n".join(lines), misses


def main(argv: list[str] | None = None) -> int:
    """Print the table (and, with ``--show-misses``, every disagreement)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    text, misses = table(load(args.corpus))
    print(text)
    if args.show_misses:
        for who, got, row in misses:
            if who == "raydistill" or args.show_misses:
                print(f"\n{who} said {got}, label {row['label']} [{row['class']}] {row['note']}\n"
                      f"  gold: {row['gold']!r}\n  response: {row['response'][-160:]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
