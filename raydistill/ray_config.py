"""The ``ray`` section: how to reach Ray and how a plan is cut into blocks.

Read by :mod:`raydistill.ray_session` (joining or starting Ray, Ray Data's
context) and by every plan (block size, retries). Kept apart from
``ray_session`` so the config does not import Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

from raydistill.keys import key


@dataclass
class RayConfig:
    """How to reach Ray and how the plan is cut into blocks."""

    address: str | None = key(None, "Cluster address; null = $RAY_ADDRESS (set by `ray job "
                              "submit`) or a new local cluster.", perf=True)
    num_cpus: int | None = key(None, "Logical CPUs of a new local cluster (null = twice the "
                               "cores, at least 8): more than the cores, so actor pools cannot "
                               "starve the reads.", perf=True)
    rows_per_block: int = key(16, "Rows per block through the pipeline: the unit of progress "
                              "and of resume.", perf=True)
    max_task_retries: int = key(10, "Resubmissions of a batch whose actor died (engine crash, "
                                "node lost) before the run fails.", perf=True)
    parquet_footer_readers: int = key(2, "Actors Ray Data starts to read Parquet footers per "
                                      "read (its default of 32 cost ~25 CPU-seconds per read).",
                                      perf=True)


def ray_checks(r: RayConfig) -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the ``ray`` section."""
    return [
        (r.num_cpus is None or r.num_cpus >= 1, "ray.num_cpus", "must be >= 1 or null"),
        (r.rows_per_block >= 1, "ray.rows_per_block", "must be >= 1"),
        (r.max_task_retries >= 0, "ray.max_task_retries", "must be >= 0"),
        (r.parquet_footer_readers >= 1, "ray.parquet_footer_readers", "must be >= 1"),
    ]
