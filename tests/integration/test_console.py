"""The console of a command on a fresh local Ray: no Ray line a user cannot act on, and
a real failure still shows its cause.

A separate process, as `make demo` is: `init_ray` starts its own local cluster
(Ray's token-authentication notice comes at that start) and Ray Data actor pools
run in it (Ray's `core_worker` line about constructor arguments comes with the
first pool; ray-project/ray#57733). The demo itself runs the same `init_ray` and
pools; `tests/integration/test_job_submit.py` checks the demo's own console through `ray job
submit`.
"""

import os
import subprocess
import sys

import pytest

from tests.support.console import unactionable

MARK = "GOOD PLAN FINISHED"
SCRIPT = f"""
import sys

import ray.data

from raydistill.cli.console import setup_console
from raydistill.ray_config import RayConfig
from raydistill.ray_session import init_ray


class Double:
    def __call__(self, batch):
        return {{"x": batch["id"] * 2}}


class Poisoned:
    def __call__(self, batch):
        raise ValueError("poisoned batch of " + str(len(batch["id"])) + " rows")


setup_console()
init_ray(RayConfig(num_cpus=2))
assert ray.data.range(4).map_batches(Double, concurrency=1).sum("x") == 12
print("{MARK}", file=sys.stderr, flush=True)
ray.data.range(4).map_batches(Poisoned, concurrency=1).materialize()
"""




@pytest.mark.slow
def test_a_fresh_local_cluster_prints_no_unactionable_line_and_a_failure_its_cause(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    console = (done.stdout + done.stderr).splitlines()
    assert MARK in console, done.stderr[-3000:]
    good = console[:console.index(MARK)]
    assert not unactionable(good), "\n".join(good)
    # The failing plan: exit code 1 and the cause, raised again in the driver.
    assert done.returncode == 1
    assert "ValueError: poisoned batch of" in done.stderr, done.stderr[-3000:]
