"""Problem filters in real runs: planted exact and near duplicates and benchmark
problems are removed with the right reason and detail, and nothing else is; every
input row ends in the staged problems or in removed/ exactly once; the same on the
moto S3 server; a rerun after a driver kill removes the same rows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.dataset as pads
import pytest
import ray.data

from raydistill import records
from raydistill.config import load
from raydistill.filters import problems
from raydistill.filters.problems import REMOVED, filter_problems
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest
from raydistill.output.storage import write_table_atomic
from raydistill.pipeline import run
from raydistill.sources import problem_id, read_problems
from tests.conftest import http_teacher
from tests.support.paths import REPO
from tests.support.runs import finish, kill_when, manifest_says

pytestmark = pytest.mark.slow

GSM8K = [json.loads(line) for line in (REPO / "data/gsm8k/test-300.jsonl").read_text().splitlines()]
BASE = GSM8K[100:140]
BENCH = GSM8K[:20]


def reformat(text: str) -> str:
    """The same problem, typed differently: case, spacing, punctuation, 1000 -> 1,000."""
    text = re.sub(r"\b(\d)(\d{3})\b", r"\1,\2", text)
    return "  " + text.upper().replace(" ", "   ").replace("?", " ?!") + "\n"


def reword(text: str) -> str:
    """A near twin: a few words changed at the end."""
    words = text.split()
    return " ".join(words[:-3] + ["exactly", "what", "remains?"])


def planted_rows() -> tuple[list[dict], dict[str, tuple[str, str]]]:
    """The planted rows and, by planted problem id, (reason, what the detail must name)."""
    rows, expected = [], {}
    for i in (0, 5, 9):  # exact duplicates of base problems
        q = reformat(BASE[i]["question"])
        rows.append({"question": q, "answer": BASE[i]["answer"]})
        expected[problem_id("planted", q)] = ("duplicate", problem_id("base", BASE[i]["question"]))
    for i in (1, 6, 12):  # near duplicates
        q = reword(BASE[i]["question"])
        rows.append({"question": q, "answer": BASE[i]["answer"]})
        expected[problem_id("planted", q)] = ("near_duplicate",
                                              problem_id("base", BASE[i]["question"]))
    for i in (0, 3, 7):  # benchmark problems, embedded in a longer text
        q = f"Here is a question for you. {BENCH[i]['question']} Show your work."
        rows.append({"question": q, "answer": BENCH[i]["answer"]})
        expected[problem_id("planted", q)] = ("contaminated", BENCH[i]["question"][:60])
    return rows, expected


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("filters-data")
    planted, expected = planted_rows()
    for name, rows in (("base", BASE), ("planted", planted), ("bench", BENCH)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root, expected


def args(root: Path, uri: str, base_url: str) -> list[str]:
    """The run, its teacher the session's shared `vllm serve` (the subject is filtering)."""
    return [*http_teacher(base_url),
        "conf=gsm8k_local", f"output.uri={uri}", "source.limit=null", "sampling.n=1",
        f"source.datasets=[{{name: base, format: jsonl, path: '{root}/base.jsonl', preset: gsm8k}},"
        f" {{name: planted, format: jsonl, path: '{root}/planted.jsonl', preset: gsm8k}}]",
        f"filters.decontam.benchmarks=[{{name: gsm8k_bench, format: jsonl,"
        f" path: '{root}/bench.jsonl', preset: gsm8k}}]",
    ]


