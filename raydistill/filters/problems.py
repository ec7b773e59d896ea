"""The problem-filter plan: staged inputs -> staged problems + ``removed/``, exactly once.

    Read(_work/inputs) -> code tests (sandbox actors)       -> broken tests    (driver)
    Read(_work/inputs) -> decontam (n-gram index)            -> benchmark hits  (driver)
    Read(_work/inputs) -> bucket keys -> shuffle by bucket -> pairs   -> candidates (driver)
    Read(_work/inputs) -> texts of the candidates' ends               -> texts      (driver)
    candidates -> copies checked (filters/copies.py) -> union-find -> clusters   (driver)
    Read(_work/inputs) -> keep     -> Write(_work/problems)
    Read(_work/inputs) -> removed  -> Write(removed/)

Only small results reach the driver: the code problems' broken tests, the
benchmark hits, the candidate pairs and the normalised texts of their ends.
The last two passes apply one decision (a dict problem_id -> reason) with
complementary predicates, so each input row lands in exactly one of the two
outputs; the counts are checked. A rerun after a crash deletes both outputs and
decides again from the same inputs with the same seeds, removing the same rows.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import ray.data

from raydistill import records
from raydistill.config import Config
from raydistill.config.loader import to_dict
from raydistill.filters import copies, minhash
from raydistill.filters.code_tests import CHECKED, TestChecker, drop_tests
from raydistill.filters.config import NearDupConfig
from raydistill.filters.decontam import HITS, contaminated, read_benchmarks
from raydistill.filters.normalize import normalize, text_hash
from raydistill.output.config import s3_endpoint
from raydistill.output.location import OutputLocation
from raydistill.output.row_groups import write_parts
from raydistill.output.storage import parquet_files, write_table_atomic
from raydistill.stages import Stage, apply

logger = logging.getLogger(__name__)

REMOVED = pa.schema([
    ("problem_id", pa.string()), ("source", pa.string()), ("source_index", pa.int64()),
    ("problem", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
    # The benchmark a contaminated problem overlaps; null for other reasons.
    ("benchmark", pa.string()),
])
TEXTS = pa.schema([("ordinal", pa.int64()), ("problem_id", pa.string()), ("text", pa.string())])
# Bucket rows per shuffle partition: 16 bytes each, so ~32 MB per reducer's block.
# A bucket must stay in one block (split, it would miss pairs): a key-hashed
# ``repartition`` gives exactly one block per partition, never split at the 128 MiB
# block-size target (tests/integration/test_filters.py checks it under a 1 KiB target).
BUCKET_ROWS_PER_PARTITION = 2_000_000


def _ordinals(batch: pa.Table, positions: dict[str, int]) -> np.ndarray:
    pos = np.array([positions.get(s, len(positions)) for s in batch.column("source").to_pylist()],
                   dtype=np.int64)
    return (pos << minhash.ORDINAL_SHIFT) | batch.column("source_index").to_numpy()


def _usable(batch: pa.Table, skip: frozenset[str]) -> np.ndarray:
    errors = batch.column("input_error").is_null().to_numpy(zero_copy_only=False)
    ids = batch.column("problem_id").to_pylist()
    texts = batch.column("problem").to_pylist()
    return errors & np.array([bool(t) and p not in skip for p, t in zip(ids, texts, strict=True)],
                             dtype=bool)


def bucket_rows(batch: pa.Table, positions: dict[str, int], exact: bool,
                near: dict[str, Any], bands: int, rows: int, skip: frozenset[str]) -> pa.Table:
    """One ``(bucket, ordinal)`` row per band of each usable problem, plus its exact key."""
    ok = _usable(batch, skip)
    texts = [t for t, keep in zip(batch.column("problem").to_pylist(), ok, strict=True) if keep]
    ords = _ordinals(batch, positions)[ok]
    parts_b, parts_o = [], []
    if exact:
        parts_b.append(np.array([text_hash(t) for t in texts], dtype=np.int64))
        parts_o.append(ords)
    if near["enabled"] and texts:
        sig = minhash.signatures(texts, near["shingle_words"], near["num_perm"], near["seed"])
        parts_b.append(minhash.band_keys(sig, bands, rows).reshape(-1))
        parts_o.append(np.repeat(ords, bands))
    if not parts_b:
        return minhash.BUCKETS.empty_table()
    return pa.table([np.concatenate(parts_b), np.concatenate(parts_o)], schema=minhash.BUCKETS)


def end_texts(batch: pa.Table, positions: dict[str, int], wanted: frozenset[int]) -> pa.Table:
    """Ids and normalised texts of the problems at the ends of a candidate pair."""
    ords = _ordinals(batch, positions)
    pick = np.array([o in wanted for o in ords.tolist()], dtype=bool)
    ids = [p for p, k in zip(batch.column("problem_id").to_pylist(), pick, strict=True) if k]
    texts = [normalize(t) for t, k in zip(batch.column("problem").to_pylist(), pick, strict=True)
             if k]
    return pa.table([ords[pick], ids, texts], schema=TEXTS)


def dedup_plan(cfg: Config, positions: dict[str, int], total: int,
               skip: frozenset[str]) -> list[Stage]:
    """Bucket keys of every problem, then candidate pairs per bucket after a shuffle by bucket."""
    near = cfg.filters.near
    bands, rows = (minhash.band_params(near.threshold, near.num_perm, near.bands, near.rows)
                   if near.enabled else (0, 0))
    partitions = max(1, math.ceil(total * (bands + 1) / BUCKET_ROWS_PER_PARTITION))
    return [
        Stage("bucket_keys", bucket_rows,
              needs=("problem_id", "problem", "input_error", "source", "source_index"),
              output=minhash.BUCKETS,
              fn_kwargs={"positions": positions, "exact": cfg.filters.exact,
                         "near": to_dict(cfg)["filters"]["near"], "bands": bands, "rows": rows,
                         "skip": skip}),
        Stage("pairs", minhash.pairs, needs=("bucket", "ordinal"), output=minhash.PAIRS,
              partition_by=("bucket",), partitions=partitions),
    ]


def split_rows(batch: pa.Table, removed: dict[str, tuple[str, str, str | None]],
               broken: dict[str, list[int]], keep: bool) -> pa.Table:
    """The kept problems (``keep``; broken tests dropped) or the removed ones with their reason."""
    rows = batch.to_pylist()
    if keep:
        kept = [r for r in rows if r["problem_id"] not in removed]
        for r in kept:
            if r["problem_id"] in broken:
                r["test_cases"] = drop_tests(r["test_cases"], broken[r["problem_id"]])
        return records.table(kept, records.PROBLEM)
    out = []
    for r in rows:
        if r["problem_id"] in removed:
            reason, detail, benchmark = removed[r["problem_id"]]
            out.append({**r, "reason": reason, "detail": detail, "benchmark": benchmark})
    return records.table(out, REMOVED)


def _check_code(ds: Any, cfg: Config, retries: int, removed: dict[str, Any],
                broken_of: dict[str, list[int]], tally: dict[str, Any]) -> None:
    stage = Stage("code_tests", TestChecker, needs=("test_cases", "ground_truth_solution"),
                  output=CHECKED,
                  constructor_kwargs={"sandbox": cfg.verify.code},
                  actors=(1, cfg.verify.replicas), num_cpus=cfg.verify.num_cpus,
                  batch_size=cfg.verify.batch_size)
    per_source: dict[str, Counter[str]] = {}
    for row in apply(ds, [stage], records.PROBLEM, retries).iter_rows():
        counts = per_source.setdefault(row["source"], Counter())
        if row["error"]:
            counts["unchecked_problems"] += 1
            continue
        broken = json.loads(row["broken"])
        counts["problems"] += 1
        counts["tests"] += row["tests"]
        counts["broken_tests"] += len(broken)
        if not broken:
            continue
        if cfg.filters.code_tests.on_broken == "remove" or len(broken) == row["tests"]:
            removed[row["problem_id"]] = ("broken_tests", json.dumps(
                {"broken": broken, "tests": row["tests"]}), None)
        else:
            broken_of[row["problem_id"]] = broken
    tally["broken_tests"] = {
        source: {**c, "broken_fraction": round(c["broken_tests"] / c["tests"], 4) if c["tests"]
                 else 0.0} for source, c in sorted(per_source.items())}


def _decontaminate(ds: Any, cfg: Config, retries: int, removed: dict[str, Any]) -> None:
    spec = cfg.filters.decontam
    index = read_benchmarks(spec.benchmarks, spec.ngram, s3_endpoint(cfg.output),
                            NearDupConfig(**to_dict(cfg)["filters"]["near"]) if spec.near
                            else None)
    logger.info("decontamination index: %d %d-grams of %s", len(index.grams), spec.ngram,
                ", ".join(index.problems))
    stage = Stage("decontam", contaminated, needs=("problem", "input_error"), output=HITS,
                  fn_kwargs={"index": index})
    for row in apply(ds, [stage], records.PROBLEM, retries).iter_rows():
        removed.setdefault(row["problem_id"], ("contaminated", row["detail"], row["benchmark"]))


def _dedup(ds: Any, cfg: Config, retries: int, positions: dict[str, int], total: int,
           removed: dict[str, Any]) -> None:
    plan = dedup_plan(cfg, positions, total, frozenset(removed))
    found = [np.stack([b.column("member").to_numpy(), b.column("other").to_numpy()], axis=1)
             for b in apply(ds, plan, records.PROBLEM, retries).iter_batches(
                 batch_format="pyarrow", batch_size=None) if b.num_rows]
    if not found:
        return
    candidates = np.unique(np.concatenate(found), axis=0)
    ends = Stage("end_texts", end_texts,
                 needs=("problem_id", "problem", "source", "source_index"),
                 output=TEXTS, fn_kwargs={"positions": positions,
                                          "wanted": frozenset(np.unique(candidates).tolist())})
    pid: dict[int, str] = {}
    text: dict[int, str] = {}
    for batch in apply(ds, [ends], records.PROBLEM, retries).iter_batches(
            batch_format="pyarrow", batch_size=None):
        for o, p, t in zip(*(batch.column(c).to_pylist() for c in TEXTS.names), strict=True):
            pid[o], text[o] = p, t
    near = cfg.filters.near
    pairs = [(int(a), int(b)) for a, b in candidates.tolist()]
    if near.enabled and near.verify_pairs:
        pairs = copies.verified(pairs, text, near.max_edits, near.max_edit_fraction)
    elif not near.enabled:  # exact keys alone: a 64-bit hash collision is no copy
        pairs = [(a, b) for a, b in pairs if text[a] == text[b]]
    logger.info("near duplicates: %d candidate pairs, %d copies", len(candidates), len(pairs))
    for member, root in sorted(minhash.clusters(pairs).items()):
        reason = "duplicate" if text[member] == text[root] else "near_duplicate"
        removed.setdefault(pid[member], (reason, pid[root], None))


def filter_problems(cfg: Config, out: OutputLocation, total: int) -> dict[str, Any]:
    """Run the problem filters over ``_work/inputs`` (``total`` rows); return the tally.

    Writes the kept problems to ``_work/problems`` and the removed ones to
    ``removed/``; deletes both first, so a rerun after a crash starts clean.
    """
    out.delete_dir(out.problems)
    out.delete_dir(out.removed)
    retries = cfg.ray.max_task_retries
    positions = {d.name: i for i, d in enumerate(cfg.source.datasets)}
    ds = ray.data.read_parquet(out.inputs, filesystem=out.fs)
    removed: dict[str, tuple[str, str, str | None]] = {}
    broken: dict[str, list[int]] = {}
    tally: dict[str, Any] = {"inputs": total}
    if cfg.filters.code_tests.enabled:
        _check_code(ds, cfg, retries, removed, broken, tally)
    if cfg.filters.decontam.enabled and cfg.filters.decontam.benchmarks:
        _decontaminate(ds, cfg, retries, removed)
    if cfg.filters.exact or cfg.filters.near.enabled:
        _dedup(ds, cfg, retries, positions, total, removed)
    for keep, path in ((True, out.problems), (False, out.removed)):
        split = Stage("keep" if keep else "removed", split_rows,
                      output=records.PROBLEM if keep else REMOVED,
                      fn_kwargs={"removed": removed, "broken": broken, "keep": keep})
        write_parts(apply(ds, [split], records.PROBLEM, retries), path, out.fs)
    _ensure(out, out.problems, records.PROBLEM)
    _ensure(out, out.removed, REMOVED)
    kept = out.read_columns(out.problems, ["problem_id"]).num_rows
    gone = out.read_columns(out.removed, ["reason", "benchmark"])
    if kept + gone.num_rows != total or gone.num_rows != len(removed):
        raise RuntimeError(f"filters lost rows: {total} inputs, {kept} kept, "
                           f"{gone.num_rows} removed of {len(removed)} decided")
    tally["kept"] = kept
    tally["removed"] = dict(sorted(Counter(gone.column("reason").to_pylist()).items()))
    tally["removed_by_benchmark"] = dict(sorted(Counter(
        b for b in gone.column("benchmark").to_pylist() if b is not None).items()))
    logger.info("filters: %d problems in, %d kept, removed %s", total, kept, tally["removed"])
    return tally


def _ensure(out: OutputLocation, path: str, schema: pa.Schema) -> None:
    out.fs.create_dir(path, recursive=True)
    if not parquet_files(out.fs, path):
        write_table_atomic(out.fs, f"{path}/empty.parquet", schema.empty_table())
