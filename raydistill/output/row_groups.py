"""Row groups of a sane size in every Parquet file raydistill writes (run parts, exports).

A Parquet reader plans, seeks and decodes per row group, and the footer holds an
entry per row group and column: a file of 48 rows in 44 row groups (an export
written a problem at a time) has a footer bigger than its data, and 100k
problems meant 100k row groups per file. The target here: a row group holds
:data:`ROW_GROUP_ROWS` rows or about :data:`ROW_GROUP_BYTES` of Arrow data,
whichever comes first (the last one of a file what is left).

- Ray Data writes (``all/``, ``verified/``, ``removed/``): :func:`write_parts`
  gives each write task at least :data:`ROW_GROUP_BYTES` of rows and each file
  one row group per :data:`ROW_GROUP_ROWS` rows.
- A table written whole (the export's workers' parts): :func:`rows_per_group`.
- Files written piecewise (the export's shards, its workers' parts):
  :class:`RowGroupBuffer` collects the pieces and hands back one table per row group.

Why 8 MiB: the export's driver holds one row group while it writes it (its
memory is measured in ``tools/bench/bench_export.py``: it must not grow), and 8 MiB is
about 1,000 R1 traces of ~8 KB (the row groups ``datasets`` writes hold 1,000 rows),
or the whole of most small exports: a few dozen row groups for 100k traces, not
100k, and a footer of tens of KB.

>>> buffer = RowGroupBuffer(max_rows=3)
>>> [t.num_rows for t in buffer.add(pa.table({"x": [1, 2]}))]
[]
>>> [t.num_rows for t in buffer.add(pa.table({"x": [3, 4, 5, 6, 7]}))]
[3, 3]
>>> buffer.flush().num_rows, buffer.flush()
(1, None)
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 8 * 2**20


def write_parts(ds: Any, path: str, fs: pafs.FileSystem) -> None:
    """``ds.write_parquet(path)`` in files of at least :data:`ROW_GROUP_BYTES`, sane row groups.

    Without these limits Ray Data writes each block (``ray.rows_per_block``
    problems' samples: 64 rows in the demo) as a file of its own.
    """
    ds.write_parquet(path, filesystem=fs, min_bytes_per_file=ROW_GROUP_BYTES,
                     row_group_size=ROW_GROUP_ROWS)


def rows_per_group(table: pa.Table) -> int:
    """Rows per row group for writing ``table`` whole (``pq.write_table(row_group_size=)``).

    >>> rows_per_group(pa.table({"x": ["a" * 1000] * 100_000}))  # ~1 KB rows: 8 MiB
    8355
    >>> rows_per_group(pa.table({"x": [1]}))
    65536
    """
    row_bytes = table.nbytes / max(1, table.num_rows)
    return max(1, min(ROW_GROUP_ROWS, int(ROW_GROUP_BYTES // max(1.0, row_bytes))))


class RowGroupBuffer:
    """Collects tables into row groups of at most ``max_rows`` rows and about ``max_bytes``."""

    def __init__(self, max_rows: int = ROW_GROUP_ROWS, max_bytes: int = ROW_GROUP_BYTES) -> None:
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self._tables: list[pa.Table] = []
        self._rows = self._bytes = 0

    @property
    def rows(self) -> int:
        """Rows held, not yet handed back."""
        return self._rows

    def add(self, table: pa.Table) -> list[pa.Table]:
        """Take ``table``'s rows; return the row groups they completed (often none)."""
        full = []
        row_bytes = table.nbytes / max(1, table.num_rows)
        offset = 0
        while offset < table.num_rows:
            room = self.max_rows - self._rows
            if row_bytes:
                room = min(room, max(1, int((self.max_bytes - self._bytes) // row_bytes)))
            take = min(room, table.num_rows - offset)
            self._tables.append(table.slice(offset, take))
            self._rows += take
            self._bytes += int(take * row_bytes)
            offset += take
            if self._rows >= self.max_rows or self._bytes >= self.max_bytes:
                full.append(self._take())
        return full

    def flush(self) -> pa.Table | None:
        """The rows held as one table (None if there are none)."""
        return self._take() if self._rows else None

    def _take(self) -> pa.Table:
        # concat_tables keeps the pieces as chunks (no copy); Parquet writes a
        # chunked table given row_group_size >= its rows as one row group.
        table = pa.concat_tables(self._tables)
        self._tables, self._rows, self._bytes = [], 0, 0
        return table
