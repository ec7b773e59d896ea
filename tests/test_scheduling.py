"""Where teacher replicas land: placement groups for TP/PP, GPU / NPU / CPU resources.

vLLM cannot run on GPUs or NPUs here, so a stand-in engine takes its place: it
does what vLLM's Ray executor does inside a replica's placement group (one
worker per device bundle) and reports where each part ran and which devices
Ray made visible. The clusters are real Ray clusters with logical resources
(`ray.cluster_utils.Cluster` for several nodes), each in its own process so
they do not collide with the session's cluster. The real engine on CPU is in
tests/test_e2e.py and tests/test_http_teacher_pipeline.py.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from raydistill.config import ConfigError, load
from raydistill.config.loader import to_dict
from raydistill.teachers.placement import remote_args, replica_layout
from raydistill.teachers.vllm_engine import engine_args


def teacher(resources, tp=1, pp=1, **extra):
    return {"resources": resources, "tensor_parallel_size": tp, "pipeline_parallel_size": pp,
            **extra}


@pytest.mark.parametrize("resources, tp, pp, bundles, strategy, actor", [
    ({"CPU": 0.5}, 1, 1, [], None, {"CPU": 0.5}),
    ({"GPU": 1, "CPU": 2}, 1, 1, [], None, {"GPU": 1.0, "CPU": 2.0}),
    ({"NPU": 1}, 1, 1, [], None, {"NPU": 1.0}),
    ({"GPU": 8}, 8, 1, [{"GPU": 1.0, "CPU": 1.0}] * 8, "STRICT_PACK", {"CPU": 1.0}),
    ({"GPU": 8, "CPU": 16}, 4, 2, [{"GPU": 1.0, "CPU": 2.0}] * 8, "PACK", {"CPU": 2.0}),
    ({"NPU": 4}, 4, 1, [{"NPU": 1.0, "CPU": 1.0}] * 4, "STRICT_PACK", {"CPU": 1.0}),
])
def test_replica_layout(resources, tp, pp, bundles, strategy, actor):
    layout = replica_layout(teacher(resources, tp, pp))
    assert (layout.bundles, layout.strategy, layout.actor) == (bundles, strategy, actor)


@pytest.mark.parametrize("resources, tp", [({"CPU": 4}, 2), ({"GPU": 4}, 8), ({"GPU": 8}, 4)])
def test_a_parallel_replica_needs_one_device_per_worker(resources, tp):
    with pytest.raises(ValueError, match="needs teacher.resources"):
        replica_layout(teacher(resources, tp))


def test_bad_parallel_layout_fails_in_config_naming_the_key():
    with pytest.raises(ConfigError, match="teacher.resources"):
        load(["conf=local", "teacher.tensor_parallel_size=2"])


def test_remote_args():
    one = remote_args(teacher({"NPU": 1, "CPU": 2}, env={"X": "1"}))
    assert one == {"num_cpus": 2.0, "num_gpus": 0.0, "resources": {"NPU": 1.0},
                   "runtime_env": {"env_vars": {"X": "1"}}}
    group = remote_args(teacher({"GPU": 4}, tp=4))
    assert (group["num_cpus"], group["num_gpus"]) == (1.0, 0.0)
    assert group["ray_remote_args_fn"].args == ([{"GPU": 1.0, "CPU": 1.0}] * 4, "STRICT_PACK")


def test_engine_settings_pass_through():
    cfg = load(["conf=local", "teacher.quantization=awq", "teacher.max_num_seqs=7",
                "teacher.gpu_memory_utilization=0.5",
                "teacher.engine_kwargs={max_num_batched_tokens: 4096}"])

    args = engine_args(to_dict(cfg)["teacher"])
    assert args["model"].endswith("assets/tiny-teacher")
    assert (args["quantization"], args["max_num_seqs"], args["gpu_memory_utilization"]) == (
        "awq", 7, 0.5)
    assert (args["dtype"], args["max_model_len"], args["seed"]) == ("float32", 512, 0)
    assert args["enable_prefix_caching"] is True
    assert args["max_num_batched_tokens"] == 4096
    assert "distributed_executor_backend" not in args  # one device: no extra processes


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
    result = subprocess.run([sys.executable, "-m", "tests.test_scheduling"],
                            capture_output=True, text=True, timeout=600,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
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
