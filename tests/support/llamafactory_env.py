"""A virtual environment with LLaMA-Factory, for the tests that train on our sharegpt exports.

LLaMA-Factory 0.9.5 pins ``datasets<=4.0``, ``transformers<=5.6``, ``trl<=0.24``,
``peft<=0.18.1`` and ``accelerate<=1.11`` (and checks them at import), which conflict with
raydistill's, so it lives in ``<repo>/.venv-llamafactory/`` over our ``.venv``
(:mod:`tests.support.consumer_env`). From scratch on the 2-core machine (2026-12-02,
shared, load average ~10): 101 s with an empty pip cache (as on a fresh CI
machine: ~50 MB downloaded), 25 s with pip's cache warm.

LLaMA-Factory itself goes in with ``--no-deps``: its full requirements pull
gradio, torchvision and a torchaudio built for another torch.
``llamafactory.data`` imports ``torchaudio`` at the top (for audio columns
only), so torchaudio is installed without its compiled extensions: they are
built for torch 2.11 and do not load into our torch, and torchaudio imports
fine without them (it reports them unavailable).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.consumer_env import Recipe, consumer_python

LLAMAFACTORY = "llamafactory==0.9.5"


def _drop_torchaudio_ops(site: Path) -> None:
    for lib in (site / "torchaudio" / "lib").glob("*.so"):
        lib.unlink()


RECIPE = Recipe(
    name="llamafactory",
    # What LLaMA-Factory 0.9.5's check_dependencies() requires that our .venv has in
    # other versions (llamafactory/extras/misc.py): installed with their own deps.
    # accelerate: its requirement is <=1.11.0 (transformers 5.6 checks <=1.15); ours floats.
    pinned=["datasets==4.0.0", "transformers==5.6.0", "peft==0.18.1", "trl==0.24.0",
            "accelerate==1.11.0"],
    # Installed without deps; torchaudio 2.11 is the newest on PyPI (for torch 2.11).
    no_deps=[LLAMAFACTORY, "torchaudio==2.11.0"],
    check="import llamafactory.data, llamafactory.hparams",
    after=_drop_torchaudio_ops,
)


def llamafactory_python() -> Path:
    """The interpreter of the LLaMA-Factory venv, built first if missing or stale."""
    return consumer_python(RECIPE)
