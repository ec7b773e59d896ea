"""Escalation: each adaptive wave may ask its own teacher, and what each teacher cost.

OpenThoughts3 and AM found a cheap teacher solves most easy problems; adaptive
sampling already stops a problem at ``sampling.stop_at_verified`` verified samples.
Escalation puts the two together: the first waves ask a cheap teacher, the later
ones (only the problems still short) a strong one::

    teachers:
      strong: {name: openai, model: deepseek-reasoner, base_url: ..., price_...}
    sampling:
      waves: [2, 2, {n: 4, teacher: strong}]

A plain count asks the ``teacher`` section; ``{n, teacher: NAME}`` asks the named
section of ``teachers`` (typed per backend like ``teacher``). A wave naming an
unknown teacher fails before any work (:func:`wave_teacher_checks`). The waves run
one after the other, each with its own pool started and released around it
(:func:`raydistill.pipeline.generate_waves`), so a strong teacher's pool never
shares the machine with a cheap one's.

Every row records the teacher that wrote it (``teacher_name`` and ``teacher``, the
model); the summary gives per teacher its samples, verified samples, tokens, cost at
its own prices and the problems it solved first (:func:`per_teacher`).

Pure: no Ray.
"""

from __future__ import annotations

from typing import Any

from raydistill.sampling.waves import DEFAULT_TEACHER, wave_entry

Checks = list[tuple[bool, str, str]]
COUNTED = ("samples", "verified", "prompt_tokens", "completion_tokens", "newly_solved")


def teacher_of(cfg: Any, name: str) -> Any:
    """The teacher section a wave naming ``name`` asks: ``teacher`` or ``teachers.NAME``."""
    return cfg.teacher if name == DEFAULT_TEACHER else cfg.teachers[name]


def wave_teacher_checks(cfg: Any) -> Checks:
    """Each wave's teacher is ``teacher`` or a name defined under ``teachers``.

    >>> from types import SimpleNamespace as NS
    >>> cfg = NS(teachers={"strong": None}, sampling=NS(waves=[2, {"n": 2, "teacher": "big"}]))
    >>> [(ok, key) for ok, key, _ in wave_teacher_checks(cfg)]
    [(True, 'sampling.waves[0].teacher'), (False, 'sampling.waves[1].teacher')]
    """
    if cfg.sampling.waves is None:
        return []
    known = [DEFAULT_TEACHER, *cfg.teachers]
    checks = []
    for i, entry in enumerate(cfg.sampling.waves):
        try:
            _, name = wave_entry(entry)
        except ValueError:
            continue  # sampling_checks names the malformed entry
        checks.append((name in known, f"sampling.waves[{i}].teacher",
                       f"names an unknown teacher {name!r}: define it under teachers.{name} "
                       f"(known: {', '.join(known)})"))
    if DEFAULT_TEACHER in cfg.teachers:
        checks.append((False, f"teachers.{DEFAULT_TEACHER}",
                       f"is reserved: the {DEFAULT_TEACHER!r} section is the default teacher"))
    return checks


def teacher_prices(cfg: Any) -> dict[str, dict[str, Any]]:
    """Per teacher name: its model and per-million-token prices (for :func:`per_teacher`)."""
    sections = {DEFAULT_TEACHER: cfg.teacher, **cfg.teachers}
    return {name: {"model": t.model, "price_input_per_million": t.price_input_per_million,
                   "price_output_per_million": t.price_output_per_million}
            for name, t in sections.items()}


def per_teacher(waves: list[dict[str, Any]],
                teachers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per teacher that ran a wave: samples, verified, tokens, cost, problems first solved.

    ``waves`` are the summary's per-wave counts (each with its ``teacher``; a fixed-n
    run is one wave of ``teacher``), ``teachers`` :func:`teacher_prices`' map.

    >>> waves = [{"teacher": "teacher", "samples": 8, "verified": 5, "prompt_tokens": 40,
    ...           "completion_tokens": 800, "newly_solved": 3},
    ...          {"teacher": "strong", "samples": 2, "verified": 1, "prompt_tokens": 10,
    ...           "completion_tokens": 1_000_000, "newly_solved": 1}]
    >>> prices = {"teacher": {"model": "s", "price_input_per_million": 0.0,
    ...                       "price_output_per_million": 0.0},
    ...           "strong": {"model": "t", "price_input_per_million": 1.0,
    ...                      "price_output_per_million": 2.0}}
    >>> out = per_teacher(waves, prices)
    >>> out["strong"]["cost"], out["strong"]["newly_solved"], out["teacher"]["waves"]
    (2.00001, 1, 1)
    """
    found: dict[str, dict[str, Any]] = {}
    for wave in waves:
        name = wave.get("teacher", DEFAULT_TEACHER)
        prices = teachers.get(name, {})
        entry = found.setdefault(name, {"model": prices.get("model"), "waves": 0,
                                        **dict.fromkeys(COUNTED, 0)})
        entry["waves"] += 1
        for counted in COUNTED:
            entry[counted] += wave.get(counted, 0) or 0
    for name, entry in found.items():
        prices = teachers.get(name, {})
        cost_in = entry["prompt_tokens"] * prices.get("price_input_per_million", 0.0) / 1e6
        cost_out = entry["completion_tokens"] * prices.get("price_output_per_million", 0.0) / 1e6
        entry["cost"] = round(cost_in + cost_out, 9)
    return found


def fixed_run_wave(summary: dict[str, Any]) -> dict[str, Any]:
    """A fixed-n run's totals as one wave of the ``teacher`` section (for :func:`per_teacher`)."""
    return {"teacher": DEFAULT_TEACHER, "samples": summary["samples"],
            "verified": summary["verified"], "prompt_tokens": summary["prompt_tokens"],
            "completion_tokens": summary["completion_tokens"],
            "newly_solved": summary["problems_with_a_verified_sample"]}
