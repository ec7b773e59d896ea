"""The one way raydistill starts or joins Ray, for every entry point."""

from __future__ import annotations

import os

from raydistill.config import RayConfig


def init_ray(ray_cfg: RayConfig) -> None:
    """Join the cluster named by ``ray.address``/``RAY_ADDRESS``, else start a local one."""
    import ray

    address = ray_cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        # A fresh local cluster; num_cpus may exceed the real cores so that actor
        # pools cannot reserve every CPU and starve the read tasks (a 2-core stall).
        ray.init(address="local", num_cpus=ray_cfg.num_cpus)
