"""The one way raydistill starts or joins Ray, for every entry point."""

from __future__ import annotations

import os

import ray

from raydistill.config import RayConfig

# A local cluster declares at least this many logical CPUs (or twice the cores):
# actor pools that reserve every real CPU starve the read tasks (a 2-core stall).
MIN_LOCAL_CPUS = 8


def local_cpus(ray_cfg: RayConfig) -> int:
    """Logical CPUs of a new local cluster: ``ray.num_cpus``, else max(8, 2 x cores)."""
    return ray_cfg.num_cpus or max(MIN_LOCAL_CPUS, 2 * (os.cpu_count() or 1))


def init_ray(ray_cfg: RayConfig) -> None:
    """Join the cluster named by ``ray.address``/``RAY_ADDRESS``, else start a local one."""
    address = ray_cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        # A fresh local cluster; num_cpus may exceed the real cores so that actor
        # pools cannot reserve every CPU and starve the read tasks (a 2-core stall).
        ray.init(address="local", num_cpus=local_cpus(ray_cfg))


def configure_data(ray_cfg: RayConfig) -> None:
    """Apply the ``ray.*`` keys Ray Data reads from the driver, before a plan is built.

    Ray Data reads each Parquet directory's footers on a pool of actors started
    per read, 32 by default: ~25 CPU-seconds of worker start-up per read, which
    on a 2-core machine was a third of the cores during generation. The pool is
    sized in the driver when a read is planned, from this variable.
    """
    os.environ["RAY_DATA_PARQUET_FOOTER_NUM_ACTORS"] = str(ray_cfg.parquet_footer_readers)
