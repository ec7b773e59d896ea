import json

import pyarrow.parquet as pq
import pytest

from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation
from raydistill.sources import problem_id, read_dataset, read_problems, to_problem
from raydistill.sources.config import DatasetConfig, SourceConfig


def test_gsm8k_preset_maps_question_and_answer():
    row = to_problem({"question": "Q?", "answer": "work\n#### 7"},
                     DatasetConfig(name="gsm8k", preset="gsm8k"), 3)
    assert row["problem"] == "Q?"
    assert row["ground_truth_solution"] == "work\n#### 7"
    assert row["source"] == "gsm8k" and row["source_index"] == 3
    assert row["input_error"] is None
    assert row["problem_id"] == problem_id("gsm8k", "Q?")


def test_numinamath_preset_and_explicit_fields():
    spec = DatasetConfig(name="numina", preset="numinamath")
    assert to_problem({"problem": "P", "solution": "\\boxed{1}"}, spec, 0)["problem"] == "P"
    spec = DatasetConfig(name="x", question_field="q", answer_field="a")
    assert to_problem({"q": "P", "a": "1"}, spec, 0)["ground_truth_solution"] == "1"


def test_problem_id_is_stable_and_depends_on_source_and_text():
    assert problem_id("a", "x") == problem_id("a", "x")
    assert len({problem_id("a", "x"), problem_id("b", "x"), problem_id("a", "y")}) == 3


@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"answer": "#### 1"}, "missing field 'question'"),
        ({"question": "Q"}, "missing field 'answer'"),
        ({"question": "   ", "answer": "1"}, "empty field 'question'"),
        ({"question": 12, "answer": "1"}, "field 'question' is int, not text"),
        ({"question": b"\xff\xfe", "answer": "1"}, "field 'question' is not valid UTF-8"),
    ],
)
def test_bad_rows_are_kept_with_their_reason(raw, reason):
    row = to_problem(raw, DatasetConfig(name="gsm8k", preset="gsm8k"), 0)
    assert row["input_error"] == reason
    assert row["problem_id"]


def test_jsonl_reader_keeps_bad_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        json.dumps({"question": "ok?", "answer": "#### 1"}).encode() + b"\n"
        + b"\xff\xfe not utf8\n"
        + b"{not json\n"
        + b"[1, 2]\n"
        + b"\n"
        + json.dumps({"question": "", "answer": "#### 2"}).encode() + b"\n"
    )
    rows = list(read_dataset(DatasetConfig(name="t", format="jsonl", path=str(path),
                                           preset="gsm8k"), None))
    assert [r["input_error"] for r in rows] == [
        None, "line is not valid UTF-8", rows[2]["input_error"], "line is not a JSON object",
        "empty field 'question'",
    ]
    assert rows[2]["input_error"].startswith("line is not JSON")
    assert len({r["problem_id"] for r in rows}) == 5


def test_synthetic_source_is_seeded_and_limited():
    spec = DatasetConfig(name="syn", format="synthetic_arithmetic", seed=7)
    first = [r["problem"] for r in read_dataset(spec, 5)]
    assert first == [r["problem"] for r in read_dataset(spec, 5)]
    assert len(first) == 5
    assert first != [r["problem"] for r in read_dataset(DatasetConfig(
        name="syn", format="synthetic_arithmetic", seed=8), 5)]


def test_limit_spans_datasets_in_order(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"#### {i}"}) + "\n"
                            for i in range(10)))
    cfg = SourceConfig(limit=7, datasets=[
        DatasetConfig(name="syn", format="synthetic_arithmetic", limit=3),
        DatasetConfig(name="g", format="jsonl", path=str(path), preset="gsm8k"),
    ])
    sources = [r["source"] for r in read_problems(cfg)]
    assert sources == ["syn"] * 3 + ["g"] * 4


def test_parquet_source(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"problem": ["a", "b"], "solution": ["\\boxed{1}", "\\boxed{2}"]}),
                   tmp_path / "p.parquet")
    rows = list(read_dataset(DatasetConfig(name="n", format="parquet", path=str(tmp_path),
                                           preset="numinamath"), None))
    assert [r["problem"] for r in rows] == ["a", "b"]


def test_shipped_gsm8k_sample_reads_cleanly():
    spec = DatasetConfig(name="gsm8k", format="jsonl", path="data/gsm8k/test-300.jsonl",
                         preset="gsm8k")
    rows = list(read_dataset(spec, None))
    assert len(rows) == 300
    assert all(r["input_error"] is None for r in rows)
    assert all("####" in r["ground_truth_solution"] for r in rows)


def test_staging_drops_duplicates_and_counts_them(tmp_path):
    out = OutputLocation(OutputConfig(uri=str(tmp_path / "out")))
    spec = DatasetConfig(name="s", preset="gsm8k")
    rows = [to_problem({"question": q, "answer": "#### 1"}, spec, i)
            for i, q in enumerate(["a", "b", "a", ""])]
    counts = out.stage_problems(rows, per_file=2)
    assert counts == {"problems": 3, "input_errors": 1, "duplicates": 1}
    staged = pq.read_table(out.problems)
    assert staged.num_rows == 3
    assert len(list((tmp_path / "out/_work/problems").iterdir())) == 2


def test_hf_source_passes_split_and_subset(monkeypatch):
    import datasets

    from raydistill.sources import read_dataset
    from raydistill.sources.config import DatasetConfig

    calls = []

    def load_dataset(path, name=None, split=None):  # stands in for the hub (no network here)
        calls.append((path, name, split))
        return [{"question": "Which is a gas? A) iron B) helium", "answer": "#### B"}]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    spec = DatasetConfig(name="arc", format="hf", path="allenai/ai2_arc",
                         subset="ARC-Challenge", split="test", preset="gsm8k", domain="math")
    rows = list(read_dataset(spec, limit=None))
    assert calls == [("allenai/ai2_arc", "ARC-Challenge", "test")]
    assert rows[0]["source"] == "arc" and rows[0]["input_error"] is None
    spec.subset = ""
    list(read_dataset(spec, limit=None))
    assert calls[-1] == ("allenai/ai2_arc", None, "test")


def test_limit_zero_reads_nothing():
    from raydistill.sources import read_dataset
    from raydistill.sources.config import DatasetConfig

    spec = DatasetConfig(name="s", format="synthetic_arithmetic", domain="math")
    assert list(read_dataset(spec, limit=0)) == []
    spec.limit = 0
    assert list(read_dataset(spec, limit=None)) == []
    assert len(list(read_dataset(spec, limit=5))) == 0
