"""``raydistill select RUN OUT [key=value ...] [-v]``: a problem list from a run's ``problems/``.

Reads ``RUN/problems/`` (a finished run, local or ``s3://``; one row per problem,
docs/output.md) and writes the problems it keeps to ``OUT`` (``.parquet`` or
``.jsonl``, local or ``s3://``), a source the next run reads with the
``raydistill`` preset (the line to paste is printed). Keys: domain,
min_pass_rate, max_pass_rate, unsolved, solved_in_wave, suspect, longest,
longest_share, limit, seed, s3_endpoint, s3_region (docs/config-reference.md,
section ``select``). Examples::

    raydistill select out/run hard.parquet unsolved=true          # for a stronger teacher
    raydistill select out/run rl.jsonl min_pass_rate=0.1 max_pass_rate=0.9 limit=1000
    raydistill select out/run long.parquet longest_share=0.25 suspect=false

A bad key, a run without ``problems/`` or an OUT without a known suffix fails with
one line before anything is written (exit code 2). No Ray: the table is read on
this machine.
"""

from __future__ import annotations

import json
import sys

from raydistill.cli.console import REFUSED, refuse, start
from raydistill.config.loader import parse_overrides
from raydistill.errors import ConfigError
from raydistill.sources.select import options, select


def main(argv: list[str] | None = None) -> int:
    """Select problems from a run; return the process exit code."""
    parsed = start(argv, __doc__)
    if parsed is None:
        return 0
    args, _ = parsed
    positional = [a for a in args if "=" not in a]
    try:
        if len(positional) != 2:
            raise ConfigError("usage: raydistill select RUN OUT [key=value ...]")
        cfg = options(parse_overrides(a for a in args if "=" in a))
        done = select(positional[0], positional[1], cfg)
    except REFUSED as exc:
        return refuse("select", exc)
    print(json.dumps(done, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
