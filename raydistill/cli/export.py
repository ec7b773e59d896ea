"""``raydistill export URI format=NAME [key=value ...] [-v]`` (= ``python -m raydistill.export``).

Reads the finished run at ``URI`` (a local folder or ``s3://bucket/prefix``) and
writes ``URI/exports/NAME/`` (or ``uri=...``): data shards, ``dataset_info.json``
for the sharegpt formats, ``export.json`` (what was written, what was left out
and why); the run's dataset card ``URI/README.md`` gains a configuration.

Formats: sharegpt, sharegpt_pairs, openai, trl_sft, trl_dpo, verl. Keys (each
format says which it takes): style, target, system, rows, k, pick, seed,
exclude_sources, min_pass_rate, max_pass_rate, file_format, rows_per_file, mb_per_file,
name, pairs.rule, pairs.chosen, pairs.rejected, pairs.allow, data_sources.{math,code,mcq} (verl),
llamafactory.{model,template} (sharegpt formats), uri, s3_endpoint, s3_region.
See docs/config-reference.md for each key and docs/exports.md for verl and
LLaMA-Factory. ``ray.*`` keys (``address``, ``num_cpus``, ...) are the run's ``ray``
section; ``-v`` shows Ray's own logs.

An unfinished run, an unknown format or a key the format does not take fails
with a message before any work (exit code 2).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from raydistill.cli.console import REFUSED, ray_section, refuse, split_ray_keys, start
from raydistill.config.loader import nested, parse_overrides
from raydistill.export.config import ExportError
from raydistill.export.plan import export_run, open_finished_run, options
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
    flat = {key.removeprefix("export."): value
            for key, value in parse_overrides(a for a in args if "=" in a)}
    fmt = str(flat.pop("format", "") or "")
    given = nested(flat)
    if not fmt:
        raise ExportError("format=NAME is required (sharegpt, sharegpt_pairs, openai, "
                          "trl_sft, trl_dpo, verl)")
    return positional[0], fmt, given


def main(argv: list[str] | None = None) -> int:
    """Export a finished run; return the process exit code."""
    parsed = start(argv, __doc__)
    if parsed is None:
        return 0
    args, verbose = parsed
    try:
        args, ray_keys = split_ray_keys(args)
        ray_cfg = ray_section(ray_keys)
        uri, fmt, given = parse(args)
        open_finished_run(uri, options(fmt, given))
    except REFUSED as exc:
        return refuse("export", exc)
    init_ray(ray_cfg, verbose)
    summary = export_run(uri, fmt, **given)
    print(json.dumps({k: summary[k] for k in ("format", "uri", "rows", "left_out")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
