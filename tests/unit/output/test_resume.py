"""The run manifest, atomic writes and the exactly-once checks, on local files (no Ray)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raydistill import records
from raydistill.config import load
from raydistill.output.checks import RunFailed, check_coverage, error_budget
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import diff_keys, fingerprint, load_manifest, open_run
from raydistill.output.storage import StorageError, write_table_atomic


def config(tmp_path, *extra):
    return load(["conf=local", f"output.uri={tmp_path / 'out'}", *extra])


def test_fingerprint_ignores_placement_and_names_result_keys(tmp_path):
    base = fingerprint(config(tmp_path))
    faster = fingerprint(config(tmp_path, "teacher.replicas=4", "verify.replicas=8",
                                "teacher.batch_size=64", "ray.rows_per_block=128",
                                "teacher.resources={GPU: 8}"))
    assert diff_keys(base, faster) == []
    other = fingerprint(config(tmp_path, "teacher.model=other", "sampling.seed=7",
                               "prompt.template=bespoke", "source.limit=3",
                               "verify.code.wall_s=1"))
    assert diff_keys(base, other) == ["prompt.template", "sampling.seed", "source.limit",
                                      "teacher.model", "verify.code.wall_s"]
    # A data set's offset shapes the problems, but offset 0 leaves the fingerprint as it
    # was before the key existed (runs made then still resume).
    assert all("offset" not in ds for ds in base["source.datasets"])
    skipped = fingerprint(config(tmp_path, "source.datasets.0.offset=5"))
    assert diff_keys(base, skipped) == ["source.datasets"]


def test_open_run_resumes_refuses_and_overwrites(tmp_path):
    cfg = config(tmp_path)
    out = OutputLocation(cfg.output)
    manifest = open_run(out, cfg)
    manifest.staged = {"problems": 1, "input_errors": 0, "duplicates": 0}
    manifest.save(out)
    assert load_manifest(out).staged == manifest.staged
    assert open_run(out, config(tmp_path, "teacher.replicas=3")).staged == manifest.staged

    with pytest.raises(StorageError, match=r"sampling.n \(4 -> 8\).*output.overwrite=true"):
        open_run(out, config(tmp_path, "sampling.n=8"))
    fresh = open_run(out, config(tmp_path, "sampling.n=8", "output.overwrite=true"))
    assert fresh.staged is None and load_manifest(out) is None


def test_data_without_a_manifest_is_refused(tmp_path):
    cfg = config(tmp_path)
    (tmp_path / "out" / "all").mkdir(parents=True)
    with pytest.raises(StorageError, match="no run manifest"):
        open_run(OutputLocation(cfg.output), cfg)


def test_atomic_write_leaves_no_partial_or_temporary_file(tmp_path):
    fs = OutputLocation(config(tmp_path).output).fs
    path = str(tmp_path / "d" / "part.parquet")
    write_table_atomic(fs, path, pa.table({"x": [1, 2]}))
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["part.parquet"]

    # Parquet has no union type: the write fails after the file was opened.
    union = pa.UnionArray.from_dense(pa.array([0], pa.int8()), pa.array([0], pa.int32()),
                                     [pa.array([1])])
    with pytest.raises(pa.ArrowNotImplementedError):
        write_table_atomic(fs, str(tmp_path / "d" / "bad.parquet"), pa.table({"u": union}))
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["part.parquet"]
    assert pq.read_table(path)["x"].to_pylist() == [1, 2]


def _stage(out, name, ids):
    rows = [{"problem_id": i, "source": "s", "source_index": 0, "domain": "math",
             "problem": "p", "samples": []} for i in ids]
    schema = records.PROBLEM if name == "problems" else records.GENERATION
    path = out.problems if name == "problems" else out.generations
    write_table_atomic(out.fs, f"{path}/part-0.parquet", records.table(rows, schema))


def test_coverage_catches_lost_and_repeated_problems(tmp_path):
    out = OutputLocation(config(tmp_path).output)
    _stage(out, "problems", ["a", "b", "c"])
    _stage(out, "generations", ["a", "b", "c"])
    check_coverage(out)
    _stage(out, "generations", ["a", "b", "b"])
    with pytest.raises(RunFailed, match="1 missing.*1 repeated"):
        check_coverage(out)


def test_error_budget(tmp_path):
    out = OutputLocation(config(tmp_path).output)
    rows = [{"verdict": v, "reason": r, "verdict_detail": d} for v, r, d in
            [("pass", "pass", ""), ("error", "teacher_error", "teacher: prompt too long"),
             ("fail", "wrong_answer", "x"), ("fail", "wrong_answer", "y")]]
    write_table_atomic(out.fs, f"{out.root}/t/part.parquet", records.table(rows, records.OUTPUT))
    error_budget(out, f"{out.root}/t", 0.25)
    error_budget(out, f"{out.root}/t", None)
    with pytest.raises(RunFailed, match=r"1 of 4 rows.*max_error_fraction=0.2.*teacher_error"):
        error_budget(out, f"{out.root}/t", 0.2)


def test_a_commit_cut_between_copy_and_delete_is_settled(tmp_path):
    # On S3 Ray Data's commit (a move) is copy + delete; a crash between them
    # leaves both files, and its recovery would delete the complete data file.
    out = OutputLocation(config(tmp_path).output)
    ids = records.table([{"problem_id": "a"}], records.PROBLEM).select(["problem_id"])
    for name in ("x.parquet", "x.pending.parquet", "y.pending.parquet"):
        write_table_atomic(out.fs, f"{out.checkpoint}/{name}", ids)
    assert out.settle_half_commits() == 1
    assert sorted(p.name for p in (tmp_path / "out" / "_work" / "checkpoint").iterdir()) == [
        "x.parquet", "y.pending.parquet"]
