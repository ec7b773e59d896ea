"""``raydistill run conf=NAME [key=value ...] [-v]`` (= ``python -m raydistill.run``).

Parses, loads and checks the config and the output location, then starts (or
joins) Ray and runs the pipeline. Everything that can be wrong with the config
or the output URI fails here, before Ray starts or any generation begins.

Rerunning the same command resumes an interrupted run (only what is missing is
generated) or, for a finished one, prints its summary again. A run at
``output.uri`` made with a different result-shaping config is refused, naming
the keys; ``output.overwrite=true`` deletes it and starts a new run. A run stopped
at a spending cap resumes when rerun with a higher one; a cap below what it already
spent is refused here (:mod:`raydistill.output.caps`).
"""

from __future__ import annotations

import logging
import sys

from raydistill.cli import conf_help
from raydistill.cli.console import REFUSED, refuse, start
from raydistill.config import Config, ConfigError, load
from raydistill.output.storage import StorageError
from raydistill.ray_session import init_ray

logger = logging.getLogger("raydistill")


def check_sources(cfg: Config) -> None:
    """Fail before any work if a file source names nothing readable, naming its key."""
    from raydistill.output.config import s3_endpoint
    from raydistill.output.storage import list_files, resolve

    suffixes = {"jsonl": (".jsonl", ".json"), "parquet": (".parquet",)}
    for i, ds in enumerate(cfg.source.datasets):
        if ds.format not in suffixes:
            continue
        key = f"config key 'source.datasets[{i}].path'"
        try:
            fs, path = resolve(ds.path, s3_endpoint(cfg.output))
            found = list_files(fs, path, suffixes[ds.format])
        except (StorageError, OSError) as exc:
            raise StorageError(f"{key}: {exc}") from None
        if not found:
            raise StorageError(f"{key}: no {'/'.join(suffixes[ds.format])} files under {ds.path}")


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; return the process exit code."""
    parsed = start(argv, "\n".join([__doc__ or "", *conf_help()]))
    if parsed is None:
        return 0
    args, verbose = parsed
    from raydistill.output.location import OutputLocation
    from raydistill.output.manifest import open_run

    try:
        logger.info("checking the config")
        cfg = load(args)
        if any(ds.domain == "code" for ds in cfg.source.datasets):
            # Probe the sandbox now: a host weaker than required fails before any work.
            from raydistill.config.loader import to_dict
            from raydistill.verifiers.code import preflight

            logger.info("checking the code sandbox (bubblewrap, seccomp)")
            if problem := preflight(to_dict(cfg)["verify"]["code"]):
                raise ConfigError(f"config key 'verify.code.allow_weak_sandbox': {problem}")
        logger.info("checking the sources")
        check_sources(cfg)
        out = OutputLocation(cfg.output)
        out.check_writable()
        manifest = open_run(out, cfg)
        if manifest.waves and (manifest.published is None or manifest.capped):
            # A cap below what this run already spent (output/caps.py).
            from raydistill.config.loader import raise_first
            from raydistill.output.caps import below_spent, spent

            raise_first(below_spent(spent(manifest.waves), cfg.output))
    except REFUSED as exc:
        return refuse("run", exc)

    from raydistill.observe.summary import format_table
    from raydistill.output.checks import RunFailed
    from raydistill.pipeline import run

    if manifest.published is not None and not manifest.capped:
        logger.info("%s is a finished run with this config; its summary:", out.uri)
        print("\n" + format_table(out.read_summary()))
        return 0
    init_ray(cfg.ray, verbose)
    try:
        summary = run(cfg, out, manifest)
    except RunFailed as exc:
        print(f"raydistill run: run failed: {exc}", file=sys.stderr)
        return 1
    print("\n" + format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
