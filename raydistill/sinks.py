"""The output location: its layout, its checks, and the flattening into rows users read.

Layout under ``output.uri`` (a local directory or ``s3://bucket/prefix``)::

    _work/problems/     staged input problems (Parquet), the pipeline's Read
    _work/generations/  one row per problem with its n verified samples
    all/                one row per sample, every verdict
    verified/           the rows of all/ that passed
    summary.json        funnel counts, config, versions, timings
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raydistill import records
from raydistill.config import OutputConfig, s3_endpoint
from raydistill.storage import StorageError, resolve

logger = logging.getLogger(__name__)


class OutputLocation:
    """Paths of one run's output on its filesystem."""

    def __init__(self, cfg: OutputConfig) -> None:
        self.uri = cfg.uri.rstrip("/")
        self.fs, self.root = resolve(cfg.uri, s3_endpoint(cfg), cfg.s3_region)
        self.problems = f"{self.root}/_work/problems"
        self.generations = f"{self.root}/_work/generations"
        self.all = f"{self.root}/all"
        self.verified = f"{self.root}/verified"
        self.summary = f"{self.root}/summary.json"

    def check_writable(self) -> None:
        """Write and delete a probe object, so a bad URI fails before any work."""
        probe = f"{self.root}/.raydistill-probe-{uuid.uuid4().hex}"
        try:
            self.fs.create_dir(self.root, recursive=True)
            with self.fs.open_output_stream(probe) as stream:
                stream.write(b"ok")
            self.fs.delete_file(probe)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"output.uri {self.uri!r} is not writable: {exc}") from None

    def has_data(self) -> bool:
        """True if a previous run left anything under this URI."""
        paths = (self.problems, self.generations, self.all, self.verified, self.summary)
        infos = self.fs.get_file_info(list(paths))
        return any(info.type != pafs.FileType.NotFound for info in infos)

    def clear(self) -> None:
        """Delete a previous run's output."""
        for path in (f"{self.root}/_work", self.all, self.verified):
            if self.fs.get_file_info(path).type == pafs.FileType.Directory:
                self.fs.delete_dir(path)
        if self.fs.get_file_info(self.summary).type == pafs.FileType.File:
            self.fs.delete_file(self.summary)

    def stage_problems(self, problems: Iterable[dict[str, Any]], per_file: int) -> dict[str, int]:
        """Write problem rows as Parquet parts, dropping repeats of a ``problem_id``.

        Returns counts: ``problems``, ``input_errors``, ``duplicates``.
        """
        self.fs.create_dir(self.problems, recursive=True)
        seen: set[str] = set()
        counts = {"problems": 0, "input_errors": 0, "duplicates": 0}
        chunk: list[dict[str, Any]] = []
        part = 0
        for row in problems:
            if row["problem_id"] in seen:
                counts["duplicates"] += 1
                logger.info("duplicate problem %s dropped", row["problem_id"])
                continue
            seen.add(row["problem_id"])
            counts["problems"] += 1
            counts["input_errors"] += row["input_error"] is not None
            chunk.append(row)
            if len(chunk) == per_file:
                self._write_part(chunk, part)
                chunk, part = [], part + 1
        if chunk or part == 0:
            self._write_part(chunk, part)
        return counts

    def _write_part(self, rows: list[dict[str, Any]], part: int) -> None:
        path = f"{self.problems}/part-{part:05d}.parquet"
        pq.write_table(records.table(rows, records.PROBLEM), path, filesystem=self.fs)

    def ensure_parquet(self, path: str) -> None:
        """Give an empty result one empty Parquet file, so readers still see the schema."""
        self.fs.create_dir(path, recursive=True)
        infos = self.fs.get_file_info(pafs.FileSelector(path))
        if not any(i.path.endswith(".parquet") for i in infos):
            pq.write_table(records.OUTPUT.empty_table(), f"{path}/empty.parquet",
                           filesystem=self.fs)

    def read_columns(self, path: str, columns: list[str]) -> pa.Table:
        """Read a few columns of a Parquet directory (for counting, not for data)."""
        return pads.dataset(path, filesystem=self.fs, format="parquet").to_table(columns=columns)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json``."""
        with self.fs.open_output_stream(self.summary) as stream:
            stream.write(json.dumps(summary, indent=2, default=str).encode())


def _output_row(problem: dict[str, Any], idx: int, sample: dict[str, Any] | None,
                provenance: dict[str, Any]) -> dict[str, Any]:
    row = {**problem, **provenance, "sample_idx": idx}
    if sample is None:
        reason = (f"input: {problem['input_error']}" if problem["input_error"]
                  else f"teacher: {problem['teacher_error']}")
        row.update(verdict="error", verdict_detail=reason, verified=False, completion_tokens=0)
    else:
        row.update(sample, verified=sample["verdict"] == "pass")
    return row


def flatten_generations(batch: pa.Table, provenance: dict[str, Any]) -> pa.Table:
    """One output row per sample; a problem with no samples keeps one error row.

    Rows the teacher could not serve (bad input, prompt too long) are kept with
    their reason as ``verdict=error``, so nothing disappears between stages.
    """
    out = []
    for problem in records.rows(batch):
        samples = problem.pop("samples") or []
        if not samples:
            out.append(_output_row(problem, 0, None, provenance))
        out += [_output_row(problem, i, s, provenance) for i, s in enumerate(samples)]
    return records.table(out, records.OUTPUT)
