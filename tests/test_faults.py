"""Faults during a real run (Ray, vLLM on CPU, the tiny teacher): a vLLM engine killed
mid-run, a verifier actor killed, poison rows, the error cap.

Recovery is Ray's own: Ray Data's actor pools restart dead actors
(``max_restarts=-1``) and resubmit their in-flight batches (``ray.max_task_retries``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import psutil
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from raydistill.config import load
from raydistill.output.checks import RunFailed
from raydistill.output.location import OutputLocation
from raydistill.pipeline import run

pytestmark = pytest.mark.slow

PROBLEMS, SAMPLES = 160, 2
ARGS = [f"source.limit={PROBLEMS}", f"sampling.n={SAMPLES}", "ray.rows_per_block=4",
        "teacher.batch_size=4", "verify.batch_size=4"]


def committed(out: OutputLocation) -> int:
    infos = out.fs.get_file_info(pafs.FileSelector(out.checkpoint, allow_not_found=True))
    return sum(1 for i in infos if i.base_name.endswith(".parquet")
               and not i.base_name.endswith(".pending.parquet"))


def my_actor_processes(name: str) -> list[psutil.Process]:
    """Live Ray actor processes whose title names ``name``, among this test's descendants.

    Walking our own process tree (the local cluster's raylet is our child) means
    another Ray cluster on the same machine is never touched.
    """
    found = []
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if name in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Killer(threading.Thread):
    """Waits for the first committed block, then kills the processes ``pick`` returns."""

    def __init__(self, out: OutputLocation, pick) -> None:
        super().__init__(daemon=True)
        self.out, self.pick = out, pick
        self.killed: list[int] = []
        self.done_at_kill = -1
        self.teacher_pid: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 600
            while committed(self.out) == 0:
                assert time.monotonic() < deadline, "no block was ever committed"
                time.sleep(0.05)
            self.done_at_kill = committed(self.out)
            teacher = my_actor_processes("MapWorker(MapBatches(VLLMTeacher))")
            self.teacher_pid = teacher[0].pid if teacher else None
            for proc in self.pick():
                proc.send_signal(signal.SIGKILL)
                self.killed.append(proc.pid)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc


def run_with(out_dir, pick, *extra) -> tuple[dict, Killer, OutputLocation]:
    cfg = load(["conf=local", f"output.uri={out_dir}", *ARGS, *extra])
    out = OutputLocation(cfg.output)
    killer = Killer(out, pick)
    killer.start()
    summary = run(cfg, out)
    killer.join(timeout=60)
    assert killer.error is None, killer.error
    return summary, killer, out


def exactly_once(out: OutputLocation) -> None:
    table = pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table()
    keys = list(zip(table["problem_id"].to_pylist(), table["sample_idx"].to_pylist(),
                    strict=True))
    assert len(keys) == len(set(keys)) == PROBLEMS * SAMPLES
    # Nothing lost to the fault: every problem has its samples, none an error row.
    assert table.filter(pads.field("response").is_null()).num_rows == 0


def test_vllm_engine_killed_mid_run(ray_cluster, tmp_path):
    def engine_processes():
        actors = my_actor_processes("MapWorker(MapBatches(VLLMTeacher))")
        assert len(actors) == 1, actors
        # The engine core is a child process of the actor (vLLM's multiprocess
        # engine): killing it is a real engine crash, seen as EngineDeadError.
        children = actors[0].children(recursive=True)
        assert children, "the teacher actor has no engine process"
        return children

    summary, killer, out = run_with(tmp_path / "out", engine_processes)
    assert killer.killed and killer.done_at_kill < PROBLEMS // 4
    exactly_once(out)
    assert summary["samples"] == PROBLEMS * SAMPLES and summary["errors"] == 0
    # The dead engine took its actor down; the pool runs a new one with a fresh engine.
    assert [p.pid for p in my_actor_processes("MapWorker(MapBatches(VLLMTeacher))")] != [
        killer.teacher_pid]


def test_verifier_actor_killed_mid_run(ray_cluster, tmp_path):
    def verifier_process():
        actors = my_actor_processes("MapWorker(MapBatches(VerifierActor))")
        assert len(actors) == 1, actors
        return actors

    summary, killer, out = run_with(tmp_path / "out", verifier_process)
    assert killer.killed and killer.done_at_kill < PROBLEMS // 4
    exactly_once(out)
    assert summary["samples"] == PROBLEMS * SAMPLES


LONG_QUESTION = "How many apples? " * 400  # ~2000 tokens > max_model_len 512


def test_poison_rows_are_isolated_and_the_error_cap_fails_loudly(ray_cluster, tmp_path):
    src = tmp_path / "poison.jsonl"
    rows = [
        {"question": "Tom has 3 apples and gets 4 more. How many apples?", "answer": "#### 7"},
        {"question": LONG_QUESTION, "answer": "#### 1"},  # exceeds the context
        {"question": "no answer field"},  # bad input
        {"question": "What is 2 + 2?", "answer": "#### abc"},  # the math checker cannot read it
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sources = (
        "source.datasets=[{name: synthetic, format: synthetic_arithmetic, limit: 6},"
        f" {{name: poison, format: jsonl, path: '{src}', preset: gsm8k}}]"
    )
    args = ["conf=local", f"output.uri={tmp_path / 'out'}", "source.limit=10", "sampling.n=2",
            sources]
    cfg = load([*args, "output.max_error_fraction=0.05"])
    out = OutputLocation(cfg.output)
    with pytest.raises(RunFailed, match=r"over output.max_error_fraction=0.05"):
        run(cfg, out)
    # Nothing was published; the rows wait under _work/publish.
    assert out.fs.get_file_info(out.all).type == pafs.FileType.NotFound

    # The cap is an output setting: raising it resumes the same run and publishes.
    summary = run(load([*args, "output.max_error_fraction=0.5"]), out)
    table = pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table()
    details = [d for d, v in zip(table["verdict_detail"].to_pylist(),
                                 table["verdict"].to_pylist(), strict=True) if v == "error"]
    assert any(d.startswith("teacher: prompt too long") for d in details)
    assert "input: missing field 'answer'" in details
    assert any("not parseable" in d for d in details), details  # the checker's error
    # The poison is isolated: every good problem has all its samples.
    good = table.filter(pads.field("source") == "synthetic")
    assert good.num_rows == 12 and set(good["verdict"].to_pylist()) <= {"pass", "fail"}
    assert summary["attempts"] == 2
