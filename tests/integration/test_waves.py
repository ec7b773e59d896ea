"""Adaptive sampling with escalation end to end: the real driver (`python -m raydistill.run`)
SIGKILLed with its Ray cluster in the middle of a wave of its second teacher, then rerun to
the end.

No vLLM engine of its own: the session's shared `vllm_server` (conftest; the shipped
tiny teacher behind vLLM's OpenAI server, in its own session, which the kill does not
touch), and the pipeline's HTTP teacher asking it. The driver's waves each start their own teacher
pool, so an in-pipeline vLLM teacher would cost an engine start per wave and per rerun.
Escalation: wave 0 asks the `teacher` section, waves 1-2 the named teacher `strong` (the same
server, its own prices), so the run's accounting per teacher is checked against its rows.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import pyarrow.dataset as pads
import pytest

from raydistill.output.manifest import load_manifest
from raydistill.output.problems import read_problem_table
from tests.conftest import http_teacher
from tests.support.runs import files, finish, kill_when, location, start

pytestmark = pytest.mark.slow

# The plan: 2 + 2 + 2 samples (the last wave cut at the cap); waves 1-2 escalate to `strong`.
WAVES = "[2, {n: 2, teacher: strong}, {n: 4, teacher: strong}]"
CAP, K = 6, 2
OFFSETS = {0: 0, 1: 2, 2: 4}
TEACHER_OF = {0: "teacher", 1: "strong", 2: "strong"}
PRICES = {"teacher": 1.0, "strong": 20.0}  # USD per million completion tokens


def mid_wave(out, wave):
    """Wave ``wave`` started (staged in the manifest) and at least one of its blocks written."""
    def ready() -> bool:
        try:
            manifest = load_manifest(out)
        except (OSError, json.JSONDecodeError):
            return False
        return (manifest is not None and len(manifest.waves or []) > wave
                and bool(files(out, out.pass_paths(wave).checkpoint)))
    return ready


def test_adaptive_waves_killed_mid_wave_and_resumed(tmp_path, vllm_server):
    uri = str(tmp_path / "out")
    strong = [f"teachers.strong.{o.removeprefix('teacher.')}" for o in http_teacher(vllm_server)]
    extra = [*http_teacher(vllm_server), "source.limit=32", "sampling.max_tokens=128",
             *strong, f"teacher.price_output_per_million={PRICES['teacher']}",
             f"teachers.strong.price_output_per_million={PRICES['strong']}",
             f"sampling.waves={WAVES}", f"sampling.max_samples={CAP}",
             f"sampling.stop_at_verified={K}"]
    out = location(uri, *extra)
    driver = start(uri, *extra)
    kill_when(driver, mid_wave(out, 1))
    killed_at = time.time()
    at_kill = load_manifest(out)
    assert [w["generated"] for w in at_kill.waves[:2]] == [True, False], at_kill.waves
    assert not at_kill.generated and at_kill.published is None

    finish(start(uri, *extra))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    manifest = load_manifest(out)
    assert summary["attempts"] == 2 and manifest.generated
    rows = pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table().to_pylist()

    # Exactly once: no (problem, sample) twice, and the same wave-1 problems as staged.
    keys = [(r["problem_id"], r["sample_idx"]) for r in rows]
    assert len(keys) == len(set(keys))
    by_problem = defaultdict(list)
    for row in rows:
        by_problem[row["problem_id"]].append(row)
    assert len(by_problem) == 32 == summary["problems_read"]

    # Wave 0 was committed before the kill and not generated again.
    wave0 = [r for r in rows if r["wave"] == 0]
    assert len(wave0) == 64 and all(r["generated_at"] < killed_at for r in wave0)
    # The rerun generated what the kill left: the rest of wave 1 (when the kill came before
    # its last block was committed) and wave 2, which the killed driver never started.
    assert any(r["wave"] >= 1 and r["generated_at"] > killed_at for r in rows)
    assert not any(r["wave"] == 2 and r["generated_at"] < killed_at for r in rows)

    for pid, mine in by_problem.items():
        mine.sort(key=lambda r: r["sample_idx"])
        # The wave column and the reserved sample indices agree; the cap holds.
        for r in mine:
            w = r["wave"]
            assert OFFSETS[w] <= r["sample_idx"] < OFFSETS[w] + 2 and r["n"] == 2
            # Each row names the teacher of its wave, and its model.
            assert (r["teacher_name"], r["teacher"]) == (TEACHER_OF[w], "tiny-teacher")
        assert len(mine) <= CAP
        waves = sorted({r["wave"] for r in mine})
        assert waves == list(range(len(waves)))  # no wave skipped
        # Stop at k: a later wave only for a problem with fewer than K verified before it.
        for w in waves[1:]:
            assert sum(r["verified"] for r in mine if r["wave"] < w) < K, pid
        # ... and a problem that stopped short of the cap had K verified (or an error).
        if len(mine) < CAP:
            assert (sum(r["verified"] for r in mine) >= K
                    or any(r["verdict"] == "error" for r in mine)), pid
    assert any(len(m) == CAP for m in by_problem.values())  # some reached the cap
    assert any(len(m) < CAP for m in by_problem.values())  # some stopped at k

    # The summary's per-wave counts are the rows'.
    for entry in summary["waves"]:
        mine = [r for r in rows if r["wave"] == entry["wave"]]
        assert entry["samples"] == len(mine)
        assert entry["verified"] == sum(r["verified"] for r in mine)
        assert entry["problems"] == len({r["problem_id"] for r in mine})
    assert [w["problems"] for w in summary["waves"]] == [
        w["problems"] for w in manifest.waves] + [0] * (3 - len(manifest.waves))
    # Per teacher: samples, verified, tokens, cost at its own price, problems first solved.
    first = {}
    for pid, mine in by_problem.items():
        solved = [r["wave"] for r in mine if r["verified"]]
        if solved:
            first[pid] = TEACHER_OF[min(solved)]
    assert set(summary["teachers"]) == {"teacher", "strong"}
    for name, entry in summary["teachers"].items():
        mine = [r for r in rows if r["teacher_name"] == name and r["response"] is not None]
        tokens = sum(r["completion_tokens"] for r in mine)
        assert (entry["samples"], entry["verified"], entry["completion_tokens"]) == (
            len(mine), sum(r["verified"] for r in mine), tokens)
        assert entry["newly_solved"] == sum(t == name for t in first.values())
        assert entry["cost"] == pytest.approx(tokens * PRICES[name] / 1e6, rel=1e-6)
    assert summary["teachers"]["strong"]["samples"] > 0
    assert summary["usage"]["cost"] == pytest.approx(
        sum(t["cost"] for t in summary["teachers"].values()))
    # The run's report has the waves side by side, their counts as in the summary.
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Adaptive sampling: waves" in html and "Escalation: per teacher" in html
    # problems/: the wave that first solved each problem, as its rows say.
    table = {r["problem_id"]: r for r in read_problem_table(out).to_pylist()}
    assert set(table) == set(by_problem)
    for pid, mine in by_problem.items():
        solved = [r["wave"] for r in mine if r["verified"]]
        assert table[pid]["first_solved_wave"] == (min(solved) if solved else None), pid
    for entry in summary["waves"]:
        assert (f"<td>{entry['wave']}</td><td>{entry['n']}</td><td>{entry['problems']}</td>"
                f"<td>{entry['samples']}</td><td>{entry['verified']}</td>") in html
