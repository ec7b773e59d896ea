"""``python -m raydistill.export URI format=NAME [key=value ...]`` (also ``raydistill export``).

Reads the finished run at ``URI`` (a local folder or ``s3://bucket/prefix``) and
writes ``URI/exports/NAME/`` (or ``uri=...``): data shards, ``dataset_info.json``
for the sharegpt formats, ``export.json`` (what was written, what was left out
and why); the run's dataset card ``URI/README.md`` gains a configuration.

Formats: sharegpt, sharegpt_pairs, openai, trl_sft, trl_dpo, verl. Keys (each
format says which it takes): style, target, system, rows, k, pick, seed,
exclude_sources, min_pass_rate, max_pass_rate, file_format, rows_per_file, mb_per_file,
name, pairs.rule, pairs.chosen, pairs.rejected, pairs.allow, uri, s3_endpoint, s3_region.
See ``raydistill/export/config.py`` for each key.

An unfinished run, an unknown format or a key the format does not take fails
with a message before any work (exit code 2).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from omegaconf import OmegaConf

from raydistill.config import RayConfig
from raydistill.export.config import ExportError
from raydistill.export.plan import export_run, open_finished_run, options
from raydistill.output.storage import StorageError
from raydistill.ray_session import init_ray

logger = logging.getLogger("raydistill")


def parse(args: list[str]) -> tuple[str, str, dict[str, Any]]:
    """``(uri, format, keys)`` from the command line; :class:`ExportError` if malformed.

    Keys may carry the run config's ``export.`` prefix (``export.uri=...``).

    >>> parse(["out/run", "format=trl_dpo", "pairs.chosen=shortest", "k=2"])
    ('out/run', 'trl_dpo', {'pairs': {'chosen': 'shortest'}, 'k': 2})
    >>> parse(["out/run", "format=openai", "export.uri=/tmp/x"])
    ('out/run', 'openai', {'uri': '/tmp/x'})
    """
    positional = [a for a in args if "=" not in a]
    if len(positional) != 1:
        raise ExportError("usage: python -m raydistill.export URI format=NAME [key=value ...]")
    fmt = ""
    given: dict[str, Any] = {}
    for arg in args:
        if "=" not in arg:
            continue
        key, _, text = arg.partition("=")
        key = key.removeprefix("export.")
        if key == "format":
            fmt = text
            continue
        parsed: Any = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={text}"]))
        value = parsed["v"]
        head, _, tail = key.partition(".")
        if tail:
            given.setdefault(head, {})[tail] = value
        else:
            given[key] = value
    if not fmt:
        raise ExportError("format=NAME is required (sharegpt, sharegpt_pairs, openai, "
                          "trl_sft, trl_dpo, verl)")
    return positional[0], fmt, given


def main(argv: list[str] | None = None) -> int:
    """Export a finished run; return the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    try:
        uri, fmt, given = parse(args)
        open_finished_run(uri, options(fmt, given))
    except (ExportError, StorageError) as exc:
        print(f"raydistill export: {exc}", file=sys.stderr)
        return 2
    init_ray(RayConfig())
    summary = export_run(uri, fmt, **given)
    print(json.dumps({k: summary[k] for k in ("format", "uri", "rows", "left_out")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
