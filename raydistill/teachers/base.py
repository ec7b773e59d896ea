"""What every teacher shares: the fields it fills on a row, model names, request seeds."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_PREFIX = "builtin:"


def resolve_model(model: str) -> str:
    """Path or hub id of ``model``; ``builtin:NAME`` is a model shipped in the package.

    Resolved on the node that loads it, so it works whatever the working dir's path.

    >>> resolve_model("builtin:tiny-teacher").endswith("assets/tiny-teacher")
    True
    """
    if model.startswith(BUILTIN_PREFIX):
        return str(ASSETS / model[len(BUILTIN_PREFIX) :])
    return model


def request_seed(base: int | None, key: str) -> int | None:
    """Per-request seed: the same problem (or sample) gets the same seed however batched.

    >>> request_seed(None, "p1") is None
    True
    >>> request_seed(0, "p1") == request_seed(0, "p1") != request_seed(0, "p1/1")
    True
    """
    if base is None:
        return None
    return (base * 1_000_003 + zlib.crc32(key.encode())) % (2**31)


def start_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the teacher's output fields reset: no samples, no error, no timings."""
    return dict(row, samples=[], teacher_error=None, prompt_tokens=0,
                generated_at=None, generation_seconds=None)
