"""The ``loop`` section: self-bootstrapping rounds (sample -> verify -> select -> train)."""

from __future__ import annotations

from dataclasses import dataclass

from raydistill.export.config import PAIR_ALLOW, PAIR_PICKS, PAIR_RULES, PairsConfig
from raydistill.keys import key
from raydistill.sources.config import DatasetConfig

TRAIN_FROM = ("previous", "start")


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
    max_per_problem: int = key(4, "At most this many verified samples of one problem go into "
                               "the training data.")
    pass_rate_min: float = key(0.0, "Only problems whose pass rate (verified / samples) is at "
                               "least this are trained on.")
    pass_rate_max: float = key(1.0, "... and at most this (0.75 drops problems the model "
                               "already solves).")
    imitate: str = key("", "Imitate first: round 0 trains on the verified traces of this "
                       "finished run (a stronger teacher's output URI); \"\" = explore only.")
    reseed: bool = key(True, "Add r to sampling.seed in round r, so rounds draw fresh samples.")
    train_from: str = key("previous", "previous: fine-tune the round's own sampler (rounds "
                          "compound); start: teacher.model every round (ReST-EM, STaR).")
    problems_per_round: int | None = key(None, "Fresh problems each round: round r samples "
                                         "problems r*N .. (r+1)*N - 1 of every training data "
                                         "set (null: the same problems every round).")
    pairs: PairsConfig = key(factory=PairsConfig, doc="DPO pairs (train.method dpo or sft_dpo), "
                             "one per problem, by the exports' rules (export/pairs.py).")


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
        (lp.max_per_problem >= 1, "loop.max_per_problem", "must be >= 1"),
        (0 <= lp.pass_rate_min <= lp.pass_rate_max <= 1, "loop.pass_rate_min",
         "and loop.pass_rate_max must satisfy 0 <= min <= max <= 1"),
        (lp.heldout in dataset_names, "loop.heldout",
         f"must name one of source.datasets ({', '.join(dataset_names)})"),
        (lp.pairs.rule in PAIR_RULES, "loop.pairs.rule", f"must be one of {PAIR_RULES}"),
        (lp.pairs.chosen in PAIR_PICKS and lp.pairs.rejected in PAIR_PICKS,
         "loop.pairs.chosen", f"and loop.pairs.rejected must be among {PAIR_PICKS}"),
        (all(a in PAIR_ALLOW for a in lp.pairs.allow), "loop.pairs.allow",
         f"must be among {PAIR_ALLOW}"),
        (len(dataset_names) >= 2, "source.datasets",
         "needs a training data set besides the held-out one"),
        (lp.train_from in TRAIN_FROM, "loop.train_from", f"must be one of {TRAIN_FROM}"),
        (per_round is None or per_round >= 1, "loop.problems_per_round", "must be >= 1 or null"),
        (not short, "loop.problems_per_round",
         f"needs (loop.rounds + 1) x {per_round} = {needed} problems of each training data set; "
         f"the limit of {', '.join(short)} is smaller"),
    ]
