"""Shards of bounded size, written whole or not at all, on a local disk or S3.

The export's rows arrive in the driver as a stream of Arrow batches; a
:class:`ShardWriter` appends them to ``part-00000.jsonl`` (or ``.parquet``),
``part-00001`` ... of at most ``rows_per_file`` rows each, and of about
``bytes_per_file`` bytes: a shard closes once its rows' Arrow size reaches it
(measured per batch, so a shard overshoots by at most one row's average size; a
JSONL file is about that size, a Parquet file smaller by its compression). Each shard is written
to a hidden temporary and moved into place when full, so a reader never sees a
half-written shard, and the names are deterministic (a re-export replaces them).
Parquet shards are written a row group at a time, each of up to 64k rows or about
8 MiB (:mod:`raydistill.output.row_groups`), however small the batches that arrive.
Memory: one Arrow batch, plus the row group being collected.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raydistill.export.formats import jsonl_line
from raydistill.output.row_groups import RowGroupBuffer

logger = logging.getLogger(__name__)


def hidden_temp(path: str) -> str:
    """A hidden sibling of ``path``: pyarrow, Ray Data and ``datasets`` skip dot files."""
    head, _, name = path.rpartition("/")
    return f"{head}/.{name}.{uuid.uuid4().hex[:12]}.tmp"


class ShardWriter:
    """Append Arrow tables of ``schema`` to numbered shard files under ``directory``."""

    def __init__(self, fs: pafs.FileSystem, directory: str, file_format: str,
                 rows_per_file: int, schema: pa.Schema, bytes_per_file: int = 500 * 2**20) -> None:
        self.fs, self.directory, self.file_format = fs, directory, file_format
        self.rows_per_file, self.bytes_per_file = rows_per_file, bytes_per_file
        self.schema = schema
        self.files: list[dict[str, Any]] = []
        self._stream: Any = None
        self._parquet: pq.ParquetWriter | None = None
        self._groups = RowGroupBuffer()
        self._temp = self._path = ""
        self._rows = self._bytes = 0
        fs.create_dir(directory, recursive=True)

    def write(self, table: pa.Table) -> None:
        """Append ``table``'s rows, opening a new shard whenever one is full."""
        offset = 0
        row_bytes = table.nbytes / max(1, table.num_rows)
        while offset < table.num_rows:
            if self._stream is None:
                self._open()
            room = self.rows_per_file - self._rows
            if row_bytes:
                room = min(room, max(1, math.ceil((self.bytes_per_file - self._bytes)
                                                  / row_bytes)))
            take = min(room, table.num_rows - offset)
            self._append(table.slice(offset, take))
            offset += take
            self._rows += take
            self._bytes += int(take * row_bytes)
            if self._rows == self.rows_per_file or self._bytes >= self.bytes_per_file:
                self._close()

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard; return every shard as ``{"path", "rows"}`` (paths relative)."""
        if self._stream is not None:
            self._close()
        if not self.files:  # an empty export still gives readers one file with the schema
            self._open()
            self._close()
        return self.files

    def abort(self) -> None:
        """Drop the shard being written (after an error)."""
        if self._stream is not None:
            self._groups.flush()
            self._stream.close()
            self._stream = None
            self.fs.delete_file(self._temp)

    def _open(self) -> None:
        name = f"part-{len(self.files):05d}.{self.file_format}"
        self._path = f"{self.directory}/{name}"
        self._temp = hidden_temp(self._path)
        self.fs.create_dir(self.directory, recursive=True)
        self._stream = self.fs.open_output_stream(self._temp)
        if self.file_format == "parquet":
            self._parquet = pq.ParquetWriter(self._stream, self.schema)
        self._rows = self._bytes = 0

    def _append(self, table: pa.Table) -> None:
        if self._parquet is not None:
            for group in self._groups.add(table):
                self._write_group(group)
            return
        lines = "".join(jsonl_line(row) + "\n" for row in table.to_pylist())
        self._stream.write(lines.encode())

    def _write_group(self, group: pa.Table) -> None:
        assert self._parquet is not None
        self._parquet.write_table(group.cast(self.schema), row_group_size=group.num_rows)

    def _close(self) -> None:
        if self._parquet is not None:
            last = self._groups.flush()
            if last is not None:
                self._write_group(last)
            self._parquet.close()
            self._parquet = None
        self._stream.close()
        self._stream = None
        self.fs.move(self._temp, self._path)
        self.files.append({"path": self._path.rsplit("/", 1)[1], "rows": self._rows})
        logger.info("wrote %s (%d rows)", self._path, self._rows)
