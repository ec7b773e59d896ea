"""The loop: each round an ordinary run, then select, fine-tune, and sample again.

    round r:  sample    run(model_r) into rounds/<r>/         train and held-out problems, n samples
              evaluate  raydistill eval of model_r (greedy) into rounds/<r>/eval/: held-out
                        problems and eval.benchmarks; pass@k of the held-out ones in the first run
              select    the run's trl_sft export (loop.export.*) -> rounds/<r>/train_data/
                        (DPO: its trl_dpo export -> rounds/<r>/pairs_data/)
              train     model_r -> rounds/<r>/model/ = model_{r+1}  (sft, dpo, or sft then dpo)

model_0 is ``teacher.model``; round r fine-tunes model_r, or model_0 again with
``loop.train_from: start`` (ReST-EM: only the data comes from model_r). Round 0's
eval is the starting model's, before any training. After ``loop.rounds`` trainings
the last model is evaluated in one more round (sampling and evaluation only), or
earlier when greedy pass@1 has not improved for ``loop.patience`` rounds. With
``loop.imitate``, round 0 trains on that finished run's verified traces (a stronger
teacher's) instead of its own. With ``loop.problems_per_round``, each round samples
a fresh slice of the training problems (``steps.round_config``).

This module is the state machine only (:func:`advance`): which step comes next,
given what ``loop.json`` has committed. The steps themselves (Ray Data runs, Ray
Train) are :class:`~raydistill.loop.steps.RoundSteps`; unit tests drive
:func:`advance` with fakes. Each step is idempotent until committed, so a kill at
any point costs at most the step it interrupted:

- sample, evaluate: ordinary runs, which resume row by row (no sample twice);
- select: redone whole (its output directory is cleared first);
- train: a phase whose checkpoint and ``<phase>.json`` marker are written is
  adopted, not trained again, even if the kill came before ``loop.json`` was saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from raydistill.loop.config import LoopConfig
from raydistill.loop.state import LoopState

logger = logging.getLogger(__name__)


class Steps(Protocol):
    """What one round does; each returns the figures committed to its ``loop.json`` entry."""

    def sample(self, r: int, model: str) -> dict[str, Any]:
        """Sample the training and held-out problems with ``model``: the run's figures."""

    def evaluate(self, r: int, model: str) -> dict[str, Any]:
        """Held-out greedy pass@1 and sampled pass@k of ``model``."""

    def select(self, r: int) -> dict[str, Any]:
        """Write round ``r``'s training data; ``{"selected": rows, ...}``."""

    def train(self, r: int, model: str) -> dict[str, Any]:
        """Fine-tune ``model`` on round ``r``'s data: metrics and ``checkpoint`` (a model ref)."""


def best_round(state: LoopState) -> int | None:
    """The evaluated round with the highest greedy pass@1 (the earliest of equals).

    >>> best_round(LoopState({}, rounds=[{"round": 0, "eval": {"pass@1": 0.2}},
    ...                                  {"round": 1, "eval": {"pass@1": 0.2}}, {"round": 2}]))
    0
    """
    scored = [e for e in state.rounds if "eval" in e]
    if not scored:
        return None
    return int(max(scored, key=lambda e: (e["eval"]["pass@1"], -e["round"]))["round"])


def stop_reason(loop: LoopConfig, state: LoopState, r: int) -> str | None:
    """Why the loop stops after evaluating round ``r`` (None: train and go on).

    >>> stop_reason(LoopConfig(rounds=2, patience=1), LoopState({}, best_round=0), 1)
    'patience'
    >>> stop_reason(LoopConfig(rounds=2), LoopState({}, best_round=0), 2)
    'rounds'
    """
    if r >= loop.rounds:
        return "rounds"
    if loop.patience is not None and r - (state.best_round or 0) >= loop.patience:
        return "patience"
    return None


def advance(loop: LoopConfig, start_model: str, state: LoopState, steps: Steps,
            save: Callable[[LoopState], None]) -> LoopState:
    """Run the rounds from whatever ``state`` has committed; ``save`` after every step."""
    model = start_model
    r = 0
    while state.finished is None:
        entry = state.round(r)
        entry.setdefault("model", model)
        if entry["model"] != model:  # a hand-edited or corrupt loop.json
            raise ValueError(f"loop.json: round {r} sampled with {entry['model']!r}, but the "
                             f"previous round's checkpoint is {model!r}")
        if "run" not in entry:
            logger.info("round %d: sampling with %s", r, model)
            entry["run"] = steps.sample(r, model)
            save(state)
        if "eval" not in entry:
            entry["eval"] = steps.evaluate(r, model)
            logger.info("round %d: held-out pass@1 %.3f, pass@k %.3f", r,
                        entry["eval"]["pass@1"], entry["eval"]["pass@k"])
            state.best_round = best_round(state)
            state.best_model = state.rounds[state.best_round or 0]["model"]
            save(state)
        state.finished = stop_reason(loop, state, r)
        if state.finished is not None:
            save(state)
            break
        if "selected" not in entry:
            entry.update(steps.select(r))
            save(state)
        if "train" not in entry:
            base = start_model if loop.train_from == "start" else model
            trained = steps.train(r, base)
            entry["checkpoint"] = trained.pop("checkpoint")
            entry["train"] = {**trained, "from": base}
            save(state)
        model = entry["checkpoint"]
        r += 1
    return state
