"""``raydistill compare`` on hand-made evaluations: the table, the intervals, the errors."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from raydistill.cli import compare as cmp
from raydistill.eval.evaluate import PROBLEMS


def fake_eval(root, model, accuracies, temperature=0.6):
    root.mkdir(parents=True)
    problems = len(accuracies)
    avg = sum(accuracies) / problems
    (root / "eval.json").write_text(json.dumps({
        "protocol": {"model": model, "n": 1, "temperature": temperature, "top_p": 1.0,
                     "max_tokens": 64, "seeds": [0], "template": "r1"},
        "benchmarks": {"bench": {"avg@n": avg, "stderr": 0.05, "problems": problems}}}))
    rows = [{"benchmark": "bench", "problem_id": f"p{i}", "samples": 1, "correct": int(a),
             "accuracy": float(a), "greedy": None} for i, a in enumerate(accuracies)]
    pq.write_table(pa.Table.from_pylist(rows, schema=PROBLEMS), root / "eval_problems.parquet")
    return str(root)


def test_compare_two_models_with_a_paired_interval(tmp_path, capsys):
    base = fake_eval(tmp_path / "base", "m0", [0] * 30 + [1] * 10)
    better = fake_eval(tmp_path / "better", "m1", [1] * 30 + [1] * 10, temperature=0.7)
    assert cmp.main([better, "--baseline", base, "--out", str(tmp_path / "cmp")]) == 0
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert result["baseline"] == base
    assert result["protocol_keys_differ"] == ["temperature"]
    (row,) = result["benchmarks"]
    baseline_cell, better_cell = row["models"]
    assert "vs_baseline" not in baseline_cell
    d = better_cell["vs_baseline"]
    assert d["problems"] == 40 and d["diff"] == 0.75 and 0.6 < d["low"] <= 0.75 <= d["high"]
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| bench | 25.0 ± 5.0 | 100.0 ± 5.0 (+75.0, 95% CI" in table
    assert "Protocols differ in: temperature" in table
    assert "<table>" in (tmp_path / "cmp" / "compare.html").read_text()
    assert "bench" in capsys.readouterr().out


def test_an_unfinished_evaluation_is_refused(tmp_path, capsys):
    base = fake_eval(tmp_path / "base", "m0", [1, 0])
    assert cmp.main([base, str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a finished evaluation" in capsys.readouterr().err
