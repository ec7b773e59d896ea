"""The export plan: a finished run's ``all/`` (read-only) -> one trainer format's shards.

    Read (all/, the columns the format uses)
      -> [groupby problem_id]   pairs, verl, k per problem, a pass-rate band
      -> rows of the format     (formats.py builders; pairs.py choices)
      -> write_part             (fused: each block's rows to a Parquet part under .parts/)
      -> driver: the parts, a batch at a time, into shards of at most rows_per_file
         rows and ~mb_per_file MiB, in row groups of up to 64k rows or ~8 MiB
         (sink.py, output/row_groups.py); counts of what was left out

The steps between the Read and the driver are :class:`~raydistill.stages.Stage`
records run by :func:`raydistill.stages.apply` with the run's ``ray.max_task_retries``
(``ray_cfg``; the defaults when the export runs on its own).

Why group with Ray Data rather than read ``all/`` sorted: the n samples of a
problem are written side by side by today's publish pass, but nothing promises
it (adaptive sampling's waves, a rerun with other settings), and a sort that
streams into the driver would still cut a problem across two batches.
``groupby`` shuffles in the object store (spilling to disk when it must).
Formats that need no grouping (one row per sample, no ``k``, no band) skip it.

Why the workers write parts and the driver only copies them: the shuffle's
partitions are a fixed number (Ray Data's 200), so their blocks grow with the
run; a driver that fetched them kept native memory in proportion (248 MiB at
300k samples against 195 at 100k). Blocks now stay in the workers; what reaches
the driver is a row per part and the left-out counts, and it reads each part
:data:`PART_ROWS` rows at a time. Why the driver writes the shards:
deterministic names and exact row bounds, the left-out counts taken from the
same stream with no second pass, and one code path for local disks and S3. The
parts live next to the shards (``<export>/.parts``, deleted at the end), so on a
cluster the export goes to S3 or a shared filesystem, as a run's output does.

API (the export command and the end of a run call it)::

    export_run(run_uri, "trl_sft", k=2, pick="shortest") -> summary dict
    export_run(run_uri, "trl_dpo", pairs={"chosen": "lowest_perplexity"})
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray
import ray.data

from raydistill import records
from raydistill.config import loader
from raydistill.config.loader import dotted, nested
from raydistill.errors import ConfigError
from raydistill.export import card
from raydistill.export.config import (
    PAIR_FORMATS,
    ExportConfig,
    ExportError,
    check_format,
    check_keys,
    export_checks,
)
from raydistill.export.formats import BUILDERS, SCHEMAS, Render, dataset_info
from raydistill.export.llamafactory import write_training_file
from raydistill.export.pairs import choose, make_pair, pass_rate
from raydistill.export.sink import ShardWriter
from raydistill.output.config import OutputConfig, s3_endpoint
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest
from raydistill.output.row_groups import rows_per_group
from raydistill.output.storage import (
    StorageError,
    parquet_files,
    resolve,
    write_bytes_atomic,
)
from raydistill.ray_config import RayConfig
from raydistill.ray_session import configure_data, init_ray
from raydistill.reasons import FILTERED_PREFIX
from raydistill.stages import Stage, apply, check_plan

logger = logging.getLogger(__name__)

# The all/ columns an export reads (texts, the prompt, what choices rank by).
COLUMNS = ["problem_id", "sample_idx", "source", "source_index", "domain", "problem",
           "ground_truth_solution", "test_cases", "verified", "verdict", "response",
           "reasoning", "solution", "finish_reason", "think_closed", "completion_tokens",
           "messages", "perplexity"]
# Read when the run has them (the trace filters' "filtered:<name>" codes; the label's
# source, raydistill.verifiers.labels: a run without it was labelled by its gold).
OPTIONAL_COLUMNS = ["reason", "label_source"]
# Each output batch carries the rows left out, as (reason, count) rows with null data.
STATUS = [("_left_out", pa.string()), ("_count", pa.int64())]
# What reaches the driver: one row per part the workers wrote, and the left-out counts.
PART = [("_part", pa.string()), ("_part_rows", pa.int64()), *STATUS]
PART_ROWS = 256  # rows the driver reads from a part at a time


def options(fmt: str, given: Mapping[str, Any] | None = None) -> ExportConfig:
    """The :class:`ExportConfig` for ``fmt`` from ``given`` keys (``pairs.rule`` or nested dicts).

    Raises :class:`ExportError` for an unknown format, a key ``fmt`` does not
    take, or a bad value, before any work (the run config's loader and messages).
    """
    check_format(fmt)
    flat = dotted(dict(given or {}))
    check_keys(fmt, flat)
    try:
        cfg: ExportConfig = loader.build(ExportConfig, overrides=flat.items(), prefix="export.")
        loader.raise_first(export_checks(cfg), "export.")
    except ConfigError as exc:
        raise ExportError(str(exc)) from None
    return cfg


def grouped(fmt: str, cfg: ExportConfig) -> bool:
    """True when the format needs all samples of a problem together."""
    return (fmt in PAIR_FORMATS or fmt == "verl" or cfg.k is not None
            or (cfg.min_pass_rate, cfg.max_pass_rate) != (0.0, 1.0))


def _problem_rows(fmt: str, rows: list[dict[str, Any]], cfg: ExportConfig,
                  render: Render, left: Counter[str]) -> list[dict[str, Any]]:
    per_problem = 1 if fmt in PAIR_FORMATS + ("verl",) else len(rows)  # what a count counts
    if rows[0]["source"] in cfg.exclude_sources:
        left["excluded_source"] += per_problem
        return []
    samples, verified, rate = pass_rate(rows)
    if not cfg.min_pass_rate <= rate <= cfg.max_pass_rate:
        left["outside_pass_rate_band"] += per_problem
        return []
    build = BUILDERS[fmt]
    if fmt == "verl":
        if not samples:
            left["no_samples"] += 1
            return []
        return [build({**rows[0], "samples": samples, "verified_samples": verified,
                       "pass_rate": rate}, render)]
    if fmt in PAIR_FORMATS:
        pair, why = make_pair(rows, cfg.pairs.rule, cfg.pairs.chosen, cfg.pairs.rejected,
                              cfg.pairs.allow, cfg.seed)
        if pair is None:
            left[why or "no_pair"] += 1
            return []
        return [build(pair, render)]
    eligible = []
    for row in rows:
        if row["response"] is None:
            left["no_response"] += 1
        elif cfg.rows == "verified" and not row["verified"]:
            left["not_verified"] += 1
        elif cfg.rows == "checked" and not (row["verified"] or (row.get("reason") or "")
                                            .startswith(FILTERED_PREFIX)):
            left["not_checked_correct"] += 1
        else:
            eligible.append(row)
    chosen = choose(eligible, cfg.k, cfg.pick, cfg.seed)
    left["over_k"] += len(eligible) - len(chosen)
    return [build(row, render) for row in chosen]


@functools.lru_cache(maxsize=8)
def _parsed(fmt: str, given: str) -> tuple[ExportConfig, Render]:
    export_cfg = options(fmt, json.loads(given))
    return export_cfg, Render(export_cfg.style, export_cfg.target, export_cfg.system,
                              asdict(export_cfg.data_sources))


def export_rows(batch: pa.Table, fmt: str, cfg: dict[str, Any]) -> pa.Table:
    """The UDF: ``all/`` rows of whole problems -> the format's rows plus left-out counts.

    Grouped formats call it once per problem (``map_groups``), so the options are
    parsed once per worker (~2 ms each through OmegaConf), not once per call.
    """
    export_cfg, render = _parsed(fmt, json.dumps(cfg, sort_keys=True))
    problems: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in records.rows(batch):
        problems[row["problem_id"]].append(row)
    left: Counter[str] = Counter()
    out: list[dict[str, Any]] = []
    for rows in problems.values():
        out += _problem_rows(fmt, rows, export_cfg, render, left)
    out += [{"_left_out": why, "_count": count} for why, count in left.items() if count]
    return records.table(out, output_schema(fmt))


def output_schema(fmt: str) -> pa.Schema:
    """The format's schema plus the left-out columns the plan carries to the driver."""
    return pa.schema(list(SCHEMAS[fmt]) + STATUS)


def plan(fmt: str, cfg: ExportConfig, given: dict[str, Any], fs: pafs.FileSystem,
         parts: str) -> list[Stage]:
    """The export's stages after the Read: rows of the format, then parts under ``parts``.

    The first stage gets whole problems (``group_by``) when :func:`grouped`.
    """
    return [Stage(f"export:{fmt}", fn=export_rows, needs=tuple(COLUMNS),
                  output=output_schema(fmt), fn_kwargs={"fmt": fmt, "cfg": given},
                  group_by="problem_id" if grouped(fmt, cfg) else None),
            Stage("write_part", fn=write_part, needs=tuple(n for n, _ in STATUS),
                  output=pa.schema(PART), fn_kwargs={"fs": fs, "directory": parts})]


def write_part(batch: pa.Table, fs: pafs.FileSystem, directory: str) -> pa.Table:
    """The UDF after :func:`export_rows`: its rows to a Parquet part; the part's name and counts.

    Returns one row naming the part (or none if no row was kept) and the
    left-out counts as they came. Row groups of the sane size
    (:func:`~raydistill.output.row_groups.rows_per_group`); the driver reads a part a
    bounded batch at a time.
    """
    status = batch.column("_left_out")
    data = batch.filter(status.is_null()).drop_columns([n for n, _ in STATUS])
    path = None
    if data.num_rows:
        path = f"{directory}/{uuid.uuid4().hex}.parquet"  # a retried task writes another
        with fs.open_output_stream(path) as stream:
            pq.write_table(data, stream, row_group_size=rows_per_group(data))
    counts = batch.filter(status.is_valid())
    return pa.table({"_part": [path] + [None] * counts.num_rows,
                     "_part_rows": [data.num_rows] + [None] * counts.num_rows,
                     "_left_out": pa.concat_arrays([pa.array([None], pa.string()),
                                                    counts.column("_left_out").combine_chunks()]),
                     "_count": pa.concat_arrays([pa.array([None], pa.int64()),
                                                 counts.column("_count").combine_chunks()])},
                    schema=pa.schema(PART))


def copy_part(fs: pafs.FileSystem, path: str, writer: ShardWriter) -> None:
    """Append the part at ``path`` to the shards, :data:`PART_ROWS` rows at a time; delete it."""
    try:
        source = fs.open_input_file(path)
    except FileNotFoundError:
        raise ExportError(f"a worker's part {path} is not on the driver's filesystem: on a "
                          "multi-node cluster, export to s3:// or a shared filesystem") from None
    with source:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=PART_ROWS):
            writer.write(pa.Table.from_batches([batch]))
    fs.delete_file(path)


