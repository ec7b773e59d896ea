"""Where teacher replicas run: Ray resources and placement groups from the config.

``teacher.resources`` are the resources of one replica; ``teacher.replicas`` (and
``teacher.max_replicas``) how many replicas the actor pool runs (data parallel).

- One device (``tensor_parallel_size * pipeline_parallel_size == 1``): the actor
  itself asks for the resources, ``{GPU: 1}``, ``{NPU: 1}`` or ``{CPU: 0.5}``. Ray
  sets the visible-devices variable of the actor (``CUDA_VISIBLE_DEVICES``, or
  ``ASCEND_RT_VISIBLE_DEVICES`` for its ``NPU`` resource, which vllm-ascend reads).
- Several devices: each actor gets a placement group of one bundle per device
  (``{GPU: 1, CPU: c}``; vLLM refuses bundles of more than one device) created when
  the actor is, with child tasks captured, and asks for no device itself: vLLM's
  Ray executor finds the group and puts one worker on each bundle. Tensor
  parallel only: ``STRICT_PACK`` (the devices of a replica on one node, where
  NVLink/HCCS is). With pipeline parallel: ``PACK`` (one node if one fits,
  else stages span nodes).

A placement group is created for each actor start (a restarted actor gets a new
one); they are released when the job ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

ACCELERATORS = ("GPU", "NPU")
# CPUs per device bundle when the config names none: the engine process and the
# worker's own Python need one each; vLLM's workers ask Ray for no CPU.
DEFAULT_CPUS_PER_DEVICE = 1.0


@dataclass(frozen=True)
class ReplicaLayout:
    """How one replica is placed."""

    world_size: int
    # The device resource name (GPU, NPU) or None on CPU.
    accelerator: str | None
    # Resources the actor asks for itself (its share of a bundle with a group).
    actor: dict[str, float]
    # One bundle per device, empty when the replica needs no placement group.
    bundles: list[dict[str, float]] = field(default_factory=list)
    strategy: str | None = None


def accelerator_of(resources: dict[str, float]) -> str | None:
    """The device resource a replica asks for, if any.

    >>> accelerator_of({"GPU": 8}), accelerator_of({"NPU": 1, "CPU": 4}), accelerator_of({})
    ('GPU', 'NPU', None)
    """
    found = [name for name in ACCELERATORS if resources.get(name)]
    return found[0] if found else None


def replica_layout(teacher: dict[str, Any]) -> ReplicaLayout:
    """The layout of one replica of the ``teacher`` config section.

    >>> layout = replica_layout({"resources": {"GPU": 4}, "tensor_parallel_size": 4,
    ...                          "pipeline_parallel_size": 1})
    >>> len(layout.bundles), layout.bundles[0], layout.strategy, layout.actor
    (4, {'GPU': 1.0, 'CPU': 1.0}, 'STRICT_PACK', {'CPU': 1.0})
    """
    resources = {k: float(v) for k, v in teacher["resources"].items()}
    world = teacher.get("tensor_parallel_size", 1) * teacher.get("pipeline_parallel_size", 1)
    accelerator = accelerator_of(resources)
    if world == 1:
        return ReplicaLayout(1, accelerator, resources)
    if accelerator is None or resources[accelerator] != world:
        raise ValueError(
            f"a replica of tensor_parallel_size x pipeline_parallel_size = {world} devices "
            f"needs teacher.resources {{GPU: {world}}} or {{NPU: {world}}}, got {resources}"
        )
    cpus = resources.pop("CPU", DEFAULT_CPUS_PER_DEVICE * world) / world
    resources.pop(accelerator)
    bundle = {accelerator: 1.0, "CPU": cpus}
    # Other custom resources of the replica (e.g. a node label) go on the first bundle.
    bundles = [dict(bundle, **resources)] + [dict(bundle) for _ in range(world - 1)]
    strategy = "STRICT_PACK" if teacher.get("pipeline_parallel_size", 1) == 1 else "PACK"
    return ReplicaLayout(world, accelerator, {"CPU": cpus}, bundles, strategy)


def _placement_group_args(bundles: list[dict[str, float]], strategy: str) -> dict[str, Any]:
    """Ray remote args putting a new actor in a fresh placement group of its own."""
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    group = ray.util.placement_group(bundles, strategy=strategy)
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(
        group, placement_group_capture_child_tasks=True)}


def remote_args(teacher: dict[str, Any]) -> dict[str, Any]:
    """``map_batches`` keyword arguments placing each teacher actor (resources, env, group)."""
    layout = replica_layout(teacher)
    own = dict(layout.actor)
    args: dict[str, Any] = {"num_cpus": own.pop("CPU", 0.0), "num_gpus": own.pop("GPU", 0.0)}
    if own:
        args["resources"] = own
    if teacher.get("env"):
        args["runtime_env"] = {"env_vars": dict(teacher["env"])}
    if layout.bundles and layout.strategy:
        args["ray_remote_args_fn"] = partial(_placement_group_args, layout.bundles,
                                             layout.strategy)
    return args
