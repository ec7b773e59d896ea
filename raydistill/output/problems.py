r"""The per-problem table of a run: ``<output.uri>/problems/``, one row per problem.

What a run's samples say about each problem, a by-product of sampling ``n``
answers that would otherwise be thrown away: how many samples, how many
verified and the pass rate (the verl export's, :func:`raydistill.export.pairs.pass_rate`),
the distinct final answers with their votes, grouped by the verifier's own
equivalence (:mod:`raydistill.verifiers.votes`, so ``1/2`` and ``0.5`` are one
answer), the majority answer and its share of the answered samples, whether the
majority agrees with the gold, the label's source and the gold audit's flag
(``label_source``, ``suspect_gold``: taken from the rows of ``all/`` when they
carry them), answer lengths, the truncated share and, with adaptive sampling, the
wave that first solved it. The problem's own fields (text, gold, tests) are
kept, so a selection from the table is a problem list a run reads
(``raydistill select``, :mod:`raydistill.sources.select`). Schema:
:data:`raydistill.records.PROBLEM_PROFILE`.

Built after publish by the driver, reading a few columns of ``all/`` file by file:
the data is per problem small (counts, the problem's fields once, one short answer
per sample), and a Ray Data plan grouped by problem cost 15-56 s of shuffle for the
160 samples of a test run (machine loaded by parallel work), against 4 s here with
the math checker's start. The vote grouping asks the math checker (a child process,
milliseconds a comparison) about every pair of distinct answers of a problem; an
answer equal as text to one seen skips it. Written under ``_work/problem_table``
and then moved into ``problems/`` part by part, as publish does; the manifest's
``problem_table`` step records it, so a rerun of a finished run does not redo it
and a run killed while writing it does it again.

>>> rows = [{"problem_id": "p", "source": "s", "source_index": 0, "domain": "math",
...          "problem": "1/2?", "ground_truth_solution": "#### 0.5", "test_cases": "",
...          "starter_code": "", "response": "r", "solution": s, "verified": ok,
...          "reason": reason, "completion_tokens": t}
...         for s, ok, reason, t in [("\\boxed{1/2}", True, "pass", 10),
...                                  ("\\boxed{0.5}", True, "pass", 20),
...                                  ("\\boxed{3}", False, "wrong_answer", 30),
...                                  ("\\boxed{4", False, "truncated", 40)]]
>>> same = lambda a, b: a == b or {a, b} == {"1/2", "0.5"}  # a stand-in for the verifier
>>> p = profile(rows[0], [sample_facts(r) for r in rows], same)
>>> p["samples"], p["verified"], p["pass_rate"], p["answers"]
(4, 2, 0.5, [{'answer': '0.5', 'count': 2}, {'answer': '3', 'count': 1}])
>>> p["majority_answer"], round(p["majority_share"], 3), p["label_source"], p["truncated_share"]
('0.5', 0.667, 'gold', 0.25)
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raydistill import records
from raydistill.eval.stats import majority
from raydistill.export.pairs import pass_rate
from raydistill.output.location import OutputLocation
from raydistill.output.storage import StorageError, parquet_files, write_table_atomic
from raydistill.reasons import status_of
from raydistill.verifiers.mcq import gold_letter
from raydistill.verifiers.votes import equivalence, group_votes, vote_of

logger = logging.getLogger(__name__)

# Columns of all/ the table reads; OPTIONAL ones only when the run's rows have them
# (wave: adaptive sampling; label_source, suspect_gold: majority labels and the gold audit).
PROBLEM_FIELDS = tuple(n for n in records.PROBLEM.names if n != "input_error")
COLUMNS = (*PROBLEM_FIELDS, "response", "solution", "verified", "reason",
           "completion_tokens")
OPTIONAL = ("wave", "label_source", "suspect_gold")
Row = Mapping[str, Any]
# Problems per Parquet part of problems/: ~1 KB a row (the problem's text the most),
# so parts of tens of MB.
PROBLEMS_PER_PART = 50_000


def has_gold(problem: Row) -> bool:
    """Whether the problem came with a label to check against (a gold answer or tests)."""
    return bool((problem.get("ground_truth_solution") or "").strip()
                or (problem.get("test_cases") or "").strip())


def gold_agrees(problem: Row, answer: str | None, same: Callable[[str, str], bool]) -> bool | None:
    """Whether the majority ``answer`` is the gold's value; None without a gold or an answer.

    >>> gold_agrees({"domain": "mcq", "ground_truth_solution": "B"}, "B", str.__eq__)
    True
    >>> gold_agrees({"domain": "math", "ground_truth_solution": ""}, "3", str.__eq__) is None
    True
    """
    gold = (problem.get("ground_truth_solution") or "").strip()
    if answer is None or not gold or problem.get("domain") not in ("math", "mcq"):
        return None
    if problem.get("domain") == "mcq":
        gold = gold_letter(gold) or gold
    return bool(same(gold, answer))


def _first(rows: Sequence[Row], name: str) -> Any:
    return next((r[name] for r in rows if r.get(name) is not None), None)


def sample_facts(row: Row) -> dict[str, Any]:
    """What the table keeps of one sample row: its verdict, length, wave, label and vote.

    The vote (:func:`~raydistill.verifiers.votes.vote_of`) is read here, so the
    sample's text is not held: errors (infrastructure) and truncated traces cast
    none, as in evaluation.
    """
    reason = row.get("reason") or ""
    answered = row.get("response") is not None
    error = bool(reason) and status_of(reason) == "error"
    vote = (vote_of(row.get("domain") or "", row.get("solution"))
            if answered and not error and reason != "truncated" else None)
    return {"response": "" if answered else None, "verified": bool(row.get("verified")),
            "reason": reason, "error": answered and error, "vote": vote,
            "completion_tokens": row.get("completion_tokens"), "wave": row.get("wave"),
            "label_source": row.get("label_source"), "suspect_gold": row.get("suspect_gold")}


def profile(problem: Row, samples: Sequence[Row],
            same: Callable[[str, str], bool] | None = None) -> dict[str, Any]:
    """The table's row for one ``problem`` (a row of ``all/``) from its :func:`sample_facts`.

    ``same``: the equivalence of two answers; by default the domain's verifier
    decides (:func:`~raydistill.verifiers.votes.equivalence`).
    """
    same = same or equivalence(problem.get("domain") or "")
    answered = [s for s in samples if s["response"] is not None]
    count, verified, rate = pass_rate([dict(s) for s in samples])
    groups = group_votes([s["vote"] for s in answered], [s["verified"] for s in answered], same)
    cast = sum(v for v, _ in groups.values())
    winner, _ = majority(groups)
    tokens = [int(s["completion_tokens"] or 0) for s in answered]
    solved_waves = [s["wave"] for s in samples if s["verified"] and s["wave"] is not None]
    return {
        **{name: problem.get(name) for name in PROBLEM_FIELDS},
        "samples": count, "verified": verified, "errors": sum(s["error"] for s in answered),
        "pass_rate": rate if count else None,
        "answered": cast,
        "answers": [{"answer": a, "count": v} for a, (v, _) in
                    sorted(groups.items(), key=lambda g: (-g[1][0], g[0]))],
        "majority_answer": winner,
        "majority_share": groups[winner][0] / cast if winner is not None else None,
        "gold_agrees": gold_agrees(problem, winner, same),
        "suspect_gold": bool(_first(samples, "suspect_gold")),
        "label_source": _first(samples, "label_source") or (
            "gold" if has_gold(problem) else "none"),
        "mean_completion_tokens": statistics.fmean(tokens) if tokens else None,
        "median_completion_tokens": float(statistics.median(tokens)) if tokens else None,
        "truncated_share": (sum(s["reason"] == "truncated" for s in answered) / count
                            if count else None),
        "first_solved_wave": min(solved_waves) if solved_waves else None,
    }


def read_columns(out: OutputLocation) -> list[str]:
    """The columns of ``all/`` the table reads: :data:`COLUMNS`, and the :data:`OPTIONAL` it has."""
    files = parquet_files(out.fs, out.all)
    if not files:
        raise StorageError(f"no Parquet files under {out.all}")
    with out.fs.open_input_file(files[0]) as handle:
        names = pq.read_schema(handle).names
    return [*COLUMNS, *(c for c in OPTIONAL if c in names)]


def problem_rows(out: OutputLocation) -> list[dict[str, Any]]:
    """One table row per problem of the run's ``all/``, in the order they first appear."""
    problems: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for part in out.iter_columns(out.all, read_columns(out)):
        for row in part.to_pylist():
            pid = row["problem_id"]
            if pid not in problems:
                problems[pid] = {name: row[name] for name in PROBLEM_FIELDS}
            samples[pid].append(sample_facts(row))
    return [profile(problem, samples[pid]) for pid, problem in problems.items()]