def open_finished_run(run_uri: str, cfg: ExportConfig) -> OutputLocation:
    """The location of the finished run at ``run_uri``; :class:`ExportError` if it is not one."""
    out = OutputLocation(OutputConfig(uri=run_uri, s3_endpoint=cfg.s3_endpoint,
                                      s3_region=cfg.s3_region))
    try:
        manifest = load_manifest(out)
    except (OSError, StorageError) as exc:
        raise ExportError(f"cannot read the run at {run_uri}: {exc}") from None
    if manifest is None:
        raise ExportError(f"{run_uri} is not a raydistill run (no {out.manifest})")
    if manifest.published is None:
        step = "generating" if not manifest.generated else "publishing"
        raise ExportError(f"{run_uri} is an unfinished run (stopped while {step}): rerun "
                          "`python -m raydistill.run` with its config to finish it, then export")
    return out


def _run_schema(out: OutputLocation) -> pa.Schema:
    """The schema of the ``all/`` columns an export reads (:data:`COLUMNS`, optional ones)."""
    files = parquet_files(out.fs, out.all)
    with out.fs.open_input_file(files[0]) as handle:
        schema = pq.read_schema(handle)
    missing = [c for c in COLUMNS if c not in schema.names]
    if missing:
        raise ExportError(f"{out.uri}/all lacks columns {missing}: it was written by an older "
                          "raydistill; rerun it with output.overwrite=true to export it")
    return pa.schema([schema.field(c) for c in COLUMNS + OPTIONAL_COLUMNS
                      if c in schema.names])


