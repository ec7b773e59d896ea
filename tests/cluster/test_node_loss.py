"""A Ray worker node removed mid-run: a head and two worker nodes on this machine
(``ray.cluster_utils.Cluster``), the real driver (`python -m raydistill.run`) joined
to it, and the node running the teacher's engine taken away while it generates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.slow

PROBLEMS, SAMPLES = 64, 2


def committed(checkpoint: Path) -> int:
    fs = pafs.LocalFileSystem()
    infos = fs.get_file_info(pafs.FileSelector(str(checkpoint), allow_not_found=True))
    return sum(1 for i in infos if i.base_name.endswith(".parquet")
               and not i.base_name.endswith(".pending.parquet"))


def raylet_pid(node) -> int:
    return node.all_processes["raylet"][0].process.pid


def test_worker_node_removed_mid_run(tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 4, "include_dashboard": False})
    try:
        # Two interchangeable worker nodes; only they offer an `engine_slot`, so the
        # teacher runs on one of them and can come back only on the other.
        workers = [cluster.add_node(num_cpus=3, resources={"engine_slot": 1}) for _ in range(2)]
        cluster.wait_for_nodes()
        out = tmp_path / "out"
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        log = open(tmp_path / "driver.log", "w+")  # noqa: SIM115 - closed with the test dir
        driver = subprocess.Popen(
            [sys.executable, "-m", "raydistill.run", "conf=local", f"output.uri={out}",
             f"source.limit={PROBLEMS}", f"sampling.n={SAMPLES}", "ray.rows_per_block=4",
             "teacher.batch_size=4", "verify.batch_size=4", f"ray.address={cluster.address}",
             "teacher.resources={CPU: 0.5, engine_slot: 1}"],
            # A file, not a pipe: a driver logging into a full, unread pipe blocks.
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 900
            while committed(out / "_work" / "checkpoint") == 0:
                assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-4000:]
                assert time.monotonic() < deadline
                time.sleep(0.05)
            done_at_removal = committed(out / "_work" / "checkpoint")
            # The node whose raylet is the teacher actor's parent.
            hosting = None
            for node in workers:
                for proc in psutil.Process(raylet_pid(node)).children(recursive=True):
                    if "VLLMTeacher" in " ".join(proc.cmdline()):
                        hosting = node
            assert hosting is not None, "no teacher on a worker node"
            orphans = psutil.Process(raylet_pid(hosting)).children(recursive=True)
            cluster.remove_node(hosting, allow_graceful=False)
            driver.wait(timeout=900)
            output = (tmp_path / "driver.log").read_text()
        finally:
            if driver.poll() is None:
                driver.kill()
            for proc in locals().get("orphans", []):  # engine processes of the lost node
                try:
                    proc.kill()
                except psutil.Error:
                    pass
        key_lines = [line for line in output.splitlines()
                     if line.startswith("raydistill") or "Error" in line or "retries" in line]
        assert driver.returncode == 0, "\n".join(key_lines[-40:])
        assert done_at_removal < PROBLEMS // 4
        table = pads.dataset(out / "all", format="parquet").to_table(
            columns=["problem_id", "sample_idx", "response"])
        keys = list(zip(table["problem_id"].to_pylist(), table["sample_idx"].to_pylist(),
                        strict=True))
        assert len(keys) == len(set(keys)) == PROBLEMS * SAMPLES
        assert table.filter(pads.field("response").is_null()).num_rows == 0
    finally:
        cluster.shutdown()
