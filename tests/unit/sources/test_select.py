"""`raydistill select`: filters on a real problems/ table, its list read back as a source."""

import json

import pyarrow.parquet as pq
import pytest

from raydistill import records
from raydistill.cli import main as cli
from raydistill.config import load
from raydistill.errors import ConfigError
from raydistill.output.location import OutputLocation
from raydistill.output.storage import StorageError, write_table_atomic
from raydistill.sources import read_problems
from raydistill.sources.select import SelectConfig, options, select

TESTS = json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})


def profile(i, rate, tokens, domain="math", suspect=False, wave=None):
    samples = 4
    return {"problem_id": f"p{i}", "source": "gsm8k", "source_index": i, "domain": domain,
            "problem": f"What is {i} + 1?", "ground_truth_solution": f"#### {i + 1}",
            "test_cases": TESTS if domain == "code" else "", "starter_code": "",
            "samples": samples if rate is not None else 0,
            "verified": round((rate or 0) * samples), "errors": 0, "pass_rate": rate,
            "answered": samples, "answers": [], "majority_answer": str(i + 1),
            "majority_share": 1.0, "gold_agrees": True, "suspect_gold": suspect,
            "label_source": "gold", "mean_completion_tokens": tokens,
            "median_completion_tokens": tokens, "truncated_share": 0.0,
            "first_solved_wave": wave}


PROBLEMS = [profile(0, 0.0, 900.0), profile(1, 0.25, 500.0, wave=1),
            profile(2, 0.5, 300.0, suspect=True, wave=0), profile(3, 1.0, 100.0, wave=0),
            profile(4, None, None),  # a bad input row: never chosen
            profile(5, 0.75, 700.0, wave=0)]


@pytest.fixture
def run(tmp_path):
    """A finished run's folder holding only its problems/ table (what select reads)."""
    out = OutputLocation(load(["conf=local", f"output.uri={tmp_path / 'run'}"]).output)
    write_table_atomic(out.fs, f"{out.problem_table}/part-00000.parquet",
                       records.table(PROBLEMS, records.PROBLEM_PROFILE))
    return str(tmp_path / "run")


def chosen(run, tmp_path, *keys):
    target = str(tmp_path / "list.parquet")
    select(run, target, options([k.split("=", 1) for k in keys]))
    return [int(p[1:]) for p in pq.read_table(target).column("problem_id").to_pylist()]


def test_each_filter(run, tmp_path):
    assert chosen(run, tmp_path) == [0, 1, 2, 3, 5]
    assert chosen(run, tmp_path, "min_pass_rate=0.1", "max_pass_rate=0.9") == [1, 2, 5]
    assert chosen(run, tmp_path, "unsolved=true") == [0]
    assert chosen(run, tmp_path, "solved_in_wave=0") == [2, 3, 5]
    assert chosen(run, tmp_path, "suspect=true") == [2]
    assert chosen(run, tmp_path, "suspect=false", "solved_in_wave=0") == [3, 5]
    assert chosen(run, tmp_path, "longest=2") == [0, 5]
    assert chosen(run, tmp_path, "longest_share=0.5", "min_pass_rate=0.1") == [1, 5]
    drawn = chosen(run, tmp_path, "limit=3", "seed=1")
    assert len(drawn) == 3 and drawn == chosen(run, tmp_path, "limit=3", "seed=1")
    assert {tuple(chosen(run, tmp_path, "limit=3", f"seed={s}")) for s in range(8)} != {
        tuple(drawn)}


def test_the_list_is_a_source_with_the_problems_own_fields(run, tmp_path):
    for suffix in ("parquet", "jsonl"):
        target = tmp_path / f"hard.{suffix}"
        done = select(run, str(target), options([("max_pass_rate", 0.3)]))
        assert (done["problems"], done["chosen"]) == (6, 2)
        cfg = load(["conf=local", f"source.datasets=[{done['source'].replace('NAME', 'hard')}]"])
        rows = list(read_problems(cfg.source))
        assert [r["problem"] for r in rows] == ["What is 0 + 1?", "What is 1 + 1?"]
        assert [r["ground_truth_solution"] for r in rows] == ["#### 1", "#### 2"]
        assert {r["domain"] for r in rows} == {"math"}
        assert all(r["input_error"] is None and r["source"] == "hard" for r in rows)


def test_code_problems_keep_their_tests(tmp_path):
    out = OutputLocation(load(["conf=local", f"output.uri={tmp_path / 'run'}"]).output)
    write_table_atomic(out.fs, f"{out.problem_table}/part-00000.parquet", records.table(
        [profile(0, 0.5, 10.0, domain="code"), profile(1, 0.5, 10.0)],
        records.PROBLEM_PROFILE))
    # A source has one domain: a mixed choice must name it.
    with pytest.raises(ConfigError, match="config key 'domain'.*'code', 'math'"):
        select(str(tmp_path / "run"), str(tmp_path / "x.jsonl"), SelectConfig())
    done = select(str(tmp_path / "run"), str(tmp_path / "code.jsonl"),
                  options([("domain", "code")]))
    cfg = load(["conf=local", f"source.datasets=[{done['source'].replace('NAME', 'c')}]"])
    (row,) = read_problems(cfg.source)
    assert (row["domain"], row["test_cases"], row["input_error"]) == ("code", TESTS, None)


def test_bad_keys_and_missing_tables_are_refused(run, tmp_path, capsys):
    with pytest.raises(ConfigError, match="config key 'max_pass'.*max_pass_rate"):
        options([("max_pass", 0.9)])
    with pytest.raises(ConfigError, match="config key 'min_pass_rate'"):
        options([("min_pass_rate", 0.8), ("max_pass_rate", 0.2)])
    with pytest.raises(ConfigError, match="config key 'longest'"):
        options([("longest", 2), ("longest_share", 0.5)])
    with pytest.raises(StorageError, match="no problems/ table"):
        select(str(tmp_path), str(tmp_path / "x.parquet"), SelectConfig())
    assert cli(["select", run, str(tmp_path / "x.csv")]) == 2
    assert cli(["select", run, str(tmp_path / "x.jsonl"), "limt=3"]) == 2
    assert "config key 'limt'" in capsys.readouterr().err
    assert cli(["select", run, str(tmp_path / "x.jsonl"), "limit=2"]) == 0
    assert json.loads(capsys.readouterr().out)["chosen"] == 2
