"""problems/ of the shared demo run, and `raydistill select` feeding a second, small run.

The second run generates through the session's shared `raydistill serve` (its
subject is the problem list, not the engine), so it starts no engine of its own.
"""

import json

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from raydistill.cli import main as cli
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest
from raydistill.output.problems import read_problem_table
from raydistill.pipeline import run
from tests.conftest import http_teacher

pytestmark = pytest.mark.slow


def test_the_demo_run_writes_its_problem_table(demo_run):
    out = OutputLocation(demo_run.cfg.output)
    summary = demo_run.summary
    table = read_problem_table(out)
    everything = pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table()
    # One row per problem of all/: 25 generated, 3 bad input rows, 1 prompt too long.
    assert table.num_rows == len(set(everything["problem_id"].to_pylist())) == 29
    assert pc.sum(table["samples"]).as_py() == summary["samples"] == 75
    assert pc.sum(table["verified"]).as_py() == summary["verified"]
    assert table.filter(pc.is_null(table["pass_rate"])).num_rows == 4  # no sample to rate
    assert summary["problem_table"]["problems"] == 29
    assert summary["problem_table"]["solved"] == summary["problems_with_a_verified_sample"]
    assert load_manifest(out).problem_table == summary["problem_table"]
    suspects = {p["problem_id"] for p in summary["labels"]["suspect_problems"]}
    for row in table.to_pylist():
        votes = sum(a["count"] for a in row["answers"])
        assert votes == row["answered"] <= row["samples"]
        if votes:  # the majority is the first answer, its share of the votes
            assert row["majority_answer"] == row["answers"][0]["answer"]
            assert row["majority_share"] == row["answers"][0]["count"] / votes
            assert row["gold_agrees"] in (True, False)
        # A problem with samples was checked against its gold; the rows that could not be
        # generated (bad input, the prompt too long) were checked against nothing.
        gold = "gold" if row["ground_truth_solution"] and row["samples"] else "none"
        assert row["label_source"] == gold
        assert row["suspect_gold"] == (row["problem_id"] in suspects)
    # The verl export's extra_info carries the same pass rate per problem.
    verl = pads.dataset(str(demo_run.uri / "exports/verl/data"), format="parquet").to_table()
    rates = {r["problem_id"]: r["pass_rate"] for r in verl["extra_info"].to_pylist()}
    profiled = {r["problem_id"]: r["pass_rate"] for r in table.to_pylist()}
    assert len(rates) == 25 and all(profiled[p] == rate for p, rate in rates.items())
    assert "Problems by pass rate" in (demo_run.uri / "report.html").read_text()
    assert "## Problems" in (demo_run.uri / "README.md").read_text()


def test_select_feeds_a_second_run(demo_run, vllm_server, tmp_path, capsys):
    target = tmp_path / "chosen.parquet"
    assert cli(["select", str(demo_run.uri), str(target), "limit=3", "seed=1"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["chosen"] == 3
    chosen = pads.dataset(str(target), format="parquet").to_table().to_pylist()
    uri = tmp_path / "second"
    cfg = load(["conf=local", *http_teacher(vllm_server), f"output.uri={uri}",
                "sampling.n=1", "source.limit=null",
                f"source.datasets=[{done['source'].replace('NAME', 'chosen')}]"])
    summary = run(cfg, OutputLocation(cfg.output))
    assert summary["problems_read"] == 3 and summary["input_errors"] == 0
    rows = pads.dataset(str(uri / "all"), format="parquet").to_table().to_pylist()
    assert sorted(r["problem"] for r in rows) == sorted(r["problem"] for r in chosen)
    gold = {r["problem"]: r["ground_truth_solution"] for r in chosen}
    assert all(r["ground_truth_solution"] == gold[r["problem"]] for r in rows)
    assert {r["source"] for r in rows} == {"chosen"}
    assert read_problem_table(OutputLocation(cfg.output)).num_rows == 3
