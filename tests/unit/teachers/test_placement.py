"""Replica layouts and remote args for TP/PP on GPU / NPU / CPU resources, without a cluster."""

from __future__ import annotations

import pytest

from raydistill.config import ConfigError, load, to_dict
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
