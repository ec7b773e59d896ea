r"""A problem list chosen from a finished run's ``problems/`` table: the input of the next run.

``raydistill select RUN OUT [key=value ...]`` (:mod:`raydistill.cli.select`) reads
``<RUN>/problems/`` (:mod:`raydistill.output.problems`), keeps the problems that
pass every filter of :class:`SelectConfig`, and writes them to ``OUT`` (a
``.parquet`` or ``.jsonl`` file, local or ``s3://``) with their own fields
(``problem``, ``ground_truth_solution``, ``test_cases``, ``starter_code``,
``domain``) and what the first run measured (``pass_rate``, ``majority_answer``,
...). A run reads it back as a source with the ``raydistill`` preset::

    source.datasets=[{name: hard, format: parquet, path: OUT, preset: raydistill, domain: math}]

The filters, in order: the domain, the pass-rate band, unsolved or the wave that
first solved it, the gold audit's flag, then the longest mean answers (top ``k``
or a share of what is left), then a random ``limit`` (``seed``). Problems
without a scored sample (a bad input row, a teacher error) have no pass rate and
are never chosen. Every key is checked before anything is read, naming the key.

>>> import pyarrow as pa
>>> table = pa.table({"problem_id": ["a", "b", "c", "d"], "domain": ["math"] * 4,
...                   "pass_rate": [0.0, 0.5, 1.0, None], "verified": [0, 2, 4, 0],
...                   "suspect_gold": [False, True, False, False],
...                   "first_solved_wave": [None, 1, 0, None],
...                   "mean_completion_tokens": [300.0, 200.0, 100.0, None]})
>>> chosen = lambda **keys: choose(table, SelectConfig(**keys)).column("problem_id").to_pylist()
>>> chosen()
['a', 'b', 'c']
>>> chosen(min_pass_rate=0.1, max_pass_rate=0.9), chosen(unsolved=True), chosen(solved_in_wave=1)
(['b'], ['a'], ['b'])
>>> chosen(suspect=False), chosen(longest=2), chosen(longest_share=0.3)
(['a', 'c'], ['a', 'b'], ['a'])
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raydistill.config.loader import Checks, build, raise_first
from raydistill.errors import ConfigError
from raydistill.keys import key
from raydistill.output.config import OutputConfig, s3_endpoint
from raydistill.output.location import OutputLocation
from raydistill.output.problems import read_problem_table
from raydistill.output.storage import resolve, write_bytes_atomic, write_table_atomic

logger = logging.getLogger(__name__)

# What a problem list holds: the problem's own fields (what a source reads), where
# it came from, and what the run that profiled it measured.
LIST_COLUMNS = ["problem_id", "source", "source_index", "domain", "problem",
                "ground_truth_solution", "test_cases", "starter_code", "samples", "verified",
                "pass_rate", "majority_answer", "majority_share", "gold_agrees", "suspect_gold",
                "label_source", "mean_completion_tokens", "first_solved_wave"]
SUFFIXES = (".parquet", ".jsonl")


@dataclass
class SelectConfig:
    """Which problems of a run's ``problems/`` the ``select`` command keeps."""

    domain: str = key("", "Only problems of this verifier domain (math, code, mcq); required "
                      "when the run's problems span several (a source has one domain).")
    min_pass_rate: float = key(0.0, "Lowest pass rate kept (verified / samples; 0.1 with "
                               "max 0.9 is open-r1's learnable band for RL).")
    max_pass_rate: float = key(1.0, "Highest pass rate kept.")
    unsolved: bool = key(False, "Only problems no sample solved (pass rate 0): the ones for a "
                         "stronger teacher.")
    solved_in_wave: int | None = key(None, "Only problems first solved in this adaptive wave "
                                     "(sampling.waves; null = any).")
    suspect: bool | None = key(None, "true: only problems whose gold the audit suspects; "
                               "false: none of them; null: either.")
    longest: int | None = key(None, "Keep the k problems with the longest mean answer "
                              "(completion tokens) among those left (null = no such cut).")
    longest_share: float | None = key(None, "Keep this share (0-1] of the problems left, "
                                      "longest mean answer first (null = no such cut).")
    limit: int | None = key(None, "At most this many problems, drawn at random with seed "
                            "(null = all).")
    seed: int = key(0, "Seed of the limit's draw: same seed, same problems.")
    s3_endpoint: str | None = key(None, "S3-compatible endpoint of s3:// paths; null = "
                                  "$AWS_ENDPOINT_URL.", perf=True)
    s3_region: str | None = key(None, "S3 region; null = $AWS_REGION.", perf=True)