def write_problem_table(out: OutputLocation) -> dict[str, Any]:
    """Write ``problems/`` from the published ``all/``; return its tally (:func:`tally`)."""
    staged = out.staged_problem_table
    out.delete_dir(staged)
    rows = problem_rows(out)
    for part, start in enumerate(range(0, len(rows), PROBLEMS_PER_PART)):
        table = records.table(rows[start:start + PROBLEMS_PER_PART], records.PROBLEM_PROFILE)
        write_table_atomic(out.fs, f"{staged}/part-{part:05d}.parquet", table)
    out.commit_parts(staged, out.problem_table, records.PROBLEM_PROFILE)
    out.delete_dir(staged)
    found = tally(records.table(rows, records.PROBLEM_PROFILE))
    logger.info("wrote %d problems to %s/problems", found["problems"], out.uri)
    return found


def read_problem_table(out: OutputLocation, columns: list[str] | None = None) -> pa.Table:
    """The run's ``problems/`` (all columns unless ``columns``); StorageError if there is none."""
    if not parquet_files(out.fs, out.problem_table, missing_ok=True):
        raise StorageError(f"{out.uri} has no problems/ table (a run of raydistill before it "
                           "existed, or not finished): rerun the run to write it")
    return out.read_columns(out.problem_table, columns or records.PROBLEM_PROFILE.names)


