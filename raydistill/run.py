"""Entry point: ``python -m raydistill.run conf=NAME [key=value ...]``.

Parses, loads and checks the config and the output location, then starts (or
joins) Ray and runs the pipeline. Everything that can be wrong with the config
or the output URI fails here, before Ray starts or any generation begins.
"""

from __future__ import annotations

import logging
import os
import sys

from raydistill.config import Config, ConfigError, load
from raydistill.storage import StorageError

logger = logging.getLogger("raydistill")


def init_ray(cfg: Config) -> None:
    """Join the cluster named by ``ray.address``/``RAY_ADDRESS``, else start a local one."""
    import ray

    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        # A fresh local cluster; num_cpus may exceed the real cores so that actor
        # pools cannot reserve every CPU and starve the read tasks (a 2-core stall).
        ray.init(address="local", num_cpus=cfg.ray.num_cpus)


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; return the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    from raydistill.sinks import OutputLocation

    try:
        cfg = load(args)
        out = OutputLocation(cfg.output)
        out.check_writable()
        if out.has_data():
            if not cfg.output.overwrite:
                raise StorageError(
                    f"{cfg.output.uri} already holds a run; pass output.overwrite=true "
                    "to replace it, or choose another output.uri"
                )
            out.clear()
    except (ConfigError, StorageError) as exc:
        print(f"raydistill: {exc}", file=sys.stderr)
        return 2

    from raydistill.pipeline import run
    from raydistill.summary import format_table

    init_ray(cfg)
    summary = run(cfg, out)
    print("\n" + format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