def export_run(run_uri: str, format: str, ray_cfg: RayConfig | None = None,  # noqa: A002
               **given: Any) -> dict[str, Any]:
    """Export the finished run at ``run_uri`` to ``format``; return the export's summary.

    ``given``: keys of :class:`~raydistill.export.config.ExportConfig` the format
    takes (``k=2``, ``pairs={"rule": "length"}``). Written to ``uri`` or
    ``<run_uri>/exports/<format>/``: ``data/part-*.{jsonl,parquet}``,
    ``dataset_info.json`` (sharegpt formats), then ``export.json`` (this summary);
    the run's dataset card (``README.md``) gains a configuration for it. Starts a
    local Ray if none is running. ``ray_cfg``: the ``ray.*`` keys of the run (or loop)
    that exports, for its retries and Parquet footer readers (None: the defaults).
    """
    cfg = options(format, given)
    ray_cfg = ray_cfg or RayConfig()
    out = open_finished_run(run_uri, cfg)
    schema = _run_schema(out)
    if cfg.uri:
        fs, root = resolve(cfg.uri, cfg.s3_endpoint or s3_endpoint(OutputConfig(uri=cfg.uri)),
                           cfg.s3_region)
        target_uri = cfg.uri.rstrip("/")
    else:
        fs, root = out.fs, f"{out.root}/exports/{format}"
        target_uri = f"{out.uri}/exports/{format}"
    file_format = cfg.file_format or "parquet"
    parts = f"{root}/.parts"  # the workers' parts, copied into the shards, then deleted
    stages = plan(format, cfg, dotted(dict(given)), fs, parts)
    check_plan(stages, schema)
    init_ray(ray_cfg)  # a no-op when Ray runs (a run's, a loop's, a test's)
    configure_data(ray_cfg)
    started = time.monotonic()
    if fs.get_file_info(root).type == pafs.FileType.Directory:
        fs.delete_dir(root)
    fs.create_dir(parts, recursive=True)
    ds = ray.data.read_parquet(out.all, filesystem=out.fs).select_columns(schema.names)
    ds = apply(ds, stages, schema, ray_cfg.max_task_retries)  # write_part fused: rows stay
    writer = ShardWriter(fs, f"{root}/data", file_format, cfg.rows_per_file, SCHEMAS[format],
                         bytes_per_file=cfg.mb_per_file * 2**20)
    left: Counter[str] = Counter()
    # The driver reads and writes row groups of a few MB; Arrow's default mimalloc
    # pool keeps the freed pages (137 MiB at 300k samples, tools/profile/trace_export_memory.py),
    # the system allocator gives them back. Buffers remember their pool: restoring
    # the default afterwards is safe.
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            assert isinstance(batch, pa.Table)
            for part, rows, why, count in zip(*(batch.column(n).to_pylist() for n, _ in PART),
                                              strict=True):
                if why is not None:
                    left[why] += count
                elif rows:
                    copy_part(fs, part, writer)
    except BaseException:
        writer.abort()
        raise
    finally:
        pa.set_memory_pool(pool)
        if fs.get_file_info(parts).type == pafs.FileType.Directory:
            fs.delete_dir(parts)
    files = writer.close()
    summary = {
        "format": format, "run": out.uri, "uri": target_uri, "file_format": file_format,
        "rows": sum(f["rows"] for f in files),
        "files": [{"path": f"data/{f['path']}", "rows": f["rows"]} for f in files],
        "left_out": dict(sorted(left.items())), "options": given_options(cfg),
        "seconds": round(time.monotonic() - started, 3),
    }
    if format in PAIR_FORMATS:
        no_pair = {k: v for k, v in left.items() if k != "outside_pass_rate_band"}
        summary["problems_with_pair"] = summary["rows"]
        summary["problems_without_pair"] = no_pair
    if format in ("sharegpt", "sharegpt_pairs"):
        entry = cfg.name or f"raydistill_{format}"
        write_bytes_atomic(fs, f"{root}/dataset_info.json",
                           json.dumps(dataset_info(format, entry, "data"), indent=2).encode())
        summary["dataset_info_entry"] = entry
        summary["llamafactory_file"] = write_training_file(
            out, fs, root, format, entry, cfg, [f"{root}/data/{f['path']}" for f in files],
            file_format)
    write_bytes_atomic(fs, f"{root}/export.json", json.dumps(summary, indent=2).encode())
    logger.info("exported %d %s rows to %s (%s left out)", summary["rows"], format,
                target_uri, dict(left) or "none")
    if not cfg.uri:
        card.write_card(out)
    return summary