# Pass-rate bins of the tally: unsolved, (0, 0.25], ..., (0.75, 1), all verified.
RATE_BINS = ("0", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1)", "1")


def rate_bin(rate: float) -> str:
    """The :data:`RATE_BINS` label of a pass rate.

    >>> rate_bin(0.0), rate_bin(0.25), rate_bin(0.9), rate_bin(1.0)
    ('0', '(0, 0.25]', '(0.75, 1)', '1')
    """
    if rate <= 0:
        return RATE_BINS[0]
    if rate >= 1:
        return RATE_BINS[-1]
    return RATE_BINS[min(4, 1 + int((rate - 1e-12) * 4))]


# The columns :func:`tally` reads.
TALLY_COLUMNS = ["pass_rate", "verified", "gold_agrees", "suspect_gold", "label_source"]


def tally(table: pa.Table) -> dict[str, Any]:
    """Counts of the table for ``summary.json``, the report and the dataset card."""
    rates = [r for r in table.column("pass_rate").to_pylist() if r is not None]
    agrees = Counter(table.column("gold_agrees").to_pylist())
    bins = Counter(rate_bin(r) for r in rates)
    return {
        "problems": table.num_rows,
        "with_samples": len(rates),
        "solved": int(pc.sum(pc.greater(table.column("verified"), 0)).as_py() or 0),
        "unsolved": sum(r == 0 for r in rates),
        "all_verified": sum(r == 1 for r in rates),
        "gold_agrees": agrees[True],
        "gold_disagrees": agrees[False],
        "suspect_gold": int(pc.sum(table.column("suspect_gold").cast(pa.int64())).as_py() or 0),
        "label_source": dict(Counter(table.column("label_source").to_pylist())),
        "pass_rate_bins": {b: bins[b] for b in RATE_BINS},
    }
