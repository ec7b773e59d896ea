"""``raydistill verify INPUT OUTPUT [key=value ...] [-v]`` (= ``python -m raydistill.verify``).

Re-checks rows that already hold responses (a data set made elsewhere, or an
older raydistill run) with the same verifier actor as the pipeline, through Ray
Data (the row adapters: :mod:`raydistill.verifiers.rows`). INPUT and OUTPUT are
JSONL (``.jsonl``/``.json``) or Parquet (``.parquet``) files, local or ``s3://``;
an INPUT directory is read whole (its ``.jsonl``/``.parquet`` files), an OUTPUT
without one of those suffixes is a directory of Parquet parts written by the
workers (the way to go for very large inputs: the single-file outputs are
written by this process as results stream in).

Every input row is written back, in order, plus ``verified`` (bool), ``verdict``
(pass / fail / error), ``reason`` (a code of :mod:`raydistill.reasons`),
``verdict_detail`` and ``verdicts`` (each verifier's
verdict, with its latency). Column names come from ``columns.*``: by default
``domain`` (math / code / mcq), ``response`` (the full teacher text),
``ground_truth_solution``, ``test_cases``, ``starter_code``, ``problem`` (for the
judge) and ``finish_reason`` (optional; ``length`` means cut). A ``<think>``
opened but never closed is a truncated trace and fails; no think tags at all
means the whole response is the answer.

Keys (defaults in :class:`VerifyRunConfig`): ``columns.*``, ``default_domain``
(for rows without a domain), ``verify.*`` and ``judge.*`` (the pipeline's
sections), ``s3_endpoint``, ``s3_region``, ``overwrite`` and ``ray.*`` (the
pipeline's section, applied the same way: ``address``, ``num_cpus``,
``rows_per_block``, ``max_task_retries``, ``parquet_footer_readers``). A
misspelled key or a bad value fails before Ray starts, naming the key. Example::

    python -m raydistill.verify old.jsonl s3://bucket/rechecked.parquet \\
        columns.response=generation default_domain=math verify.replicas=4
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray
import ray.data

from raydistill import pipeline, records, stages
from raydistill.cli.console import REFUSED, refuse, start
from raydistill.config import loader, other_backend, pick_backends
from raydistill.config.loader import to_dict
from raydistill.observe.summary import verifier_latency
from raydistill.output.row_groups import write_parts
from raydistill.output.storage import StorageError, list_files, resolve
from raydistill.ray_config import RayConfig, ray_checks
from raydistill.ray_session import configure_data, init_ray
from raydistill.stages import Stage
from raydistill.verifiers.config import JudgeConfig, VerifyConfig, verify_checks
from raydistill.verifiers.rows import ADDED, RowJudge, RowVerifier

logger = logging.getLogger(__name__)

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass
class ColumnsConfig:
    """Names of the input columns the verifiers read."""

    domain: str = "domain"
    response: str = "response"
    ground_truth: str = "ground_truth_solution"
    test_cases: str = "test_cases"
    starter_code: str = "starter_code"
    problem: str = "problem"
    finish_reason: str = "finish_reason"


@dataclass
class VerifyRunConfig:
    """Everything ``python -m raydistill.verify`` takes besides INPUT and OUTPUT."""

    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    default_domain: str | None = None
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    s3_endpoint: str | None = None
    s3_region: str | None = None
    overwrite: bool = False
    ray: RayConfig = field(default_factory=RayConfig)


def load(overrides: list[str]) -> VerifyRunConfig:
    """The validated config from ``key=value`` overrides; ConfigError names a bad key."""
    given = loader.parse_overrides(overrides)
    schema, _ = pick_backends(VerifyRunConfig(), ["judge.teacher"], [], given)
    cfg: VerifyRunConfig = loader.build(schema, overrides=given, hint=other_backend)
    loader.raise_first(verify_checks(cfg.verify, cfg.judge) + ray_checks(cfg.ray))
    return cfg


def _format(path: str) -> str | None:
    return next((fmt for suffix, fmt in FORMATS.items() if path.endswith(suffix)), None)


def _read(cfg: VerifyRunConfig, uri: str) -> Any:
    fs, root = resolve(uri, cfg.s3_endpoint, cfg.s3_region)
    files = list_files(fs, root, tuple(FORMATS))
    kinds = {_format(f) for f in files}
    if not files or len(kinds) != 1:
        raise StorageError(f"{uri}: expected .jsonl or .parquet files, found {len(files)} "
                           f"of {len(kinds)} kinds")
    if kinds == {"json"}:
        return ray.data.read_json(files, filesystem=fs)  # pyarrow reads JSON lines
    return ray.data.read_parquet(files, filesystem=fs)


def _write(ds: Any, cfg: VerifyRunConfig, uri: str) -> tuple[Counter[str], list[pa.Array]]:
    """Write the verified rows; return the verdict counts and the ``verdicts`` chunks."""
    fs, path = resolve(uri, cfg.s3_endpoint, cfg.s3_region)
    fmt, counts, verdicts = _format(path), Counter[str](), []
    if fmt is None:
        write_parts(ds, path, fs)
        done = pads.dataset(path, filesystem=fs, format="parquet").to_table(
            columns=["verdict", "verdicts"])
        counts.update(done["verdict"].to_pylist())
        return counts, list(done["verdicts"].chunks)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.create_dir(parent, recursive=True)
    tables = []
    with fs.open_output_stream(path) as stream:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=1024):
            counts.update(batch["verdict"].to_pylist())
            verdicts.append(batch["verdicts"].combine_chunks()
                            if isinstance(batch["verdicts"], pa.ChunkedArray)
                            else batch["verdicts"])
            if fmt == "json":
                stream.write(b"".join(json.dumps(row, default=str).encode() + b"\n"
                                      for row in batch.to_pylist()))
            else:
                tables.append(batch)
        if fmt == "parquet":
            # Blocks read from JSON may type a column differently (all-null in one).
            table = (pa.concat_tables(tables, promote_options="permissive") if tables
                     else pa.table({c: pa.array([], pa.string()) for c in ADDED}))
            pq.write_table(table, stream)
    return counts, verdicts


def run(cfg: VerifyRunConfig, source: str, target: str
        ) -> tuple[Counter[str], dict[str, dict[str, float]]]:
    """Verify ``source`` into ``target`` (Ray already initialised).

    Returns the verdict counts and each verifier's latency percentiles.
    """
    configure_data(cfg.ray)
    options = ray.data.DataContext.get_current().execution_options
    ordered, options.preserve_order = options.preserve_order, True
    try:
        plan = verify_stages(cfg)
        plan[0] = replace(plan[0], rows_per_block=cfg.ray.rows_per_block)
        ds = stages.apply(_read(cfg, source), plan, pa.schema([]), cfg.ray.max_task_retries)
        counts, verdicts = _write(ds, cfg, target)
    finally:
        options.preserve_order = ordered
    chunks = pa.chunked_array(verdicts, pa.list_(records.VERDICT))
    return counts, verifier_latency(chunks)


def verify_stages(cfg: VerifyRunConfig) -> list[Stage]:
    """The pipeline's verifier (and judge) stages, their actors reading flat rows.

    The rows are the user's: no column is required by name (a row without a
    response is an error row), each stage adds ``records.VERIFY_ADDED``.
    """
    plain = to_dict(cfg)
    rows = {"columns": plain["columns"], "default_domain": cfg.default_domain}
    row_actors = {"verify": (RowVerifier, ()), "judge": (RowJudge, ADDED)}
    return [replace(stage, fn=row_actors[stage.name][0], needs=row_actors[stage.name][1],
                    output=None, adds=records.VERIFY_ADDED,
                    constructor_kwargs={**stage.constructor_kwargs, **rows})
            for stage in pipeline.verify_stages(cfg.verify, cfg.judge)]


def _check_target(cfg: VerifyRunConfig, target: str) -> None:
    fs, path = resolve(target, cfg.s3_endpoint, cfg.s3_region)
    if fs.get_file_info(path).type != pafs.FileType.NotFound and not cfg.overwrite:
        raise StorageError(f"{target} exists; pass overwrite=true to replace it")


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the process exit code."""
    parsed = start(argv, __doc__)
    if parsed is None:
        return 0
    args, verbose = parsed
    positional = [a for a in args if "=" not in a]
    if len(positional) != 2:
        return refuse("verify", "usage: raydistill verify INPUT OUTPUT [key=value ...]")
    try:
        cfg = load([a for a in args if "=" in a])
        source, target = positional
        _check_target(cfg, target)
        fs, root = resolve(source, cfg.s3_endpoint, cfg.s3_region)
        if not list_files(fs, root, tuple(FORMATS)):  # raises if it does not exist
            raise StorageError(f"{source}: no .jsonl or .parquet files")
    except REFUSED as exc:
        return refuse("verify", exc)
    init_ray(cfg.ray, verbose)
    started = time.monotonic()
    try:
        counts, latency = run(cfg, source, target)
    except StorageError as exc:
        return refuse("verify", exc)
    total = sum(counts.values())
    print(f"\nverified {total} rows in {time.monotonic() - started:.1f} s: "
          f"{counts['pass']} pass, {counts['fail']} fail, {counts['error']} error -> {target}")
    for kind, v in latency.items():
        print(f"  {kind:<6} latency p50/p90/p99 {v['p50_ms']:.1f} / {v['p90_ms']:.1f} / "
              f"{v['p99_ms']:.1f} ms over {v['checks']} checks, {v['retries']} retried")
    return 0


if __name__ == "__main__":
    sys.exit(main())