def select_checks(cfg: SelectConfig) -> Checks:
    """The value checks of a :class:`SelectConfig`, ``(ok, key, problem)``."""
    return [
        (0.0 <= cfg.min_pass_rate <= cfg.max_pass_rate <= 1.0, "min_pass_rate",
         "and max_pass_rate must satisfy 0 <= min <= max <= 1"),
        (cfg.domain in ("", "math", "code", "mcq"), "domain", "must be math, code or mcq"),
        (cfg.solved_in_wave is None or cfg.solved_in_wave >= 0, "solved_in_wave", "must be >= 0"),
        (not (cfg.unsolved and cfg.solved_in_wave is not None), "unsolved",
         "and solved_in_wave exclude each other"),
        (cfg.longest is None or cfg.longest >= 1, "longest", "must be >= 1"),
        (cfg.longest_share is None or 0 < cfg.longest_share <= 1, "longest_share",
         "must be in (0, 1]"),
        (cfg.longest is None or cfg.longest_share is None, "longest",
         "and longest_share exclude each other"),
        (cfg.limit is None or cfg.limit >= 0, "limit", "must be >= 0"),
    ]


def options(overrides: Iterable[tuple[str, Any]]) -> SelectConfig:
    """The checked :class:`SelectConfig` of ``key=value`` pairs; ConfigError naming a bad key.

    >>> options([("max_pass_rate", 0.9)]).max_pass_rate
    0.9
    >>> options([("max_pass", 0.9)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    raydistill.errors.ConfigError: config key 'max_pass': Key 'max_pass' not in 'SelectConfig'...
    """
    cfg: SelectConfig = build(SelectConfig, overrides=overrides)
    raise_first(select_checks(cfg))
    return cfg


def choose(table: pa.Table, cfg: SelectConfig) -> pa.Table:
    """The rows of a ``problems/`` table that :class:`SelectConfig` keeps, in table order."""
    keep = pc.is_valid(table.column("pass_rate"))
    if cfg.domain:
        keep = pc.and_(keep, pc.equal(table.column("domain"), cfg.domain))
    rate = table.column("pass_rate")
    keep = pc.and_(keep, pc.and_(pc.greater_equal(rate, cfg.min_pass_rate),
                                 pc.less_equal(rate, cfg.max_pass_rate)))
    if cfg.unsolved:
        keep = pc.and_(keep, pc.equal(table.column("verified"), 0))
    if cfg.solved_in_wave is not None:
        keep = pc.and_(keep, pc.equal(table.column("first_solved_wave"), cfg.solved_in_wave))
    if cfg.suspect is not None:
        keep = pc.and_(keep, pc.equal(table.column("suspect_gold"), cfg.suspect))
    kept = table.filter(pc.fill_null(keep, False))
    order = list(range(kept.num_rows))
    if cfg.longest is not None or cfg.longest_share is not None:
        count = cfg.longest if cfg.longest is not None else math.ceil(
            (cfg.longest_share or 0) * kept.num_rows)
        tokens = kept.column("mean_completion_tokens").to_pylist()
        order = sorted(sorted(order, key=lambda i: -(tokens[i] or 0))[:count])
    if cfg.limit is not None and len(order) > cfg.limit:
        order = sorted(random.Random(cfg.seed).sample(order, cfg.limit))
    return kept.take(pa.array(order, pa.int64()))


def select(run: str, target: str, cfg: SelectConfig) -> dict[str, Any]:
    """Write the problems of ``run`` that ``cfg`` keeps to ``target``; return what was done.

    StorageError when the run has no ``problems/``; ConfigError when ``target``
    has no known suffix or the kept problems span several domains and ``domain``
    names none (a source has one).
    """
    if not target.endswith(SUFFIXES):
        raise ConfigError(f"OUT {target!r} must end with .parquet or .jsonl")
    out = OutputLocation(OutputConfig(uri=run, s3_endpoint=cfg.s3_endpoint,
                                      s3_region=cfg.s3_region))
    table = read_problem_table(out)
    chosen = choose(table, cfg).select(LIST_COLUMNS)
    domains = sorted(set(chosen.column("domain").to_pylist()))
    if len(domains) > 1:
        raise ConfigError(f"config key 'domain': the chosen problems span domains {domains}; "
                          "a source has one: select each with domain=NAME")
    fs, path = resolve(target, s3_endpoint(out.cfg), cfg.s3_region)
    if target.endswith(".parquet"):
        write_table_atomic(fs, path, chosen)
    else:
        lines = "".join(json.dumps(row) + "\n" for row in chosen.to_pylist())
        write_bytes_atomic(fs, path, lines.encode())
    domain = domains[0] if domains else (cfg.domain or "math")
    fmt = "parquet" if target.endswith(".parquet") else "jsonl"
    logger.info("%d of %d problems of %s written to %s", chosen.num_rows, table.num_rows,
                run, target)
    return {"run": run, "uri": target, "problems": table.num_rows, "chosen": chosen.num_rows,
            "source": f"{{name: NAME, format: {fmt}, path: '{target}', preset: raydistill, "
                      f"domain: {domain}}}"}

