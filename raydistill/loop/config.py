"""The ``loop`` section: self-bootstrapping rounds (sample -> verify -> select -> train)."""

from __future__ import annotations

from dataclasses import dataclass

from raydistill.export.config import ExportConfig, export_checks
from raydistill.keys import key
from raydistill.sources.config import DatasetConfig

TRAIN_FROM = ("previous", "start")
# Keys of this section before its training data became the exports' (loop.export.*):
# a conf that still uses one is refused, naming its new key.
RENAMED_KEYS = {"loop.max_per_problem": "loop.export.k",
                "loop.pass_rate_min": "loop.export.min_pass_rate",
                "loop.pass_rate_max": "loop.export.max_pass_rate",
                "loop.pairs": "loop.export.pairs"}


def renamed_key(key: str) -> str | None:
    """The key that replaced ``key`` (None: ``key`` was not renamed).

    >>> renamed_key("loop.pairs.rule"), renamed_key("loop.rounds")
    ('loop.export.pairs.rule', None)
    """
    for old, new in RENAMED_KEYS.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old):]
    return None


def training_export() -> ExportConfig:
    """The default ``loop.export``: at most 4 samples per problem, each response as generated."""
    return ExportConfig(k=4, target="response")


@dataclass
class LoopConfig:
    """Rounds of ``raydistill.loop``; each round is an ordinary run (see ``rounds.py``)."""

    rounds: int = key(3, "Training rounds; the model of the last one is evaluated too "
                      "(rounds + 1 evaluations).")
    patience: int | None = key(None, "Stop when greedy pass@1 has not improved for this many "
                               "rounds (null = never).")
    heldout: str = key("heldout", "The data set of source.datasets (by name) held out for "
                       "evaluation: sampled each round for pass@k, decoded greedily for pass@1, "
                       "never trained on.")
    export: ExportConfig = key(factory=training_export, doc="The round's training data: the "
                               "trl_sft export of its run (and its trl_dpo export for "
                               "train.method dpo or sft_dpo) with these export keys (k, pick, "
                               "min_pass_rate, max_pass_rate, rows, style, target, system, seed, "
                               "exclude_sources, pairs.*); the held-out data set is always "
                               "left out.")
    imitate: str = key("", "Imitate first: round 0 trains on the verified traces of this "
                       "finished run (a stronger teacher's output URI); \"\" = explore only.")
    reseed: bool = key(True, "Add r to sampling.seed in round r, so rounds draw fresh samples.")
    train_from: str = key("previous", "previous: fine-tune the round's own sampler (rounds "
                          "compound); start: teacher.model every round (ReST-EM, STaR).")
    problems_per_round: int | None = key(None, "Fresh problems each round: round r samples "
                                         "problems r*N .. (r+1)*N - 1 of every training data "
                                         "set (null: the same problems every round).")


def loop_checks(lp: LoopConfig, datasets: list[DatasetConfig]) -> list[tuple[bool, str, str]]:
    """Checks of the ``loop`` section: ``(ok, key, problem)``."""
    dataset_names = [d.name for d in datasets]
    per_round = lp.problems_per_round
    # Every round samples (the last one too, for pass@k): rounds + 1 slices.
    needed = (lp.rounds + 1) * per_round if per_round else 0
    short = [d.name for d in datasets
             if per_round and d.name != lp.heldout and d.limit is not None and d.limit < needed]
    return [
        (lp.rounds >= 0, "loop.rounds", "must be >= 0"),
        (lp.patience is None or lp.patience >= 1, "loop.patience", "must be >= 1 or null"),
        *((ok, f"loop.export.{key}", why) for ok, key, why in export_checks(lp.export)),
        (not lp.export.formats and lp.export.uri is None and lp.export.name is None
         and lp.export.file_format in (None, "parquet") and lp.export.s3_endpoint is None
         and lp.export.s3_region is None, "loop.export",
         "sets what the loop decides itself: its formats (trl_sft, trl_dpo), where they go "
         "(rounds/<r>/), Parquet, and the output's S3 endpoint; leave formats, uri, name, "
         "file_format, s3_endpoint and s3_region unset"),
        (lp.heldout in dataset_names, "loop.heldout",
         f"must name one of source.datasets ({', '.join(dataset_names)})"),
        (len(dataset_names) >= 2, "source.datasets",
         "needs a training data set besides the held-out one"),
        (lp.train_from in TRAIN_FROM, "loop.train_from", f"must be one of {TRAIN_FROM}"),
        (per_round is None or per_round >= 1, "loop.problems_per_round", "must be >= 1 or null"),
        (not short, "loop.problems_per_round",
         f"needs (loop.rounds + 1) x {per_round} = {needed} problems of each training data set; "
         f"the limit of {', '.join(short)} is smaller"),
    ]
