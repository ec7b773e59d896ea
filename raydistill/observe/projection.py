"""A run's cost plan from a pilot: which problems the pilot takes, and the projection.

``raydistill plan`` (:mod:`raydistill.cli.plan`) runs the real pipeline on a seeded
random sample of the problems, then projects the whole run from the pilot's rows:

- teacher input/output tokens, cost, verified samples and problems solved: the
  pilot's per-problem values scaled to all problems; the interval is a percentile
  bootstrap over pilot problems (``BOOTSTRAP`` resamples, 2.5th-97.5th percentile,
  seeded), so it says how much the pilot's sample of problems could be off, not
  how much the teacher's speed could vary;
- ``generation_s`` (wall time at the conf's replicas): projected completion tokens
  over the pilot's measured throughput (completion tokens per second while a request
  was in flight, with the conf's replicas), plus the pilot's time between waves
  (pools starting, waves written), which a bigger run pays once per wave as the
  pilot did; its interval is the tokens' interval at that throughput;
- accelerator-hours: ``generation_s`` x replicas x accelerators per replica (the
  replica's GPU or NPU, else its CPUs), over 3600.

Pure: no Ray.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Any

BOOTSTRAP = 1000
PER_PROBLEM = ("prompt_tokens", "completion_tokens", "cost", "verified", "solved")


def pilot_rank(problem_id: str, seed: int) -> float:
    """A problem's place in the seeded random order of the pilot, in [0, 1).

    >>> 0 <= pilot_rank("p1", 0) < 1, pilot_rank("p1", 0) == pilot_rank("p1", 1)
    (True, False)
    """
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_pilot(ids: Iterable[str], seed: int, share: float | None = None,
                 count: int | None = None) -> set[str]:
    """The pilot's problem ids: a seeded ``share`` of them, or ``count`` of them.

    >>> ids = [f"p{i}" for i in range(100)]
    >>> len(choose_pilot(ids, 0, count=10)), choose_pilot(ids, 0, count=3) == choose_pilot(
    ...     reversed(ids), 0, count=3)
    (10, True)
    >>> 20 <= len(choose_pilot(ids, 0, share=0.3)) <= 40
    True
    """
    ranked = sorted((pilot_rank(pid, seed), pid) for pid in ids)
    if count is not None:
        return {pid for _, pid in ranked[:count]}
    return {pid for rank, pid in ranked if rank < (share or 0.0)}


def per_problem(rows: Iterable[dict[str, Any]], prices: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, float]]:
    """Per pilot problem: tokens, cost at its teachers' prices, verified samples, solved.

    ``rows`` are ``all/`` rows (``problem_id``, ``wave`` if any, ``teacher_name``,
    ``prompt_tokens``, ``completion_tokens``, ``verified``, ``response``); a
    request's prompt tokens sit on each of its samples, so they are counted once
    per problem and wave.

    >>> rows = [{"problem_id": "a", "wave": 0, "teacher_name": "teacher", "prompt_tokens": 10,
    ...          "completion_tokens": 5, "verified": True, "response": "x"},
    ...         {"problem_id": "a", "wave": 0, "teacher_name": "teacher", "prompt_tokens": 10,
    ...          "completion_tokens": 7, "verified": False, "response": "y"}]
    >>> per_problem(rows, {"teacher": {"price_input_per_million": 1e6,
    ...                                "price_output_per_million": 0}})["a"]
    {'prompt_tokens': 10, 'completion_tokens': 12, 'cost': 10.0, 'verified': 1, 'solved': 1}
    """
    found: dict[str, dict[str, float]] = {}
    requests: set[tuple[str, int]] = set()
    for row in rows:
        entry = found.setdefault(row["problem_id"], dict.fromkeys(PER_PROBLEM, 0))
        if row.get("response") is None:
            continue
        price = prices.get(row.get("teacher_name") or "teacher", {})
        request = (row["problem_id"], row.get("wave") or 0)
        prompt = 0 if request in requests else (row.get("prompt_tokens") or 0)
        requests.add(request)
        completion = row.get("completion_tokens") or 0
        entry["prompt_tokens"] += prompt
        entry["completion_tokens"] += completion
        entry["cost"] += (prompt * price.get("price_input_per_million", 0.0)
                          + completion * price.get("price_output_per_million", 0.0)) / 1e6
        entry["verified"] += int(bool(row.get("verified")))
        entry["solved"] = int(entry["solved"] or bool(row.get("verified")))
    return found


def interval(values: list[float], total: int, seed: int = 0,
             resamples: int = BOOTSTRAP) -> dict[str, float]:
    """``{estimate, low, high}`` of the sum over ``total`` problems of a per-problem value.

    The estimate is the pilot's mean times ``total``; low and high the 2.5th and
    97.5th percentiles of that over bootstrap resamples of the pilot's problems.

    >>> interval([1.0, 1.0, 1.0], 10)
    {'estimate': 10.0, 'low': 10.0, 'high': 10.0}
    >>> got = interval([0.0, 2.0] * 20, 100)
    >>> got["estimate"], got["low"] < 100 < got["high"]
    (100.0, True)
    """
    if not values:
        return {"estimate": 0.0, "low": 0.0, "high": 0.0}
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    low, high = means[int(0.025 * (resamples - 1))], means[int(0.975 * (resamples - 1))]
    return {"estimate": round(sum(values) / n * total, 6), "low": round(low * total, 6),
            "high": round(high * total, 6)}


def scaled(span: dict[str, float], factor: float) -> dict[str, float]:
    """Each bound of ``span`` times ``factor``.

    >>> scaled({"estimate": 2.0, "low": 1.0, "high": 3.0}, 0.5)
    {'estimate': 1.0, 'low': 0.5, 'high': 1.5}
    """
    return {k: round(v * factor, 6) for k, v in span.items()}


def accelerators_per_replica(resources: dict[str, float]) -> tuple[str, float]:
    """The accelerator a replica holds and how many: GPU, NPU, else CPU.

    >>> accelerators_per_replica({"CPU": 1, "GPU": 2}), accelerators_per_replica({"CPU": 1})
    (('GPU', 2), ('CPU', 1))
    """
    for kind in ("GPU", "NPU"):
        if resources.get(kind):
            return kind, resources[kind]
    return "CPU", resources.get("CPU", 1.0)


def project(problems: dict[str, dict[str, float]], total: int, tokens_per_s: float,
            replicas: int, resources: dict[str, float], seed: int = 0,
            between_waves_s: float = 0.0) -> dict[str, Any]:
    """The whole run's projection from the pilot's :func:`per_problem` values.

    ``tokens_per_s``: the pilot's completion tokens per second with a request in
    flight; ``between_waves_s``: the rest of its generation window.

    >>> pilot = {"a": {"prompt_tokens": 10, "completion_tokens": 100, "cost": 0.1,
    ...                "verified": 2, "solved": 1}}
    >>> got = project(pilot, 50, 1000.0, 2, {"GPU": 1})
    >>> got["completion_tokens"]["estimate"], got["generation_s"]["estimate"]
    (5000.0, 5.0)
    >>> got["accelerator_hours"]["estimate"], got["accelerator"]
    (0.002778, 'GPU')
    """
    values = list(problems.values())
    out: dict[str, Any] = {"problems": total, "pilot_problems": len(values)}
    for name, per in (("input_tokens", "prompt_tokens"), ("completion_tokens", None),
                      ("cost_usd", "cost"), ("verified_samples", "verified"),
                      ("problems_solved", "solved")):
        out[name] = interval([v[per or name] for v in values], total, seed)
    speed = 1.0 / tokens_per_s if tokens_per_s > 0 else 0.0
    out["generation_s"] = {k: round(v + between_waves_s, 6) for k, v in
                           scaled(out["completion_tokens"], speed).items()}
    kind, count = accelerators_per_replica(resources)
    out["accelerator"] = kind
    out["accelerator_hours"] = scaled(out["generation_s"], replicas * count / 3600)
    out["pilot_tokens_per_s"] = round(tokens_per_s, 3)
    return out
