"""The ``source`` config section: data sets and how their fields map onto a problem.

Kept beside the sources (below :mod:`raydistill.config`) so the sources package
can name them without importing the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from raydistill.keys import key


@dataclass
class DatasetConfig:
    """One input data set and how its fields map onto a problem."""

    name: str = key(MISSING, "The data set's name: fills the source column and the "
                    "problem_id hash.")
    format: str = key("jsonl", "synthetic_arithmetic, jsonl, parquet or hf (a hub data set, or "
                      "one saved with save_to_disk).")
    path: str = key("", "Local file or directory, s3:// prefix, or hub id (required but for "
                    "synthetic_arithmetic).")
    split: str = key("train", "Split of an hf data set.")
    subset: str = key("", "The hub data set's configuration name (format hf): ARC-Challenge, "
                      "gpqa_diamond.")
    preset: str = key("", "Field mapping of a known data set (sources/presets.py): gsm8k, "
                      "numinamath, math, apps, taco, humaneval, mbpp, mcq, mmlu_pro, arc, sciq, "
                      "gpqa, raydistill (a `raydistill select` problem list).")
    question_field: str = key("", "Column holding the problem (default: the preset's, else "
                              "question).")
    answer_field: str = key("", "Column holding the reference answer (default: the preset's, "
                            "else answer).")
    domain: str = key("", "Which verifier checks these problems: math, code, mcq (\"\" = the "
                      "preset's; math without a preset).")
    limit: int | None = key(None, "Problems read from this data set at most (null = all).")
    offset: int = key(0, "Rows skipped before the first one read; limit counts from there (the "
                      "loop's fresh slices per round use it).")
    seed: int = key(0, "Seed of format synthetic_arithmetic: same seed, same problems.")


@dataclass
class SourceConfig:
    """Where problems come from."""

    datasets: list[DatasetConfig] = key(factory=list, doc="The data sets, read in order until "
                                        "limit is reached.")
    limit: int | None = key(None, "Problems in all, across data sets (null = all of them).")
    problems_per_file: int = key(1000, "Problems per staged Parquet file under "
                                 "<output.uri>/_work/problems.", perf=True)
