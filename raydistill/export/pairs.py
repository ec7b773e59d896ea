"""Choosing among one problem's samples: the pass rate, ``k`` of them, preference pairs.

Pure functions over the ``all/`` rows (dicts) of ONE problem. Every random choice
is seeded by ``(seed, problem_id, purpose)``, so the same export gives the same
rows however Ray Data groups or orders the problems.

Pair rules (``export.pairs.rule``):

- ``correct_vs_incorrect`` (STILL-2): chosen among the verified samples, rejected
  among the failed ones (a wrong or missing answer). Truncated, error and
  filtered samples are never rejected unless listed in ``pairs.allow``.
- ``length`` (Sky-T1-Flash): the shortest and the longest verified samples.

Chosen and rejected are each picked by ``random`` (seeded), ``shortest``,
``longest`` (completion tokens), ``lowest_perplexity`` or ``highest_perplexity``
(samples without log-probabilities cannot be picked that way). They never have
the same text; a problem without a pair says why (:data:`NO_PAIR`).

>>> rows = [{"problem_id": "p", "sample_idx": i, "verified": i < 2, "verdict": v,
...          "response": f"r{i}", "completion_tokens": 10 * (i + 1), "perplexity": None,
...          "finish_reason": "stop", "think_closed": True}
...         for i, v in enumerate(["pass", "pass", "fail", "error"])]
>>> pair, why = make_pair(rows, "correct_vs_incorrect", "shortest", "longest", (), 0)
>>> pair["chosen"]["sample_idx"], pair["rejected"]["sample_idx"], why
(0, 2, None)
>>> make_pair(rows[2:], "correct_vs_incorrect", "random", "random", (), 0)[1]
'no_verified_sample'
>>> pass_rate(rows)
(4, 2, 0.5)
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]

# Why a problem gave no pair (counted in the export's summary).
NO_PAIR = {
    "no_verified_sample": "no sample of the problem passed",
    "no_failed_sample": "no sample failed (or only ones pairs.allow excludes)",
    "one_verified_sample": "the length rule needs two verified samples",
    "no_perplexity": "a perplexity pick, but the samples have no log-probabilities",
    "identical_texts": "every candidate rejected sample has the chosen one's text",
}


def kind(row: Row) -> str:
    """``pass``, ``fail``, ``truncated``, ``error`` or ``filtered`` (a trace filter removed it).

    >>> kind({"verified": False, "verdict": "fail", "finish_reason": "length", "response": "x",
    ...       "think_closed": False})
    'truncated'
    """
    if str(row.get("reason") or "").startswith("filtered"):
        return "filtered"
    if row.get("verified"):
        return "pass"
    if row.get("verdict") == "error" or row.get("response") is None:
        return "error"
    if row.get("finish_reason") == "length" or not row.get("think_closed", True):
        return "truncated"
    return "fail"


def pass_rate(rows: Sequence[Row]) -> tuple[int, int, float]:
    """``(samples, verified, verified / samples)`` of one problem; samples have a response."""
    samples = sum(r.get("response") is not None for r in rows)
    verified = sum(bool(r.get("verified")) for r in rows)
    return samples, verified, (verified / samples if samples else 0.0)


def rng(seed: int, problem_id: str, purpose: str) -> random.Random:
    """The random stream of one choice about one problem."""
    return random.Random(zlib.crc32(f"{seed}/{problem_id}/{purpose}".encode()))


def _tokens(row: Row) -> int:
    return int(row.get("completion_tokens") or 0)


def ordered(rows: Sequence[Row], pick: str, seed: int, purpose: str) -> list[Row]:
    """``rows`` best first for ``pick`` (rows that ``pick`` cannot rank are left out).

    ``first`` is by ``sample_idx``; ties of the others are broken by ``sample_idx``.
    """
    by_idx = sorted(rows, key=lambda r: r["sample_idx"])
    if pick == "first":
        return by_idx
    if pick == "random":
        if not by_idx:
            return []
        shuffled = list(by_idx)
        rng(seed, by_idx[0]["problem_id"], purpose).shuffle(shuffled)
        return shuffled
    if pick in ("shortest", "longest"):
        return sorted(by_idx, key=_tokens, reverse=pick == "longest")
    ranked = [r for r in by_idx if r.get("perplexity") is not None]
    return sorted(ranked, key=lambda r: r["perplexity"], reverse=pick == "highest_perplexity")


def choose(rows: Sequence[Row], k: int | None, pick: str, seed: int) -> list[Row]:
    """At most ``k`` of one problem's rows, chosen by ``pick`` (all when ``k`` is None)."""
    best = ordered(rows, pick, seed, "k")
    return best if k is None else best[:k]


def make_pair(rows: Sequence[Row], rule: str, chosen_pick: str, rejected_pick: str,
              allow: Sequence[str], seed: int) -> tuple[Row | None, str | None]:
    """``(pair, None)`` or ``(None, reason)`` for one problem's rows; reason in :data:`NO_PAIR`.

    A pair holds ``chosen`` and ``rejected`` (rows), ``rule`` (with both picks) and
    both samples' ``completion_tokens`` and ``perplexity``: the statistics a pick uses.
    """
    kinds = [(kind(r), r) for r in rows]
    verified = [r for k, r in kinds if k == "pass"]
    if not verified:
        return None, "no_verified_sample"
    if rule == "length":
        if len(verified) < 2:
            return None, "one_verified_sample"
        chosen_side, rejected_side = verified, verified
        chosen_pick, rejected_pick = "shortest", "longest"
    else:
        rejected_side = [r for k, r in kinds if k == "fail" or k in allow]
        if not rejected_side:
            return None, "no_failed_sample"
        chosen_side = verified
    chosen_order = ordered(chosen_side, chosen_pick, seed, "chosen")
    rejected_order = ordered(rejected_side, rejected_pick, seed, "rejected")
    if not chosen_order or not rejected_order:
        return None, "no_perplexity"
    for chosen in chosen_order:
        for rejected in rejected_order:
            if rejected["sample_idx"] != chosen["sample_idx"] and (
                    rejected.get("response") != chosen.get("response")):
                return {
                    "chosen": chosen, "rejected": rejected,
                    "rule": f"{rule}(chosen={chosen_pick},rejected={rejected_pick})",
                }, None
    return None, "identical_texts"
