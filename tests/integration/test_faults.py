"""Faults during one real run (Ray, vLLM on CPU, the tiny teacher), all at once:

- a prompt that crashes the vLLM engine every time (a logits processor,
  tests/support/poison_engine.py, raises inside vLLM's engine core when it is scheduled):
  the engine dies twice, the pool restarts the actor with a fresh engine each
  time, and the prompt ends as one error row (teachers/crashes.py);
- a verifier actor SIGKILLed mid-run;
- poison rows: a prompt longer than the context, a row without its answer, an
  answer the math checker cannot read;
- the error cap: the run fails loudly over ``output.max_error_fraction`` and
  publishes nothing; raising the cap resumes the same run and publishes.

Every good problem ends with all its samples exactly once. Recovery is Ray's
own: Ray Data's actor pools restart dead actors (``max_restarts=-1``) and
resubmit their in-flight batches (``ray.max_task_retries``). One run, because
each engine start costs about a minute here.
"""

from __future__ import annotations

import json
import os
import re
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
from tests.support.paths import REPO

pytestmark = pytest.mark.slow

ROOT = REPO
GOOD, SAMPLES = 24, 2
LONG_QUESTION = "How many apples? " * 400  # ~2000 tokens > max_model_len 512


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


class VerifierKiller(threading.Thread):
    """Waits for the first committed block, then SIGKILLs the verifier actor."""

    def __init__(self, out: OutputLocation) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.killed: list[int] = []
        self.done_at_kill = -1
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 600
            while committed(self.out) == 0:
                assert time.monotonic() < deadline, "no block was ever committed"
                time.sleep(0.05)
            self.done_at_kill = committed(self.out)
            actors = my_actor_processes("MapWorker(MapBatches(VerifierActor))")
            assert len(actors) == 1, actors
            for proc in actors:
                proc.send_signal(signal.SIGKILL)
                self.killed.append(proc.pid)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc


@pytest.fixture(scope="module")
def faulty_run(ray_cluster, tmp_path_factory):
    """The run, first under a cap it exceeds, then resumed under a higher one."""
    from tests.support.poison_engine import MARKER

    root = tmp_path_factory.mktemp("faults")
    crash, poison = root / "crash.jsonl", root / "poison.jsonl"
    crash.write_text(json.dumps({"question": f"{MARKER} Tom has 3 apples. How many apples?",
                                 "answer": "#### 3"}) + "\n")
    poison.write_text("".join(json.dumps(r) + "\n" for r in [
        {"question": LONG_QUESTION, "answer": "#### 1"},  # exceeds the context
        {"question": "no answer field"},  # bad input
        {"question": "What is 2 + 2?", "answer": "#### abc"},  # the math checker cannot read it
    ]))
    # The crashing prompt comes first, so it shares its batch of 4 (and the engine)
    # with good problems when it first crashes the engine.
    args = [
        "conf=local", f"output.uri={root / 'out'}", f"source.limit={GOOD + 4}",
        f"sampling.n={SAMPLES}", "ray.rows_per_block=4", "teacher.batch_size=4",
        "verify.batch_size=4",
        f"source.datasets=[{{name: crash, format: jsonl, path: '{crash}', preset: gsm8k}},"
        f" {{name: synthetic, format: synthetic_arithmetic, limit: {GOOD}}},"
        f" {{name: poison, format: jsonl, path: '{poison}', preset: gsm8k}}]",
        "teacher.engine_kwargs={enforce_eager: true, enable_chunked_prefill: false,"
        " logits_processors: ['tests.support.poison_engine:CrashOnMarker']}",
        # The engine core imports the crashing processor from tests/.
        f"teacher.env={{VLLM_CPU_KVCACHE_SPACE: '1', PYTHONPATH: '{ROOT}'}}",
    ]
    cfg = load([*args, "output.max_error_fraction=0.05"])
    out = OutputLocation(cfg.output)
    killer = VerifierKiller(out)
    killer.start()
    with pytest.raises(RunFailed, match=r"over output.max_error_fraction=0.05") as failed:
        run(cfg, out)
    killer.join(timeout=60)
    assert killer.error is None, killer.error
    published_before = out.fs.get_file_info(out.all).type
    summary = run(load([*args, "output.max_error_fraction=0.5"]), out)
    table = pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table()
    return {"summary": summary, "table": table, "killer": killer, "failed": failed.value,
            "published_before": published_before}


def test_every_good_problem_exactly_once_through_engine_deaths_and_a_killed_verifier(
        faulty_run):
    killer, table = faulty_run["killer"], faulty_run["table"]
    assert killer.killed and killer.done_at_kill < GOOD // 4
    good = table.filter(pads.field("source") == "synthetic")
    keys = list(zip(good["problem_id"].to_pylist(), good["sample_idx"].to_pylist(),
                    strict=True))
    assert len(keys) == len(set(keys)) == GOOD * SAMPLES
    # Nothing lost to the faults: every good sample generated and checked.
    assert good.filter(pads.field("response").is_null()).num_rows == 0
    assert set(good["verdict"].to_pylist()) <= {"pass", "fail"}


def test_a_prompt_that_crashes_the_engine_is_one_error_row(faulty_run):
    crash = faulty_run["table"].filter(pads.field("source") == "crash").to_pylist()
    assert len(crash) == 1, crash
    assert crash[0]["verdict"] == "error" and crash[0]["response"] is None
    assert crash[0]["reason"] == "teacher_error"
    detail = crash[0]["verdict_detail"]
    assert detail.startswith("teacher: engine crashed while generating this prompt"), detail
    # One death shared with the good problems, one alone: then it is not retried.
    assert re.search(r"\(2 engine deaths, 1 alone\); not retried", detail), detail


def test_poison_rows_are_isolated_and_the_error_cap_fails_loudly(faulty_run):
    # Nothing was published under the cap; the rows waited under _work/publish.
    assert faulty_run["published_before"] == pafs.FileType.NotFound
    table, summary = faulty_run["table"], faulty_run["summary"]
    details = [d for d, v in zip(table["verdict_detail"].to_pylist(),
                                 table["verdict"].to_pylist(), strict=True) if v == "error"]
    assert any(d.startswith("teacher: prompt too long") for d in details)
    assert "input: missing field 'answer'" in details
    assert any("not parseable" in d for d in details), details  # the checker's error
    # The crash row and the prompt too long; one bad input row; the unreadable answer's
    # samples are verifier errors.
    assert summary["teacher_errors"] == 2 and summary["input_errors"] == 1
    assert summary["samples"] == (GOOD + 1) * SAMPLES
    assert summary["attempts"] == 2
