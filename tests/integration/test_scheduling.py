"""Where teacher replicas land: placement groups for TP/PP, GPU / NPU / CPU resources.

vLLM cannot run on GPUs or NPUs here, so a stand-in engine takes its place: it
does what vLLM's Ray executor does inside a replica's placement group (one
worker per device bundle) and reports where each part ran and which devices
Ray made visible. The clusters are real Ray clusters with logical resources
(`ray.cluster_utils.Cluster` for several nodes), each in its own process so
they do not collide with the session's cluster. The real engine on CPU is in
tests/integration/test_e2e.py and tests/integration/test_http_teacher.py; the layouts
alone in tests/unit/teachers/test_placement.py.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from raydistill.teachers.placement import remote_args, replica_layout
from tests.support.paths import REPO

# --- real Ray clusters with logical devices (each case in its own process) ---

class StandInEngine:
    """Does what a vLLM replica does with Ray, without vLLM: one worker per bundle."""

    def __init__(self, teacher, sampling):
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        context = ray.get_runtime_context()
        self.info = {"node": context.get_node_id(), "devices": context.get_accelerator_ids(),
                     "ascend": os.environ.get("ASCEND_RT_VISIBLE_DEVICES"), "workers": []}
        layout = replica_layout(teacher)
        group = ray.util.get_current_placement_group()
        self.info["group"] = group.id.hex() if group else None
        if layout.world_size > 1:
            device = layout.accelerator
            worker = ray.remote(num_cpus=0, resources={device: 1})(_where) if device == "NPU" \
                else ray.remote(num_cpus=0, num_gpus=1)(_where)
            self.info["workers"] = ray.get([
                worker.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
                    group, placement_group_bundle_index=i)).remote()
                for i in range(layout.world_size)])

    def __call__(self, batch):
        import pyarrow as pa

        time.sleep(0.1)  # a batch takes a moment, so every replica of the pool gets some
        return pa.table({"info": [json.dumps(self.info)] * batch.num_rows})


def teacher(resources, tp=1, pp=1, **extra):
    return {"resources": resources, "tensor_parallel_size": tp, "pipeline_parallel_size": pp,
            **extra}


def _where():
    import ray

    context = ray.get_runtime_context()
    return {"node": context.get_node_id(), "devices": context.get_accelerator_ids(),
            "ascend": os.environ.get("ASCEND_RT_VISIBLE_DEVICES")}


# One cluster for every case (starting one costs ~30 s on a loaded 2-core box):
# node A with 4 GPUs and 8 NPUs, node B with 4 GPUs, CPUs to spare on both (each
# device bundle reserves one CPU, and the read tasks need some).
NODES = [{"num_cpus": 16, "num_gpus": 4, "resources": {"NPU": 8}},
         {"num_cpus": 16, "num_gpus": 4}]
CASES = {
    # Two TP=4 replicas: each on one node, so one per node.
    "tp": {"resources": {"GPU": 4}, "tp": 4, "pp": 1, "replicas": 2},
    # One PP=8 replica: 8 GPUs exist only across both nodes.
    "pp": {"resources": {"GPU": 8}, "tp": 1, "pp": 8, "replicas": 1},
    # Two TP=4 replicas on Ascend: each worker sees its own NPU.
    "npu_tp": {"resources": {"NPU": 4}, "tp": 4, "pp": 1, "replicas": 2},
    # Three data-parallel replicas of one NPU each: the actor holds its device.
    "npu_dp": {"resources": {"NPU": 1, "CPU": 0.5}, "tp": 1, "pp": 1, "replicas": 3},
}


def probe():
    """Start the cluster, run a teacher stage of stand-in engines per case, report replicas."""
    import ray
    import ray.data
    from ray._raylet import PlacementGroupID
    from ray.cluster_utils import Cluster
    from ray.data import ActorPoolStrategy
    from ray.util.placement_group import PlacementGroup

    cluster = Cluster()
    for node in NODES:
        cluster.add_node(**node)
    ray.init(address=cluster.address)
    # Rows flow only once every replica of a pool is up: otherwise, on a loaded
    # machine, the replicas that start first take every row and a late one is never seen.
    ray.data.DataContext.get_current().wait_for_min_actors_s = 300
    found = {}
    try:
        for name, case in CASES.items():
            cfg = teacher(case["resources"], case["tp"], case["pp"])
            ds = ray.data.range(case["replicas"] * 8, override_num_blocks=case["replicas"] * 8)
            ds = ds.map_batches(
                StandInEngine, fn_constructor_kwargs={"teacher": cfg, "sampling": {}},
                batch_size=1, batch_format="pyarrow",
                compute=ActorPoolStrategy(min_size=case["replicas"], max_size=case["replicas"]),
                **remote_args(cfg))
            found[name] = [json.loads(info) for info in sorted({r["info"] for r in ds.take_all()})]
            # The groups live as long as the driver (a job); free them for the next case.
            for group_id, group in ray.util.placement_group_table().items():
                if group["state"] != "REMOVED":
                    ray.util.remove_placement_group(
                        PlacementGroup(PlacementGroupID(bytes.fromhex(group_id))))
            deadline = time.monotonic() + 120
            while ray.available_resources().get("GPU", 0) < 8 or \
                    ray.available_resources().get("NPU", 0) < 8:
                assert time.monotonic() < deadline, ray.available_resources()
                time.sleep(0.5)
        return found
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def placements():
    result = subprocess.run([sys.executable, "-m", "tests.integration.test_scheduling"],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    for name, case in CASES.items():
        assert len(found[name]) == case["replicas"], name
    return found


@pytest.mark.slow
def test_tensor_parallel_replicas_each_sit_on_one_node(placements):
    replicas = placements["tp"]
    for replica in replicas:
        assert replica["group"] and replica["devices"].get("GPU", []) == []
        assert {w["node"] for w in replica["workers"]} == {replica["node"]}
        assert sorted(d for w in replica["workers"] for d in w["devices"]["GPU"]) == [
            "0", "1", "2", "3"]
    assert len({r["node"] for r in replicas}) == 2


@pytest.mark.slow
def test_pipeline_parallel_replica_spans_nodes(placements):
    (replica,) = placements["pp"]
    nodes = Counter(w["node"] for w in replica["workers"])
    assert sorted(nodes.values()) == [4, 4]


@pytest.mark.slow
def test_npu_replicas_get_their_own_ascend_devices(placements):
    seen = [w["ascend"] for r in placements["npu_tp"] for w in r["workers"]]
    assert sorted(seen) == [str(i) for i in range(8)]
    dp = placements["npu_dp"]
    assert all(r["group"] is None and len(r["ascend"].split(",")) == 1 for r in dp)
    assert len({r["ascend"] for r in dp}) == 3


if __name__ == "__main__":
    print(json.dumps(probe()))
