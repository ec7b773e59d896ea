"""Whether a teacher's model can be loaded at all, checked before any work starts.

vLLM reports a model it cannot find only once an engine starts (tens of seconds into
a run, per replica). :func:`model_problem` answers from what is visible here: a
``builtin:`` model must be shipped, a local path must hold a ``config.json``, an
``s3://`` checkpoint must too. A hub id cannot be checked without the hub and an
HTTP teacher's model is the server's business: both pass.

>>> model_problem("builtin:tiny-teacher", "vllm") is None
True
>>> model_problem("builtin:nope", "vllm")  # doctest: +ELLIPSIS
"builtin model 'nope' is not shipped (shipped: tiny-student, tiny-teacher...)"
>>> model_problem("/no/such/model", "vllm")
'no model at /no/such/model (no config.json)'
"""

from __future__ import annotations

import os

from raydistill.teachers.base import ASSETS, BUILTIN_PREFIX


def model_problem(model: str, backend: str, endpoint: str | None = None,
                  region: str | None = None) -> str | None:
    """Why ``model`` cannot be loaded by a ``backend`` teacher, or None if it may."""
    if backend != "vllm":
        return None
    if model.startswith(BUILTIN_PREFIX):
        name = model[len(BUILTIN_PREFIX):]
        if not (ASSETS / name / "config.json").is_file():
            shipped = sorted(p.name for p in ASSETS.iterdir() if (p / "config.json").is_file())
            return f"builtin model {name!r} is not shipped (shipped: {', '.join(shipped)})"
        return None
    if model.startswith("s3://"):
        from raydistill.output.storage import StorageError, resolve

        try:
            fs, root = resolve(model, endpoint, region)
            found = fs.get_file_info(f"{root}/config.json").size is not None
        except (StorageError, OSError) as exc:
            return f"cannot read {model}: {exc}"
        return None if found else f"no model at {model} (no config.json)"
    looks_local = model.startswith(("/", "./", "../", "~")) or os.path.exists(model)
    if looks_local and not os.path.isfile(os.path.join(os.path.expanduser(model),
                                                       "config.json")):
        return f"no model at {model} (no config.json)"
    return None
