"""Stage records against the installed Ray Data's map_batches (no Ray started)."""

import inspect
import warnings

import pyarrow as pa
import pytest
import ray.data
import ray.data.grouped_data
from ray.data.dataset import _warn_on_ray_remote_args

from raydistill import stages
from raydistill.stages import RETRY_ARGS, Stage, map_call

MAP_BATCHES = set(inspect.signature(ray.data.Dataset.map_batches).parameters)


class Actor:
    def __call__(self, batch):
        return batch


def table_fn(batch):
    return batch


@pytest.mark.parametrize("stage", [
    Stage("task", table_fn, num_cpus=0.5, fn_kwargs={"a": 1}, batch_size=8,
          remote_args={"resources": {"NPU": 1.0}, "runtime_env": {"env_vars": {"A": "b"}}}),
    Stage("actor", Actor, actors=(2, 2), batches_in_flight=4, num_cpus=0.25,
          constructor_kwargs={"x": 1}, remote_args={"num_gpus": 1.0}),
])
def test_every_argument_but_the_retries_is_a_named_map_batches_parameter(stage):
    kwargs = stage.map_batches_kwargs(max_task_retries=3)
    assert set(kwargs) - MAP_BATCHES == ({"max_task_retries"} if stage.is_actor
                                         else {"max_retries"})
    assert RETRY_ARGS.isdisjoint(MAP_BATCHES)  # still no named retries in this Ray


def fake_map(fn, **kwargs):
    """What map_batches does with the arguments it has no named parameter for."""
    _warn_on_ray_remote_args({k: v for k, v in kwargs.items() if k not in MAP_BATCHES})
    return fn


def test_only_the_retries_deprecation_is_silenced():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert map_call(fake_map, table_fn, {"num_cpus": 1, "max_retries": 3}) is table_fn
        assert map_call(fake_map, table_fn, {"num_cpus": 1}) is table_fn
    with pytest.warns(DeprecationWarning, match="ray_remote_args"):
        map_call(fake_map, table_fn, {"max_retries": 3, "scheduling_strategy": "SPREAD"})


def test_apply_chains_each_stage_with_its_arguments():
    calls = []

    class Dataset:
        def map_batches(self, fn, **kwargs):
            calls.append((fn, kwargs))
            return self

    schema = pa.schema([("problem", pa.string())])
    stages.apply(Dataset(), [Stage("t", table_fn, needs=("problem",))], schema, 5)
    assert calls == [(table_fn, {"batch_format": "pyarrow", "max_retries": 5})]


def test_group_and_partition_stages():
    calls = []

    class Dataset:
        def repartition(self, *args, **kwargs):
            calls.append(("repartition", args, kwargs))
            return self

        def groupby(self, key):
            dataset = self

            class Grouped:
                def map_groups(self, fn, **kwargs):
                    calls.append(("map_groups", key, fn, kwargs))
                    return dataset
            return Grouped()

        def map_batches(self, fn, **kwargs):
            calls.append(("map_batches", fn, kwargs))
            return self

    schema = pa.schema([("problem_id", pa.string()), ("bucket", pa.int64())])
    plan = [Stage("blocks", table_fn, rows_per_block=16),
            Stage("pairs", table_fn, group_by="problem_id", num_cpus=0.5),
            Stage("edges", table_fn, partition_by=("bucket",), partitions=7)]
    stages.apply(Dataset(), plan, schema, 5)
    assert calls == [
        ("repartition", (), {"target_num_rows_per_block": 16}),
        ("map_batches", table_fn, {"batch_format": "pyarrow", "max_retries": 5}),
        ("map_groups", "problem_id", table_fn,
         {"batch_format": "pyarrow", "num_cpus": 0.5, "max_retries": 5}),
        ("repartition", (7,), {"keys": ["bucket"]}),
        ("map_batches", table_fn, {"batch_format": "pyarrow", "max_retries": 5})]
    # A group stage's arguments are map_groups' own (the retries aside).
    named = set(inspect.signature(ray.data.grouped_data.GroupedData.map_groups).parameters)
    assert set(plan[1].map_batches_kwargs(3)) - named == {"max_retries"}
    with pytest.raises(stages.PlanError, match="needs columns"):
        stages.check_plan([Stage("e", table_fn, partition_by=("nope",), partitions=2)], schema)
    with pytest.raises(stages.PlanError, match="group_by takes no batch_size"):
        Stage("g", table_fn, group_by="problem_id", batch_size=8)
    with pytest.raises(stages.PlanError, match="go together"):
        Stage("p", table_fn, partition_by=("bucket",))
