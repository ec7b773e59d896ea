"""Adaptive sampling: samples per problem in waves, a problem stops once it has enough.

A fixed-n run spends as much on a problem solved at the first try as on one never
solved. With ``sampling.waves: [2, 4, 8]``, ``stop_at_verified: k`` and
``max_samples: cap``, wave 0 asks 2 samples of every problem; wave 1 asks 4 more of
each problem with fewer than ``k`` verified samples so far; wave 2 asks 8 more (cut
so no problem gets more than ``cap`` in all) of those still short. Verification
between waves decides; the rule verifiers' verdict (and the judge's) counts, before
the trace filters run at publication.

Each wave is an ordinary checkpointed generate pass over its own staged problems
(``_work/waves/<w>/``), so a crash costs at most the blocks in flight of one wave
and a rerun resumes that wave; which problems a later wave gets is a pure function
of the earlier waves' generations (:func:`open_problems`), so restaging it after a
crash gives the same problems. Sample indices are reserved per wave: wave ``w``'s
samples are ``offset_w .. offset_w + n_w - 1`` (:func:`wave_plan`), unique per problem
across waves whatever the teacher returned, and each request's seed is keyed by
``(problem_id, offset_w)`` (:func:`raydistill.teachers.base.seed_key`).

Escalation: an entry of ``sampling.waves`` is either a count (``2``: samples asked of
the ``teacher`` section) or ``{n: 2, teacher: NAME}``, naming one of the run's
``teachers`` (a cheap distill for the first waves, the strong model or an API for the
problems still short; :mod:`raydistill.sampling.escalation`). Each wave starts its own
teacher pool and releases it when the wave is written, so two teachers never hold
the machine at once.

A problem whose wave gave no sample (bad input, prompt too long, a teacher error)
stops there: its error row is kept, and asking again would fail the same way.

This module is pure (no Ray): the plan, the selection and the per-wave tallies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# The name a wave without its own teacher uses: the config's ``teacher`` section.
DEFAULT_TEACHER = "teacher"


@dataclass(frozen=True)
class Wave:
    """One wave: its index, the samples asked per problem, the first sample index, the teacher."""

    index: int
    n: int
    offset: int
    teacher: str = DEFAULT_TEACHER

    def as_dict(self) -> dict[str, Any]:
        """The wave as the manifest stores it."""
        return {"wave": self.index, "n": self.n, "offset": self.offset, "teacher": self.teacher}


def wave_entry(entry: Any) -> tuple[int, str]:
    """One ``sampling.waves`` entry as ``(samples, teacher name)``; ValueError if malformed.

    >>> wave_entry(2), wave_entry({"n": 4, "teacher": "strong"}), wave_entry({"n": 1})
    ((2, 'teacher'), (4, 'strong'), (1, 'teacher'))
    >>> wave_entry({"n": 2, "model": "x"})
    Traceback (most recent call last):
    ...
    ValueError: a wave is a count or {n: COUNT, teacher: NAME}, not {'n': 2, 'model': 'x'}
    """
    if isinstance(entry, int) and not isinstance(entry, bool):
        return entry, DEFAULT_TEACHER
    if (isinstance(entry, Mapping) and set(entry) <= {"n", "teacher"}
            and isinstance(entry.get("n"), int) and isinstance(
                entry.get("teacher", DEFAULT_TEACHER), str)):
        return int(entry["n"]), str(entry.get("teacher", DEFAULT_TEACHER))
    shown = dict(entry) if isinstance(entry, Mapping) else entry
    raise ValueError(f"a wave is a count or {{n: COUNT, teacher: NAME}}, not {shown!r}")


def cap_of(waves: list[Any], max_samples: int | None) -> int:
    """Samples per problem at most: ``max_samples``, or all the waves' samples.

    >>> cap_of([2, 4, 8], None), cap_of([2, {"n": 4, "teacher": "big"}], None), cap_of([2], 1)
    (14, 6, 1)
    """
    return sum(wave_entry(w)[0] for w in waves) if max_samples is None else max_samples


def wave_plan(waves: list[Any], max_samples: int | None = None) -> list[Wave]:
    """The waves actually run: each cut so the total stays within the cap.

    >>> [(w.n, w.offset) for w in wave_plan([2, 4, 8], 8)]
    [(2, 0), (4, 2), (2, 6)]
    >>> [(w.n, w.offset) for w in wave_plan([4, 4, 4], 3)]
    [(3, 0)]
    >>> [(w.n, w.teacher) for w in wave_plan([2, {"n": 2, "teacher": "strong"}])]
    [(2, 'teacher'), (2, 'strong')]
    """
    cap = cap_of(waves, max_samples)
    plan: list[Wave] = []
    offset = 0
    for entry in waves:
        size, teacher = wave_entry(entry)
        n = min(size, cap - offset)
        if n <= 0:
            break
        plan.append(Wave(len(plan), n, offset, teacher))
        offset += n
    return plan


def sampling_plan(sampling: Any) -> list[Wave] | None:
    """The wave plan of a ``sampling`` config section, or None for a fixed-n run."""
    if sampling.waves is None:
        return None
    return wave_plan(list(sampling.waves), sampling.max_samples)


def wave_counts(generations: pa.Table) -> pa.Table:
    """Per problem of one wave's generation rows: ``problem_id``, ``verified``, ``samples``.

    ``generations`` holds ``problem_id``, ``input_error``, ``teacher_error`` and
    ``samples`` (records.GENERATION). ``samples`` is what the wave gave (0 for a row
    that could not be generated, which then counts as finished: ``done``).
    """
    lengths = pc.fill_null(pc.list_value_length(generations["samples"]), 0)
    flat = pc.list_flatten(generations["samples"])
    owners = pc.list_parent_indices(generations["samples"])
    passed = pc.equal(pc.struct_field(flat, "verdict"), "pass")
    per_row = [0] * generations.num_rows
    for owner in pc.filter(owners, pc.fill_null(passed, False)).to_pylist():
        per_row[owner] += 1
    failed_row = pc.or_(pc.is_valid(generations["input_error"]),
                        pc.is_valid(generations["teacher_error"]))
    done = pc.or_(pc.equal(lengths, 0), failed_row)
    return pa.table({"problem_id": generations["problem_id"],
                     "verified": pa.array(per_row, pa.int64()),
                     "samples": pc.cast(lengths, pa.int64()),
                     "done": done})


def open_problems(waves: list[pa.Table], stop_at_verified: int) -> pa.Array:
    """Ids of the problems the next wave asks again, from the earlier waves' counts.

    ``waves`` are :func:`wave_counts` tables, wave 0 first. A problem goes on while it
    was in the last wave, got samples there, and has fewer than ``stop_at_verified``
    verified samples over all waves; the cap is the wave plan's business.

    >>> w0 = pa.table({"problem_id": ["a", "b", "c"], "verified": [0, 1, 0],
    ...                "samples": [2, 2, 0], "done": [False, False, True]})
    >>> w1 = pa.table({"problem_id": ["a"], "verified": [1], "samples": [4], "done": [False]})
    >>> open_problems([w0], 1).to_pylist(), open_problems([w0], 2).to_pylist()
    (['a'], ['a', 'b'])
    >>> open_problems([w0, w1], 1).to_pylist(), open_problems([w0, w1], 2).to_pylist()
    ([], ['a'])
    """
    last = waves[-1]
    totals = pa.concat_tables([w.select(["problem_id", "verified"]) for w in waves])
    summed = totals.group_by("problem_id").aggregate([("verified", "sum")])
    wanted = last.filter(pc.invert(last["done"]))["problem_id"]
    short = summed.filter(pc.less(summed["verified_sum"], stop_at_verified))["problem_id"]
    return pc.filter(wanted, pc.is_in(wanted, value_set=short))


def stopped_why(verified: int, samples: int, stop_at_verified: int, cap: int) -> str:
    """Why a problem got no further wave: ``enough``, ``cap`` or ``no_sample``.

    >>> stopped_why(1, 2, 1, 8), stopped_why(0, 8, 1, 8), stopped_why(0, 0, 1, 8)
    ('enough', 'cap', 'no_sample')
    """
    if verified >= stop_at_verified:
        return "enough"
    return "cap" if samples >= cap else "no_sample"


def wave_summary(rows: pa.Table, plan: list[Wave]) -> list[dict[str, Any]]:
    """Per wave: problems asked, samples, verified, completion tokens, problems first solved.

    ``rows`` are columns of ``all/`` (``problem_id``, ``wave``, ``verified``,
    ``completion_tokens``) and ``generated`` (false on a row without a sample).

    >>> rows = pa.table({"problem_id": ["a", "a", "b", "b", "b", "b"],
    ...                  "wave": [0, 0, 0, 0, 1, 1],
    ...                  "verified": [True, False, False, False, True, True],
    ...                  "completion_tokens": [5, 5, 5, 5, 5, 5], "generated": [True] * 6})
    >>> [(w["problems"], w["samples"], w["verified"], w["newly_solved"])
    ...  for w in wave_summary(rows, wave_plan([2, 2]))]
    [(2, 4, 1, 1), (1, 2, 2, 1)]
    """
    first_solved: dict[str, int] = {}
    solved = rows.filter(rows["verified"])
    for pid, wave in zip(solved["problem_id"].to_pylist(), solved["wave"].to_pylist(),
                         strict=True):
        first_solved[pid] = min(wave, first_solved.get(pid, wave))
    out = []
    for wave in plan:
        mine = rows.filter(pc.equal(rows["wave"], wave.index))
        generated = mine.filter(mine["generated"])
        out.append({
            **wave.as_dict(),
            "problems": pc.count_distinct(mine["problem_id"]).as_py() if mine.num_rows else 0,
            "samples": generated.num_rows,
            "verified": pc.sum(mine["verified"]).as_py() or 0,
            "completion_tokens": pc.sum(generated["completion_tokens"]).as_py() or 0,
            "prompt_tokens": (pc.sum(mine["prompt_tokens"]).as_py() or 0
                              if "prompt_tokens" in mine.column_names else 0),
            "newly_solved": sum(1 for w in first_solved.values() if w == wave.index),
        })
    return out
