"""The ``export`` config section: which trainer formats, and how rows are rendered and chosen.

Every format takes the keys of :data:`COMMON_KEYS`; each also takes the keys
listed for it in :data:`FORMAT_KEYS` (a per-sample SFT format the trace keys, a
pair format the ``pairs.*`` keys). A key the format does not take is refused
before any work (:func:`check_keys`), naming the key and what the format takes.

>>> check_keys("trl_dpo", ["pairs.chosen", "style"])
>>> check_keys("trl_dpo", ["k"])
Traceback (most recent call last):
...
raydistill.export.config.ExportError: format 'trl_dpo' does not take key 'k' (it takes: ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields


class ExportError(ValueError):
    """An export that cannot run (bad format, key or run); the message says why."""

FORMATS = ("sharegpt", "sharegpt_pairs", "openai", "trl_sft", "trl_dpo", "verl")
PAIR_FORMATS = ("sharegpt_pairs", "trl_dpo")
STYLES = ("think", "bespoke")
TARGETS = ("thought_solution", "solution", "thought", "response")
ROWS = ("verified", "all")
PICKS = ("first", "shortest", "random")
PAIR_RULES = ("correct_vs_incorrect", "length")
PAIR_PICKS = ("random", "shortest", "longest", "lowest_perplexity", "highest_perplexity")
# Kinds of failed sample that may be a pair's rejected side only when listed in pairs.allow.
PAIR_ALLOW = ("truncated", "error", "filtered")
FILE_FORMATS = ("jsonl", "parquet")


@dataclass
class PairsConfig:
    """How a preference pair is built from one problem's samples (``raydistill.export.pairs``)."""

    # correct_vs_incorrect: chosen verified, rejected failed (STILL-2);
    # length: the shortest and the longest verified samples (Sky-T1-Flash).
    rule: str = "correct_vs_incorrect"
    # How the chosen and the rejected samples are picked among the candidates.
    chosen: str = "random"
    rejected: str = "random"
    # Failed samples that may also be rejected: truncated, error, filtered (none by default).
    allow: list[str] = field(default_factory=list)


@dataclass
class ExportConfig:
    """Trainer-ready exports of a finished run (``python -m raydistill.export``)."""

    # Formats written at the end of a run (``raydistill.run``); the CLI takes format=NAME.
    formats: list[str] = field(default_factory=list)
    # Where an export goes; null = <run uri>/exports/<format>.
    uri: str | None = None
    # think: <think>reasoning</think> then the answer; bespoke: begin/end_of_thought and
    # begin/end_of_solution tags with that style's system prompt.
    style: str = "think"
    # What the assistant turn holds: thought_solution, solution or thought (in `style`),
    # or response: the sample's text as the model wrote it (style aside; the loop's choice).
    target: str = "thought_solution"
    # System prompt; null = the style's (bespoke) or the one the teacher was sent; "" = none.
    system: str | None = None
    # verified: rows that passed; all: every row with a response.
    rows: str = "verified"
    # At most k samples per problem (null = all), chosen by `pick`.
    k: int | None = None
    # first (lowest sample_idx), shortest, random (seeded by `seed`).
    pick: str = "first"
    # Seed of every random choice (pick=random, pairs.*=random).
    seed: int = 0
    # Rows of these sources (the `source` column: a data set's name) are left out, e.g. a
    # held-out split (the loop leaves out loop.heldout this way).
    exclude_sources: list[str] = field(default_factory=list)
    # Only problems whose measured pass rate (verified / samples) is in this band.
    min_pass_rate: float = 0.0
    max_pass_rate: float = 1.0
    # parquet or jsonl (null = parquet). Only Parquet exports become configurations of
    # the run's dataset card: `datasets` reads every configuration of a folder with one
    # file type, the one of verified/ (OpenAI's upload wants file_format=jsonl).
    file_format: str | None = None
    # Rows per shard file: bounds each file's size (and the driver's buffer).
    rows_per_file: int = 50_000
    # A shard also closes once its rows hold about this many MiB of Arrow data (JSONL
    # files come out about this size, Parquet ones smaller): 50k R1 traces of ~6k tokens
    # are ~1.2 GB. 500 MiB: the size the Hub's dataset viewer and `datasets` stream well.
    mb_per_file: int = 500
    # The dataset_info.json entry's name (sharegpt formats); null = raydistill_<format>.
    name: str | None = None
    # Preference pairs (sharegpt_pairs, trl_dpo).
    pairs: PairsConfig = field(default_factory=PairsConfig)
    # S3-compatible endpoint and region of s3:// URIs; null = $AWS_ENDPOINT_URL, $AWS_REGION.
    s3_endpoint: str | None = None
    s3_region: str | None = None