def start(argv: list[str]) -> subprocess.Popen:  # test_resume's, with this file's arguments
    """The real driver, ``python -m raydistill.run``, in its own session (see test_resume)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.setdefault("RAY_raylet_start_wait_time_s", "180")
    log = tempfile.NamedTemporaryFile("w+", prefix="raydistill-driver-", suffix=".log")
    proc = subprocess.Popen([sys.executable, "-m", "raydistill.run", *argv], cwd=REPO, env=env,
                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def removed_rows(out: OutputLocation) -> dict[str, dict]:
    table = pads.dataset(out.removed, filesystem=out.fs, format="parquet").to_table()
    found = {r["problem_id"]: r for r in table.to_pylist()}
    assert len(found) == table.num_rows, "a problem is in removed/ twice"
    return found


def check_removed(out: OutputLocation, expected: dict[str, tuple[str, str]]) -> None:
    removed = removed_rows(out)
    assert sorted(removed) == sorted(expected)  # the planted rows, and nothing else
    for pid, (reason, named) in expected.items():
        row = removed[pid]
        assert row["reason"] == reason, (pid, row)
        assert row["source"] == "planted" and row["source_index"] is not None
        if reason == "contaminated":
            evidence = json.loads(row["detail"])
            assert evidence["benchmark"] == "gsm8k_bench" == row["benchmark"]
            assert evidence["benchmark_problem"].startswith(named)
            assert len(evidence["ngram"].split()) == 13
        else:
            assert row["detail"] == named
    kept = pads.dataset(out.problems, filesystem=out.fs, format="parquet").to_table()
    ids = kept["problem_id"].to_pylist()
    # Every input row exactly once: kept or removed, never both, none lost.
    assert len(ids) == len(set(ids)) == len(BASE)
    assert not set(ids) & set(removed)
    assert set(ids) | set(removed) == {problem_id("base", r["question"]) for r in BASE} | set(
        expected)


@pytest.fixture(scope="module")
def shared_run(ray_cluster, data, vllm_server, tmp_path_factory):
    root, expected = data
    cfg = load(args(root, str(tmp_path_factory.mktemp("filters-run") / "out"), vllm_server))
    out = OutputLocation(cfg.output)
    return cfg, out, run(cfg, out), expected


def test_planted_rows_removed_with_reason_and_detail(shared_run):
    cfg, out, summary, expected = shared_run
    check_removed(out, expected)
    assert summary["removed"]["removed"] == {"contaminated": 3, "duplicate": 3,
                                             "near_duplicate": 3}
    assert summary["removed"]["removed_by_benchmark"] == {"gsm8k_bench": 3}
    assert summary["removed"]["kept"] == len(BASE)
    assert summary["rows_in_all"] == len(BASE)  # removed problems cost no teacher time
    assert "removed" in (out.fs.open_input_stream(f"{out.root}/report.html").read().decode())


def test_rerun_after_driver_kill_on_s3_removes_the_same_rows(shared_run, s3_server, data,
                                                            vllm_server):
    """One driver on the moto S3 server killed between staging and the filters' commit,
    with what a kill mid-filter leaves (parts of both outputs); the rerun filters again,
    removes the same rows as the local run, none twice, and finishes."""
    root, expected = data
    _, first, _, _ = shared_run
    argv = [*args(root, "s3://raydistill-test/filters/killed", vllm_server),
            f"output.s3_endpoint={s3_server}",
            "sampling.max_tokens=16"]
    out = OutputLocation(load(argv).output)
    kill_when(start(argv), manifest_says(out, "staged"))
    manifest = load_manifest(out)
    assert manifest is not None and manifest.staged and manifest.filtered is None
    stale = removed_rows(first)
    write_table_atomic(out.fs, f"{out.removed}/stale.parquet",
                       records.table(list(stale.values())[:2], REMOVED))
    kept = pads.dataset(first.problems, filesystem=first.fs, format="parquet").to_table()
    write_table_atomic(out.fs, f"{out.problems}/stale.parquet", kept.slice(0, 3))
    finish(start(argv))
    manifest = load_manifest(out)
    assert manifest is not None and manifest.filtered is not None and manifest.published
    check_removed(out, expected)
    assert removed_rows(out) == stale
    assert manifest.filtered["removed"] == {"contaminated": 3, "duplicate": 3,
                                            "near_duplicate": 3}


def test_a_cluster_spread_over_blocks_and_partitions_is_one_cluster(ray_cluster, tmp_path,
                                                                    monkeypatch):
    """Ten copies of one problem (retyped, or words changed) in ten input files among
    strangers; three shuffle partitions of ~3.5 KB each under a 1 KiB block-size target,
    which Ray Data would split if it were allowed to: the band buckets are still grouped
    whole, so every copy joins the first one's cluster."""
    twin = BASE[3]["question"]
    copies = [twin.upper(), twin.replace(" ", "  "), reword(twin), *(
        " ".join(w if k != at else "banana" for k, w in enumerate(twin.split()))
        for at in (1, 4, 9, 14, 20, 25, 30))]
    rows = [r for i, q in enumerate(copies) for r in ({"question": q, "answer": "#### 1"},
                                                      *BASE[10 + 2 * i: 12 + 2 * i])]
    data = tmp_path / "spread.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [BASE[3], *rows]))
    cfg = load(["conf=local", f"output.uri={tmp_path / 'out'}", "source.limit=null",
                f"source.datasets=[{{name: spread, path: '{data}', preset: gsm8k}}]",
                "filters.exact=true", "filters.near.enabled=true"])
    out = OutputLocation(cfg.output)
    staged = out.stage_problems(read_problems(cfg.source), 3, out.inputs)
    assert staged["problems"] == 31
    context = ray.data.DataContext.get_current()
    monkeypatch.setattr(context, "target_max_block_size", 1024)
    monkeypatch.setattr(problems, "BUCKET_ROWS_PER_PARTITION", 250)  # 31 x 21 rows: 3 parts
    tally = filter_problems(cfg, out, staged["problems"])
    gone = removed_rows(out)
    first = problem_id("spread", twin)
    assert sorted(gone) == sorted(problem_id("spread", q) for q in copies)
    assert {r["detail"] for r in gone.values()} == {first}
    assert tally["removed"] == {"duplicate": 2, "near_duplicate": 8}
