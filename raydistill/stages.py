"""One record for every stage of every plan, and the one function that runs a plan.

A plan (generate, publish, verify-only, export and so the loop's training data, the
problem filters) is a list of :class:`Stage` applied in order to a Ray Data dataset
by :func:`apply`.
Each stage says what it runs (a function or a stateful actor class), with which
arguments, on what compute, which input columns it needs and what schema it
returns (``output``, a :mod:`raydistill.records` schema) or the columns it adds to
whatever rows it is given (``adds``, for plans over a user's own columns such as
the verify-only command); :func:`check_plan` checks the chain before Ray runs
anything, so a stage that reads a column its predecessor does not give fails
when the plan is built, not hours into a run.

>>> import pyarrow as pa
>>> a = pa.schema([("problem_id", pa.string()), ("problem", pa.string())])
>>> b = pa.schema([("problem_id", pa.string()), ("messages", pa.string())])
>>> plan = [Stage("prompts", fn=len, needs=("problem",), output=b),
...         Stage("teacher", fn=len, needs=("messages",), output=a)]
>>> check_plan(plan, a).names
['problem_id', 'problem']
>>> check_plan(list(reversed(plan)), a)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
raydistill.stages.PlanError: stage 'teacher' needs columns ['messages'] ...
>>> flags = pa.schema([("verified", pa.bool_())])
>>> check_plan([Stage("verify", fn=len, adds=flags)], a).names
['problem_id', 'problem', 'verified']

A stage that needs all rows of a key together says so: ``group_by`` calls its
function once per value (Ray Data's ``groupby().map_groups()``), ``partition_by``
hash-partitions the rows first so that equal keys share a call (``repartition(keys=)``);
the key is checked like a needed column.

>>> check_plan([Stage("pairs", fn=len, group_by="problem_id")], a).names
['problem_id', 'problem']
>>> check_plan([Stage("pairs", fn=len, group_by="problem")], b)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
raydistill.stages.PlanError: stage 'pairs' needs columns ['problem'] ...
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from ray.data import ActorPoolStrategy, Dataset

# Ray 2.60 deprecates map_batches' **ray_remote_args for its named parameters
# (num_cpus, num_gpus, memory, resources, runtime_env, label_selector, ...: every
# one a stage uses is passed by name), but has none for retries
# (ray-project/ray#65227 lists the named set). A bounded ``ray.max_task_retries``
# can only go the deprecated way: :func:`map_call` silences the warning for these
# two keys alone, and a stage passing any other unnamed key still gets it.
RETRY_ARGS = frozenset({"max_task_retries", "max_retries"})
NAMED_ARGS = frozenset(inspect.signature(Dataset.map_batches).parameters) - {"self", "fn"}


class PlanError(ValueError):
    """A plan whose stages do not fit together."""


@dataclass(frozen=True)
class Stage:
    """One ``map_batches`` (or ``map_groups``) step of a plan.

    ``fn`` is a function ``(pa.Table, **fn_kwargs) -> pa.Table`` run as Ray
    tasks, or a class (constructed with ``constructor_kwargs``, called per batch)
    run on a fixed pool of ``actors`` actors. ``needs`` are the input columns it
    reads; ``output`` the exact schema of the tables it returns, or ``adds`` the
    columns it appends to (or replaces in) its input's; neither: the input's
    schema, for filters and stages that only change values. ``rows_per_block``,
    ``partition_by`` and ``group_by`` say how the rows reach ``fn`` (see :func:`apply`).
    """

    name: str
    fn: Callable[..., Any]
    needs: tuple[str, ...] = ()
    output: pa.Schema | None = None
    adds: pa.Schema | None = None
    fn_kwargs: Mapping[str, Any] = field(default_factory=dict)
    constructor_kwargs: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    # Actor pool size for a class: (min, max); equal for a fixed pool.
    actors: tuple[int, int] | None = None
    # Batches queued per actor (Ray Data's max_tasks_in_flight_per_actor).
    batches_in_flight: int | None = None
    num_cpus: float | None = None
    # Anything else Ray Data's map_batches takes per stage: resources, runtime
    # env, a placement-group scheduling strategy (teachers/placement.py).
    remote_args: Mapping[str, Any] = field(default_factory=dict)
    # Retried when a worker dies; None: the plan's ray.max_task_retries.
    max_task_retries: int | None = None
    # The rows cut into blocks of about this many first (repartition(target_num_rows_per_block)):
    # the granularity of row-level checkpointing (pipeline.py).
    rows_per_block: int | None = None
    # The rows hash-partitioned into `partitions` blocks by these columns first
    # (repartition(partitions, keys=...), a shuffle): equal keys meet in one call.
    partition_by: tuple[str, ...] = ()
    partitions: int | None = None
    # fn called once per value of this column, with every row holding it
    # (groupby(key).map_groups(fn), a shuffle); batch_size does not apply.
    group_by: str | None = None

    def __post_init__(self) -> None:
        if self.output is not None and self.adds is not None:
            raise PlanError(f"stage {self.name!r}: give output or adds, not both")
        if not self.is_actor and (self.actors or self.constructor_kwargs):
            raise PlanError(f"stage {self.name!r}: actors and constructor_kwargs need a class")
        if bool(self.partition_by) != (self.partitions is not None):
            raise PlanError(f"stage {self.name!r}: partition_by and partitions go together")
        if self.group_by is not None and (self.batch_size is not None or self.partition_by):
            raise PlanError(f"stage {self.name!r}: group_by takes no batch_size or "
                            "partition_by (each call is one group)")

    @property
    def keys(self) -> tuple[str, ...]:
        """The columns the rows are partitioned or grouped by (none: as they come)."""
        return self.partition_by + ((self.group_by,) if self.group_by else ())

    @property
    def is_actor(self) -> bool:
        """True when ``fn`` is a class run on an actor pool."""
        return isinstance(self.fn, type)

    def map_batches_kwargs(self, max_task_retries: int) -> dict[str, Any]:
        """The keyword arguments of ``Dataset.map_batches`` for this stage."""
        kwargs: dict[str, Any] = {"batch_format": "pyarrow", **self.remote_args}
        # map_groups takes the same arguments but batch_size (refused with group_by).
        if self.batch_size is not None:
            kwargs["batch_size"] = self.batch_size
        if self.num_cpus is not None:
            kwargs["num_cpus"] = self.num_cpus
        if self.is_actor:
            low, high = self.actors or (1, 1)
            strategy: dict[str, Any] = {"min_size": low, "max_size": high}
            if self.batches_in_flight is not None:
                strategy["max_tasks_in_flight_per_actor"] = self.batches_in_flight
            kwargs["compute"] = ActorPoolStrategy(**strategy)
            kwargs["fn_constructor_kwargs"] = dict(self.constructor_kwargs)
            kwargs["max_task_retries"] = (max_task_retries if self.max_task_retries is None
                                          else self.max_task_retries)
        else:
            kwargs["max_retries"] = (max_task_retries if self.max_task_retries is None
                                     else self.max_task_retries)
        if self.fn_kwargs:
            kwargs["fn_kwargs"] = dict(self.fn_kwargs)
        return kwargs


def check_plan(stages: Sequence[Stage], schema: pa.Schema) -> pa.Schema:
    """Check that each stage's ``needs`` are in what the stage before gives; return the end schema.

    ``schema`` is the schema of the rows the plan starts from.
    """
    current = schema
    for stage in stages:
        missing = [c for c in dict.fromkeys(stage.needs + stage.keys) if c not in current.names]
        if missing:
            raise PlanError(
                f"stage {stage.name!r} needs columns {missing} that its input lacks "
                f"(it has: {', '.join(current.names)})"
            )
        if stage.output is not None:
            current = stage.output
        elif stage.adds is not None:
            kept = [f for f in current if f.name not in stage.adds.names]
            current = pa.schema(kept + list(stage.adds))
    return current


def apply(ds: Any, stages: Sequence[Stage], schema: pa.Schema, max_task_retries: int) -> Any:
    """Chain ``stages`` onto the Ray dataset ``ds`` (whose rows have ``schema``), checked first.

    ``max_task_retries`` (``ray.max_task_retries``) is how often a batch is retried
    when its worker or actor dies, for every stage that does not set its own. Each
    stage is ``ds.map_batches(fn, ...)``, after ``ds.repartition(...)`` when it sets
    ``rows_per_block`` or ``partition_by``; a ``group_by`` stage is
    ``ds.groupby(key).map_groups(fn, ...)`` with the same arguments.
    """
    check_plan(stages, schema)
    for stage in stages:
        if stage.rows_per_block is not None:
            ds = ds.repartition(target_num_rows_per_block=stage.rows_per_block)
        if stage.partition_by:
            ds = ds.repartition(stage.partitions, keys=list(stage.partition_by))
        method = (ds.groupby(stage.group_by).map_groups if stage.group_by is not None
                  else ds.map_batches)
        ds = map_call(method, stage.fn, stage.map_batches_kwargs(max_task_retries))
    return ds


def map_call(method: Callable[..., Any], fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``method(fn, **kwargs)`` (``map_batches``, ``map_groups``), quiet about retries only.

    The deprecation warning of ``**ray_remote_args`` is silenced when the
    arguments without a named parameter are retry counts (see :data:`RETRY_ARGS`).
    """
    unnamed = set(kwargs) - NAMED_ARGS
    if not unnamed or not unnamed <= RETRY_ARGS:
        return method(fn, **kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated",
                                category=DeprecationWarning)
        return method(fn, **kwargs)
