"""What every teacher shares: row fields, model names, seeds, batch streaming."""

from __future__ import annotations

import asyncio
import os
import tempfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from raydistill import records
from raydistill.observe.metrics import TeacherMetrics
from raydistill.output.storage import local_copy

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_PREFIX = "builtin:"


def model_cache() -> str:
    """Where ``s3://`` models are downloaded on this node: ``$RAYDISTILL_MODEL_CACHE``."""
    return os.environ.get("RAYDISTILL_MODEL_CACHE") or os.path.join(
        tempfile.gettempdir(), "raydistill-models")


def resolve_model(model: str, endpoint: str | None = None, region: str | None = None) -> str:
    """Path or hub id of ``model``; ``builtin:NAME`` is a model shipped in the package.

    Resolved on the node that loads it, so it works whatever the working dir's path.
    An ``s3://`` directory (a loop's checkpoint) is downloaded to :func:`model_cache`
    first; ``endpoint`` defaults to ``$AWS_ENDPOINT_URL``.

    >>> resolve_model("builtin:tiny-teacher").endswith("assets/tiny-teacher")
    True
    """
    if model.startswith(BUILTIN_PREFIX):
        return str(ASSETS / model[len(BUILTIN_PREFIX) :])
    if model.startswith("s3://"):
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
            "AWS_ENDPOINT_URL")
        return local_copy(model, model_cache(), endpoint, region)
    return model


def request_seed(base: int | None, key: str) -> int | None:
    """Per-request seed: the same problem (or sample) gets the same seed however batched.

    >>> request_seed(None, "p1") is None
    True
    >>> request_seed(0, "p1") == request_seed(0, "p1") != request_seed(0, "p1/1")
    True
    """
    if base is None:
        return None
    return (base * 1_000_003 + zlib.crc32(key.encode())) % (2**31)


def seed_key(problem_id: str, sample_offset: int = 0) -> str:
    """The key of a request's seed: the problem, and its first sample's index in a later wave.

    A fixed-n run (and adaptive sampling's first wave) keys by the problem alone; wave
    ``w`` of adaptive sampling starts at sample ``offset_w`` and gets its own seed, so
    every (problem, sample) is drawn from a seed fixed by the config.

    >>> seed_key("p1"), seed_key("p1", 2)
    ('p1', 'p1@2')
    """
    return problem_id if not sample_offset else f"{problem_id}@{sample_offset}"


def no_completion() -> dict[str, Any]:
    """A teacher's output fields before it answers: no samples, no error, no timings."""
    return {"samples": [], "teacher_error": None, "prompt_tokens": 0, "generated_at": None,
            "generation_seconds": None, "max_tokens_used": None}


def start_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the teacher's output fields reset (:func:`no_completion`)."""
    return {**row, **no_completion()}


class StreamingTeacher:
    """A Ray Data actor that maps a batch of problem rows to rows with samples.

    Subclasses set ``self.metrics`` and implement :meth:`_complete`, the
    prompt-only call: chat messages in, the configured sampling's completions
    out. A problem row is one call (:meth:`_generate`); the LLM judge asks its
    questions through :meth:`complete`, with no problem rows.
    """

    metrics: TeacherMetrics

    async def _complete(self, messages: list[dict[str, str]], key: str) -> dict[str, Any]:
        raise NotImplementedError

    async def complete(self, messages: list[dict[str, str]], key: str) -> dict[str, Any]:
        """Ask ``messages`` once, with the teacher's sampling section; counted in its metrics.

        ``key`` names the request: its seed (:func:`request_seed`) and its request
        id derive from it. Returns the fields of :func:`no_completion`: ``samples``
        (one :func:`raydistill.parsing.make_sample` record per completion),
        ``teacher_error`` (why there are none), ``prompt_tokens`` and timings.
        """
        out = await self._complete(messages, key)
        self.metrics.problem(out)  # sent with the next batch's counts (no wait per request)
        return out

    async def _generate(self, row: dict[str, Any]) -> dict[str, Any]:
        row = start_row(row)
        if row["input_error"]:
            return row
        return {**row, **await self._complete(row["messages"], row["problem_id"])}

    async def _before_batch(self, rows: list[dict[str, Any]]) -> None:
        """Called once per batch before any of its rows is generated (default: nothing)."""

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        """Generate every problem of ``batch`` at once; yield its rows as one table, in input order.

        One output per task: when Ray retries a task whose actor died, it skips
        the outputs already delivered by position, and a single output is either
        delivered or not. (A table per row cost the teacher actor a third of its
        CPU in serialising small blocks: tools/bench/bench_overhead.py.)
        """
        rows = records.rows(batch)
        await self._before_batch(rows)
        done = await asyncio.gather(*(self._generate(r) for r in rows))
        for row in done:
            self.metrics.problem(row)
        self.metrics.flush()
        yield records.table(list(done), records.GENERATION)