COMMON_KEYS = ("uri", "system", "seed", "exclude_sources", "min_pass_rate", "max_pass_rate",
               "file_format",
               "rows_per_file", "mb_per_file", "s3_endpoint", "s3_region")
_TRACE = ("style", "target")
_SAMPLES = ("rows", "k", "pick")
_PAIRS = tuple(f"pairs.{f.name}" for f in fields(PairsConfig))
FORMAT_KEYS: dict[str, tuple[str, ...]] = {
    "sharegpt": _TRACE + _SAMPLES + ("name",),
    "openai": _TRACE + _SAMPLES,
    "trl_sft": _TRACE + _SAMPLES,
    "sharegpt_pairs": _TRACE + _PAIRS + ("name",),
    "trl_dpo": _TRACE + _PAIRS,
    # One row per problem: no trace is rendered, no samples are chosen.
    "verl": (),
}


def check_format(name: str) -> None:
    """Refuse an unknown format, listing the known ones."""
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r}; formats: {', '.join(FORMATS)}")


def check_keys(fmt: str, keys: Iterable[str]) -> None:
    """Refuse a key ``fmt`` does not take, naming it and what ``fmt`` takes."""
    check_format(fmt)
    taken = set(COMMON_KEYS) | set(FORMAT_KEYS[fmt])
    for key in keys:
        if key not in taken:
            raise ExportError(f"format {fmt!r} does not take key {key!r} "
                              f"(it takes: {', '.join(sorted(taken))})")


def export_checks(cfg: ExportConfig) -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the values the types cannot catch (``export.`` keys)."""
    return [
        (all(f in FORMATS for f in cfg.formats), "formats", f"must be among {FORMATS}"),
        (cfg.style in STYLES, "style", f"must be one of {STYLES}"),
        (cfg.target in TARGETS, "target", f"must be one of {TARGETS}"),
        (cfg.rows in ROWS, "rows", f"must be one of {ROWS}"),
        (cfg.k is None or cfg.k >= 1, "k", "must be >= 1 or null"),
        (cfg.pick in PICKS, "pick", f"must be one of {PICKS}"),
        (0 <= cfg.min_pass_rate <= cfg.max_pass_rate <= 1, "min_pass_rate",
         "and max_pass_rate must satisfy 0 <= min <= max <= 1"),
        (cfg.file_format is None or cfg.file_format in FILE_FORMATS, "file_format",
         f"must be one of {FILE_FORMATS} or null"),
        (cfg.rows_per_file >= 1, "rows_per_file", "must be >= 1"),
        (cfg.mb_per_file >= 1, "mb_per_file", "must be >= 1"),
        (cfg.pairs.rule in PAIR_RULES, "pairs.rule", f"must be one of {PAIR_RULES}"),
        (cfg.pairs.chosen in PAIR_PICKS, "pairs.chosen", f"must be one of {PAIR_PICKS}"),
        (cfg.pairs.rejected in PAIR_PICKS, "pairs.rejected", f"must be one of {PAIR_PICKS}"),
        (all(a in PAIR_ALLOW for a in cfg.pairs.allow), "pairs.allow",
         f"must be among {PAIR_ALLOW}"),
    ]


def validate(cfg: ExportConfig) -> None:
    """Raise :class:`ExportError` naming the first bad key."""
    for ok, key, problem in export_checks(cfg):
        if not ok:
            raise ExportError(f"config key 'export.{key}' {problem}")