def given_options(cfg: ExportConfig) -> dict[str, Any]:
    """The export's options as plain data (for its summary)."""
    plain: dict[str, Any] = asdict(cfg)
    for key in ("formats", "s3_endpoint", "s3_region"):
        plain.pop(key)
    return plain


def export_formats(out: OutputLocation, cfg: ExportConfig,
                   ray_cfg: RayConfig | None = None) -> list[dict[str, Any]]:
    """Write every format of ``cfg.formats`` (the run config's ``export`` section).

    Each format gets :func:`format_options`. ``ray_cfg``: the run's ``ray.*`` keys.
    """
    summaries = []
    for fmt in cfg.formats:
        given = format_options(cfg, fmt)
        # The run's own S3 endpoint and region unless the export names others: a run on
        # MinIO set in output.s3_endpoint (not $AWS_ENDPOINT_URL) is read back from there.
        for key in ("s3_endpoint", "s3_region"):
            if given.get(key) is None and getattr(out.cfg, key):
                given[key] = getattr(out.cfg, key)
        summaries.append(export_run(out.uri, fmt, ray_cfg=ray_cfg, **given))
    return summaries


def format_options(cfg: ExportConfig, fmt: str) -> dict[str, Any]:
    """The keys of ``cfg`` that ``fmt`` takes and that differ from the defaults, nested.

    >>> from raydistill.export.config import PairsConfig
    >>> format_options(ExportConfig(k=2, pairs=PairsConfig(rule="length")), "trl_dpo")
    {'pairs': {'rule': 'length'}}
    >>> format_options(ExportConfig(k=2, pairs=PairsConfig(rule="length")), "trl_sft")
    {'k': 2}
    """
    defaults = dotted(asdict(ExportConfig()))
    return nested({k: v for k, v in dotted(asdict(cfg)).items()
                   if defaults.get(k) != v and k != "formats" and _takes(fmt, k)})


def _takes(fmt: str, key: str) -> bool:
    try:
        check_keys(fmt, [key])
    except ExportError:
        return False
    return True
