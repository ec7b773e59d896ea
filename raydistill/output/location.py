"""The output location: its layout, its checks, and the flattening into rows users read.

Layout under ``output.uri`` (a local directory or ``s3://bucket/prefix``)::

    _work/run.json      the run manifest: fingerprint and committed steps (manifest.py)
    _work/inputs/       staged input problems before the problem filters (when on)
    _work/problems/     staged input problems (Parquet), the pipeline's Read
    _work/generations/  one row per problem with its n verified samples
    _work/checkpoint/   Ray Data's row-level checkpoint: ids of committed problems
    _work/waves/<w>/    adaptive sampling: wave w's problems/, generations/, checkpoint/
    _work/publish/      all/ and verified/ being written, before they are committed
    _work/problem_table/  problems/ being written, before it is committed
    all/                one row per sample, every verdict
    verified/           the rows of all/ that passed
    removed/            problems the filters removed, with reason and detail
    problems/           one row per problem: pass rate, answers, majority (output/problems.py)
    summary.json        funnel counts, config, versions, timings

Every Parquet file under ``all/``, ``verified/`` and ``_work/problems/`` is
written whole or not at all (hidden temporary, then a move), and only what the
manifest lists under ``published`` is the run's output.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raydistill import records
from raydistill.output.config import OutputConfig, s3_endpoint
from raydistill.output.storage import (
    StorageError,
    parquet_files,
    resolve,
    write_bytes_atomic,
    write_table_atomic,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassPaths:
    """Where one generate pass reads its problems and writes its rows and checkpoint."""

    problems: str
    generations: str
    checkpoint: str


class OutputLocation:
    """Paths of one run's output on its filesystem."""

    def __init__(self, cfg: OutputConfig) -> None:
        self.uri = cfg.uri.rstrip("/")
        self.cfg = cfg
        self.fs, self.root = resolve(cfg.uri, s3_endpoint(cfg), cfg.s3_region,
                                   attempts=cfg.s3_retry_attempts)
        self.work = f"{self.root}/_work"
        self.manifest = f"{self.work}/run.json"
        self.inputs = f"{self.work}/inputs"
        self.problems = f"{self.work}/problems"
        self.removed = f"{self.root}/removed"
        self.generations = f"{self.work}/generations"
        self.checkpoint = f"{self.work}/checkpoint"
        self.publish = f"{self.work}/publish"
        self.all = f"{self.root}/all"
        self.verified = f"{self.root}/verified"
        self.summary = f"{self.root}/summary.json"
        self.problem_table = f"{self.root}/problems"
        self.staged_problem_table = f"{self.work}/problem_table"

    def pass_paths(self, wave: int | None = None) -> PassPaths:
        """The generate pass's paths: the run's (``wave=None``), or adaptive wave ``wave``'s.

        Wave 0 reads the staged problems themselves; a later wave reads the problems
        :meth:`stage_wave` wrote for it.
        """
        if wave is None:
            return PassPaths(self.problems, self.generations, self.checkpoint)
        base = f"{self.work}/waves/{wave}"
        problems = self.problems if wave == 0 else f"{base}/problems"
        return PassPaths(problems, f"{base}/generations", f"{base}/checkpoint")

    def stage_wave(self, wave: int, problem_ids: pa.Array) -> int:
        """Write the staged problems whose ids are in ``problem_ids`` as wave ``wave``'s input.

        Deterministic (the staged parts in order, filtered), so restaging after a
        crash gives the same parts; earlier leftovers are deleted first. Returns the
        number of problems written (0: no part, the wave has nothing to do).
        """
        path = self.pass_paths(wave).problems
        self.delete_dir(path)
        self.fs.create_dir(path, recursive=True)
        written = 0
        for part, batch in enumerate(self.iter_columns(self.problems, records.PROBLEM.names)):
            chosen = batch.filter(pc.is_in(batch["problem_id"], value_set=problem_ids))
            if chosen.num_rows:
                write_table_atomic(self.fs, f"{path}/part-{part:05d}.parquet",
                                   chosen.cast(records.PROBLEM))
                written += chosen.num_rows
        return written

    def check_writable(self) -> None:
        """Write and delete a probe object, so a bad URI fails before any work."""
        probe = f"{self.root}/.raydistill-probe-{uuid.uuid4().hex}"
        # Its own filesystem with short timeouts: an unreachable S3 fails in seconds.
        fs, _ = resolve(self.cfg.uri, s3_endpoint(self.cfg), self.cfg.s3_region, preflight=True)
        logger.info("checking that output.uri %s is writable", self.uri)
        try:
            fs.create_dir(self.root, recursive=True)
            with fs.open_output_stream(probe) as stream:
                stream.write(b"ok")
            fs.delete_file(probe)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"output.uri {self.uri!r} is not writable: {exc}") from None

    def has_data(self) -> bool:
        """True if a previous run left anything under this URI."""
        paths = (self.work, self.all, self.verified, self.removed, self.problem_table,
                 self.summary)
        infos = self.fs.get_file_info(list(paths))
        return any(info.type != pafs.FileType.NotFound for info in infos)

    def clear(self) -> None:
        """Delete a previous run's output."""
        # The summary and the manifest first: without them the rest is not a run.
        for file in (self.summary, self.manifest):
            if self.fs.get_file_info(file).type == pafs.FileType.File:
                self.fs.delete_file(file)
        for path in (self.work, self.all, self.verified, self.removed, self.problem_table):
            self.delete_dir(path)

    def delete_dir(self, path: str) -> None:
        """Delete a directory and everything under it, if it exists."""
        if self.fs.get_file_info(path).type == pafs.FileType.Directory:
            self.fs.delete_dir(path)

    def settle_half_commits(self, checkpoint: str | None = None) -> int:
        """Finish commits of the checkpoint that a crash cut between copy and delete.

        Ray Data commits a block by moving ``X.pending.parquet`` to ``X.parquet``.
        On S3 a move is a copy then a delete: a crash between them leaves both.
        The copy proves the data file was complete, but Ray Data's recovery sees
        the pending file, deletes the data file and keeps the committed ids: those
        problems would be lost. Deleting such pending files first keeps them.
        Returns how many were settled.
        """
        checkpoint = checkpoint or self.checkpoint
        infos = self.fs.get_file_info(pafs.FileSelector(checkpoint, allow_not_found=True))
        names = {i.base_name for i in infos if i.type == pafs.FileType.File}
        settled = 0
        for name in names:
            if name.endswith(".pending.parquet"):
                done = name[: -len(".pending.parquet")] + ".parquet"
                if done in names:
                    self.fs.delete_file(f"{checkpoint}/{name}")
                    settled += 1
        if settled:
            logger.info("settled %d checkpoint commits cut short by a crash", settled)
        return settled

    def stage_problems(self, problems: Iterable[dict[str, Any]], per_file: int,
                       path: str | None = None) -> dict[str, int]:
        """Write problem rows as Parquet parts, dropping repeats of a ``problem_id``.

        Under ``path``: ``_work/problems`` unless given (``_work/inputs`` when filters run).
        Returns counts: ``problems``, ``input_errors``, ``duplicates``. Parts of
        an interrupted earlier staging are deleted first; the same sources give
        the same parts, so restaging is safe until the manifest records it.
        """
        path = path or self.problems
        self.delete_dir(path)
        self.fs.create_dir(path, recursive=True)
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
                self._write_part(path, chunk, part)
                chunk, part = [], part + 1
        if chunk or part == 0:
            self._write_part(path, chunk, part)
        return counts

    def _write_part(self, path: str, rows: list[dict[str, Any]], part: int) -> None:
        file = f"{path}/part-{part:05d}.parquet"
        write_table_atomic(self.fs, file, records.table(rows, records.PROBLEM))

    def ensure_parquet(self, path: str, schema: pa.Schema = records.OUTPUT) -> None:
        """Give an empty result one empty Parquet file, so readers still see the schema."""
        self.fs.create_dir(path, recursive=True)
        if not parquet_files(self.fs, path):
            pq.write_table(schema.empty_table(), f"{path}/empty.parquet",
                           filesystem=self.fs)

    def read_columns(self, path: str, columns: list[str]) -> pa.Table:
        """Read a few columns of a Parquet directory (for counting, not for data)."""
        return pa.concat_tables(self.iter_columns(path, columns), promote_options="permissive")

    def iter_columns(self, path: str, columns: list[str],
                     rows: int = 4096) -> Iterator[pa.Table]:
        """``columns`` of the Parquet files under ``path``, ``rows`` rows at a time, in order.

        File by file rather than through ``pyarrow.dataset``: a dataset keeps
        every file's footer once read, which for the 342 files of a 100k-problem
        run held 75 MiB to read 2 MiB of ids; this holds one slice of one file.
        """
        files = parquet_files(self.fs, path, recursive=True)
        if not files:
            raise StorageError(f"no Parquet files under {path}")
        for file in files:
            with pq.ParquetFile(self.fs.open_input_file(file)) as parquet:
                for batch in parquet.iter_batches(batch_size=rows, columns=columns,
                                                  use_threads=False):
                    yield pa.Table.from_batches([batch])

    def count_rows(self, path: str) -> int:
        """Rows of the Parquet files under ``path``, from their footers."""
        total = 0
        for file in parquet_files(self.fs, path, recursive=True):
            with self.fs.open_input_file(file) as handle:
                total += pq.ParquetFile(handle).metadata.num_rows
        return total

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (atomically)."""
        write_bytes_atomic(self.fs, self.summary,
                           json.dumps(summary, indent=2, default=str).encode())

    def read_summary(self) -> dict[str, Any]:
        """The ``summary.json`` of a finished run."""
        with self.fs.open_input_stream(self.summary) as stream:
            loaded: dict[str, Any] = json.loads(stream.read())
        return loaded

    def staged_output(self, name: str) -> str:
        """Where ``all`` or ``verified`` is written before it is committed."""
        return f"{self.publish}/{name}"

    def commit_published(self, schema: pa.Schema = records.OUTPUT,
                         ) -> dict[str, list[dict[str, Any]]]:
        """Move the staged ``all/`` and ``verified/`` into place; return their parts.

        Each part is moved whole (a rename, or an S3 server-side copy) to a
        deterministic name, ``part-00000.parquet`` upwards. Leftovers of an
        interrupted earlier commit are deleted first, so a rerun never mixes two
        publications. Returns ``{"all": [{"path", "rows"}, ...], "verified": [...]}``.
        """
        parts = {name: self.commit_parts(self.staged_output(name), final, schema)
                 for name, final in (("all", self.all), ("verified", self.verified))}
        self.delete_dir(self.publish)
        return parts

    def commit_parts(self, staged: str, final: str, schema: pa.Schema) -> list[dict[str, Any]]:
        """Move the Parquet parts under ``staged`` to ``final/part-NNNNN.parquet``; list them.

        Each part is moved whole (a rename, or an S3 server-side copy); ``final`` is
        emptied first. No part: one empty file with ``schema``. Returns ``[{"path",
        "rows"}, ...]``, paths relative to the run.
        """
        self.ensure_parquet(staged, schema)
        files = parquet_files(self.fs, staged)
        self.delete_dir(final)
        self.fs.create_dir(final, recursive=True)
        parts = []
        for index, path in enumerate(files):
            with self.fs.open_input_file(path) as handle:
                rows = pq.ParquetFile(handle).metadata.num_rows
            target = f"{final}/part-{index:05d}.parquet"
            self.fs.move(path, target)
            parts.append({"path": target[len(self.root) + 1 :], "rows": rows})
        return parts
