"""Spending caps: ``output.max_cost_usd`` and ``output.max_completion_tokens``.

Granularity: an adaptive wave. The spend of every generated wave (its teacher's
tokens at that teacher's prices) is recorded in the run's manifest; before a wave
starts, a run that has reached a cap stops there, publishes what the waves so far
generated, and says so (``summary.json``'s ``stopped_at_cap``, the manifest's
``capped``). A wave already running is finished, so a run overshoots a cap by at most
one wave's spend: more, smaller waves stop closer to it. A fixed-n run is one pass
and cannot stop between waves: caps need ``sampling.waves`` (refused otherwise).

Rerunning with a higher cap (or none) resumes at the next wave and republishes the
whole run, every sample exactly once. A cap below what the run already spent is
refused before any work, naming the key.

Pure: no Ray.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

Checks = list[tuple[bool, str, str]]


def generation_spend(generations: pa.Table, prices: dict[str, Any]) -> dict[str, float]:
    """Tokens and cost of one wave's generation rows at its teacher's ``prices``.

    ``generations`` holds ``prompt_tokens`` and ``samples.completion_tokens``; a row
    without samples sent nothing billable.

    >>> rows = pa.table({"prompt_tokens": [10, 10], "samples": [
    ...     [{"completion_tokens": 100}, {"completion_tokens": 50}], []]})
    >>> generation_spend(rows, {"price_input_per_million": 1e6, "price_output_per_million": 0})
    {'prompt_tokens': 10, 'completion_tokens': 150, 'cost': 10.0}
    """
    lengths = pc.fill_null(pc.list_value_length(generations["samples"]), 0)
    sent = pc.if_else(pc.greater(lengths, 0), pc.fill_null(generations["prompt_tokens"], 0), 0)
    flat = pc.list_flatten(generations["samples"])
    prompt = int(pc.sum(sent).as_py() or 0)
    completion = int(pc.sum(pc.struct_field(flat, "completion_tokens")).as_py() or 0) \
        if len(flat) else 0
    cost = (prompt * prices.get("price_input_per_million", 0.0)
            + completion * prices.get("price_output_per_million", 0.0)) / 1e6
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cost": round(cost, 9)}


def spent(waves: list[dict[str, Any]]) -> dict[str, float]:
    """What the generated waves of a manifest spent, summed.

    >>> spent([{"generated": True, "completion_tokens": 5, "cost": 0.5},
    ...        {"generated": False}])
    {'completion_tokens': 5, 'cost': 0.5}
    """
    done = [w for w in waves if w.get("generated")]
    return {"completion_tokens": sum(w.get("completion_tokens", 0) for w in done),
            "cost": round(sum(w.get("cost", 0.0) for w in done), 9)}


def cap_reached(so_far: dict[str, float], output: Any) -> str | None:
    """The cap ``so_far`` has reached (``max_cost_usd`` or ``max_completion_tokens``), or None.

    >>> from types import SimpleNamespace as NS
    >>> cap_reached({"cost": 2.0, "completion_tokens": 10},
    ...             NS(max_cost_usd=2.0, max_completion_tokens=None))
    'output.max_cost_usd'
    >>> cap_reached({"cost": 2.0, "completion_tokens": 10},
    ...             NS(max_cost_usd=None, max_completion_tokens=11)) is None
    True
    """
    if output.max_cost_usd is not None and so_far["cost"] >= output.max_cost_usd:
        return "output.max_cost_usd"
    if (output.max_completion_tokens is not None
            and so_far["completion_tokens"] >= output.max_completion_tokens):
        return "output.max_completion_tokens"
    return None


def below_spent(so_far: dict[str, float], output: Any) -> Checks:
    """Caps lower than what the run already spent: refused before any work.

    >>> from types import SimpleNamespace as NS
    >>> [ok for ok, _, _ in below_spent({"cost": 2.0, "completion_tokens": 10},
    ...                                 NS(max_cost_usd=1.0, max_completion_tokens=10))]
    [False, True]
    """
    return [
        (output.max_cost_usd is None or output.max_cost_usd >= so_far["cost"],
         "output.max_cost_usd", f"is below what this run already spent (${so_far['cost']:.6g}); "
         "raise it to resume"),
        (output.max_completion_tokens is None
         or output.max_completion_tokens >= so_far["completion_tokens"],
         "output.max_completion_tokens", "is below the completion tokens this run already "
         f"spent ({so_far['completion_tokens']}); raise it to resume"),
    ]


def cap_checks(cfg: Any) -> Checks:
    """Cap values, and caps only with adaptive waves (their granularity)."""
    o = cfg.output
    caps = o.max_cost_usd is not None or o.max_completion_tokens is not None
    return [
        (o.max_cost_usd is None or o.max_cost_usd > 0, "output.max_cost_usd",
         "must be > 0 or null"),
        (o.max_completion_tokens is None or o.max_completion_tokens > 0,
         "output.max_completion_tokens", "must be > 0 or null"),
        (not caps or cfg.sampling.waves is not None,
         "output.max_cost_usd" if o.max_cost_usd is not None else "output.max_completion_tokens",
         "needs sampling.waves: a run stops at a cap between waves (e.g. waves: [1, 1, 2])"),
    ]
