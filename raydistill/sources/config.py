"""The ``source`` config section: data sets and how their fields map onto a problem.

Kept beside the sources (and below :mod:`raydistill.config`, which re-exports
these types) so the sources package can name them without importing the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class DatasetConfig:
    """One input data set and how its fields map onto a problem."""

    name: str = MISSING
    format: str = "jsonl"
    path: str = ""
    split: str = "train"
    # The hub data set's configuration name (format hf): "ARC-Challenge", "gpqa_diamond".
    subset: str = ""
    preset: str = ""
    question_field: str = ""
    answer_field: str = ""
    # "" = the preset's domain (code for apps, mcq for sciq, math without a preset).
    domain: str = ""
    limit: int | None = None
    # Problems of the data set skipped before the first one read (its first `offset`
    # rows); `limit` counts from there. The loop's fresh slices per round use it.
    offset: int = 0
    seed: int = 0


@dataclass
class SourceConfig:
    """Where problems come from."""

    datasets: list[DatasetConfig] = field(default_factory=list)
    limit: int | None = None
    problems_per_file: int = 1000
