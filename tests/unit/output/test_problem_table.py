"""problems/: the per-problem table of a real all/ (local Parquet, real math checker, no Ray)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raydistill import pipeline, records
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest, open_run
from raydistill.output.problems import read_problem_table, write_problem_table
from raydistill.output.storage import StorageError


def sample(pid, idx, solution, verified, reason, tokens=100, domain="math", gold="#### 7",
           **extra):
    return {"problem_id": pid, "sample_idx": idx, "source": "s", "source_index": int(pid[1:]),
            "domain": domain, "problem": f"question {pid}", "ground_truth_solution": gold,
            "test_cases": "", "starter_code": "", "response": None if reason == "input_error"
            else "r", "solution": solution, "verified": verified, "reason": reason,
            "completion_tokens": tokens, **extra}


ROWS = [
    # p1: 1/2, 0.5 and \frac{1}{2} are one answer to the math verifier; 3 another.
    *[sample("p1", i, f"\\boxed{{{a}}}", ok, "pass" if ok else "wrong_answer", gold="#### 0.5",
             tokens=t)
      for i, (a, ok, t) in enumerate([("1/2", True, 10), ("0.5", True, 20),
                                      ("\\frac{1}{2}", True, 30), ("3", False, 40)])],
    # p2: the majority (8, 3 of 4 answered) disagrees with the gold 7; one truncated, one
    # verifier error: neither votes, the error is no pass rate sample failure either.
    *[sample("p2", i, s, ok, reason)
      for i, (s, ok, reason) in enumerate([("\\boxed{8}", False, "wrong_answer"),
                                           ("\\boxed{8.0}", False, "wrong_answer"),
                                           ("\\boxed{8}", False, "wrong_answer"),
                                           ("\\boxed{7}", True, "pass"),
                                           ("\\boxed{7", False, "truncated"),
                                           ("\\boxed{9}", False, "verifier_error")])],
    # p3: a bad input row: no sample, no pass rate.
    sample("p3", 0, None, False, "input_error", tokens=0),
    # p4: multiple choice, unanimous and right.
    *[sample("p4", i, "Answer: B", True, "pass", domain="mcq", gold="B") for i in range(2)],
]


def write_all(tmp_path, rows, schema=records.OUTPUT):
    cfg = load(["conf=local", f"output.uri={tmp_path / 'out'}"])
    out = OutputLocation(cfg.output)
    open_run(out, cfg).save(out)  # the run's manifest, as a run writes it first
    out.fs.create_dir(out.all, recursive=True)
    half = len(rows) // 2  # a problem's rows across two parts
    pq.write_table(records.table(rows[:half], schema), f"{out.all}/part-00000.parquet")
    pq.write_table(records.table(rows[half:], schema), f"{out.all}/part-00001.parquet")
    return cfg, out


def test_the_table_counts_votes_and_audits_each_problem(tmp_path):
    _, out = write_all(tmp_path, ROWS)
    # Leftovers of a write killed half way are not part of the table.
    out.fs.create_dir(out.staged_problem_table, recursive=True)
    pq.write_table(pa.table({"x": [1]}), f"{out.staged_problem_table}/part-00007.parquet")
    tally = write_problem_table(out)
    table = read_problem_table(out)
    assert table.schema.equals(records.PROBLEM_PROFILE, check_metadata=False)
    got = {r["problem_id"]: r for r in table.to_pylist()}
    assert set(got) == {"p1", "p2", "p3", "p4"}

    p1 = got["p1"]
    assert (p1["samples"], p1["verified"], p1["pass_rate"]) == (4, 3, 0.75)
    assert [a["count"] for a in p1["answers"]] == [3, 1]
    assert p1["answers"][1]["answer"] == "3"
    assert p1["majority_share"] == 0.75 and p1["gold_agrees"] is True
    assert (p1["mean_completion_tokens"], p1["median_completion_tokens"]) == (25.0, 25.0)
    assert p1["problem"] == "question p1" and p1["ground_truth_solution"] == "#### 0.5"

    p2 = got["p2"]
    assert (p2["samples"], p2["verified"], p2["errors"], p2["answered"]) == (6, 1, 1, 4)
    assert p2["answers"] == [{"answer": "8", "count": 3}, {"answer": "7", "count": 1}]
    assert (p2["majority_answer"], p2["majority_share"]) == ("8", 0.75)
    assert p2["gold_agrees"] is False  # the majority disagrees with the gold
    assert p2["truncated_share"] == pytest.approx(1 / 6)
    assert p2["label_source"] == "gold" and p2["suspect_gold"] is False

    p3 = got["p3"]
    assert (p3["samples"], p3["pass_rate"], p3["answers"], p3["majority_answer"]) == (
        0, None, [], None)
    assert p3["gold_agrees"] is None

    p4 = got["p4"]
    assert (p4["majority_answer"], p4["gold_agrees"], p4["pass_rate"]) == ("B", True, 1.0)
    assert p4["first_solved_wave"] is None  # a fixed-n run has no waves

    assert tally["problems"] == 4 and tally["with_samples"] == 3
    assert (tally["solved"], tally["gold_agrees"], tally["gold_disagrees"]) == (3, 2, 1)
    assert tally["pass_rate_bins"]["1"] == 1 and tally["pass_rate_bins"]["(0.75, 1)"] == 0
    assert not out.fs.get_file_info(out.staged_problem_table).type.name == "Directory"


def test_waves_and_the_label_columns_are_taken_from_the_rows(tmp_path):
    schema = pa.schema(list(records.WAVE_OUTPUT) + [("label_source", pa.string()),
                                                    ("suspect_gold", pa.bool_())])
    rows = [sample("p1", 0, "\\boxed{3}", False, "wrong_answer", wave=0,
                   label_source="majority", suspect_gold=True),
            sample("p1", 1, "\\boxed{7}", True, "pass", wave=1,
                   label_source="majority", suspect_gold=True),
            sample("p2", 0, "\\boxed{7}", True, "pass", wave=0, gold="",
                   label_source=None, suspect_gold=None)]
    _, out = write_all(tmp_path, rows, schema)
    write_problem_table(out)
    got = {r["problem_id"]: r for r in read_problem_table(out).to_pylist()}
    assert (got["p1"]["first_solved_wave"], got["p2"]["first_solved_wave"]) == (1, 0)
    assert (got["p1"]["label_source"], got["p1"]["suspect_gold"]) == ("majority", True)
    # Without a gold and without the column's value: "none" (until majority labels say more).
    assert (got["p2"]["label_source"], got["p2"]["gold_agrees"]) == ("none", None)


def test_a_run_without_the_table_is_named(tmp_path):
    _, out = write_all(tmp_path, ROWS)
    with pytest.raises(StorageError, match="no problems/ table"):
        read_problem_table(out)


def test_a_finished_run_keeps_its_table_and_an_older_one_gets_it(tmp_path, monkeypatch):
    cfg, out = write_all(tmp_path, ROWS)
    manifest = load_manifest(out)
    manifest.published = {"all": [], "verified": []}
    manifest.save(out)
    out.write_summary({"config": {}, "problems_read": 4})
    monkeypatch.setattr(pipeline, "report_run", lambda out: None)
    monkeypatch.setattr(pipeline, "write_card", lambda out: None)
    # A run finished before problems/ existed gets it on a rerun, summary included.
    summary = pipeline.run(cfg, out, manifest)
    assert summary["problem_table"]["problems"] == 4
    assert load_manifest(out).problem_table["problems"] == 4
    assert out.read_summary()["problem_table"]["problems"] == 4

    def redone(out):
        raise AssertionError("a finished run's problems/ was written again")

    monkeypatch.setattr(pipeline, "write_problem_table", redone)
    assert pipeline.run(cfg, out, load_manifest(out))["problem_table"]["problems"] == 4
