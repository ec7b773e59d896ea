"""A virtual environment with verl, for the test that loads and scores our verl export with it.

verl 0.9.1 pins ``transformers>=5.5.3,<5.11,!=5.6.0`` (ours is 5.19) and, through
hydra, ``omegaconf<2.4``; so it lives in ``<repo>/.venv-verl/`` over our ``.venv``
(:mod:`tests.support.consumer_env`): no vllm, no flash-attn, no torch download. ~45 s
from scratch on the 2-core machine (2026-12-07, loaded by parallel work).
raydistill imports there too (its reward function runs inside verl): it works
with omegaconf 2.3 at run time.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.consumer_env import Recipe, consumer_python

RECIPE = Recipe(
    name="verl",
    pinned=["verl==0.9.1", "transformers>=5.5.3,<5.11,!=5.6.0"],
    check="import verl.trainer.ppo.utils, verl.utils.reward_score, verl.utils.dataset.rl_dataset",
)


def verl_python() -> Path:
    """The interpreter of the verl venv, built first if missing or stale."""
    return consumer_python(RECIPE)
