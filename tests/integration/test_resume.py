"""Exactly-once resume: SIGKILL the real driver (`python -m raydistill.run`) and its
local Ray cluster at several points of a run, rerun the same command, and compare
the final keys with every (problem, sample) of the command's problems. Local disk
with the in-process vLLM teacher (the demo's path); the moto S3 server, also stopped
mid-write, with the session's shared vLLM server as the teacher (the subject there is
storage, and the runs then cost no engine start of their own).
"""

from __future__ import annotations

import json
import time

import pyarrow.dataset as pads
import pytest

from raydistill.config import load
from raydistill.output.manifest import load_manifest
from raydistill.sources import read_problems
from tests.conftest import free_port, http_teacher
from tests.support.runs import (
    ARGS,
    PROBLEMS,
    SAMPLES,
    committed,
    files,
    finish,
    keys,
    kill_session,
    kill_when,
    location,
    manifest_says,
    mid_generation,
    output_of,
    start,
)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def reference_keys():
    """Every (problem_id, sample_idx) the command must write once: its problems x n."""
    source = load([*ARGS, "output.uri=/unused"]).source
    found = sorted((p["problem_id"], i) for p in read_problems(source) for i in range(SAMPLES))
    assert len(set(found)) == PROBLEMS * SAMPLES
    return found


def interrupt_and_resume(uri: str, extra: list[str], reference: list[tuple[str, int]]) -> None:
    out = location(uri, *extra)
    # 1. Killed right after staging, before any problem is generated.
    kill_when(start(uri, *extra), manifest_says(out, "staged"))
    assert committed(out) == []
    # 2. Killed while blocks are being committed (their ids pending or committed).
    kill_when(start(uri, *extra), mid_generation(out))
    assert len(committed(out)) < PROBLEMS // 4
    # Possibly none yet: killed between a block's pending ids and its commit.
    done_before = {pid for f in committed(out) for pid in pads.dataset(
        f"{out.checkpoint}/{f}", filesystem=out.fs, format="parquet"
    ).to_table()["problem_id"].to_pylist()}
    killed_at = time.time()
    # 3. Killed after generation, while publishing all/ and verified/.
    kill_when(start(uri, *extra), manifest_says(out, "generated"))
    assert load_manifest(out).published is None
    # 4. The same command again finishes the run.
    output = finish(start(uri, *extra))
    assert "verified (pass)" in output

    final = keys(out, out.all)
    assert final == reference  # every (problem_id, sample_idx) exactly once, none lost
    assert not any(n.endswith(".pending.parquet") for n in files(out, out.checkpoint))
    manifest = load_manifest(out)
    assert manifest.attempts == 4 and manifest.generated
    assert sum(p["rows"] for p in manifest.published["all"]) == len(reference)
    summary = json.loads(out.fs.open_input_stream(out.summary).read())
    assert summary["rows_in_all"] == len(reference) and summary["attempts"] == 4
    # Problems committed before the second kill were not generated again.
    generations = pads.dataset(out.generations, filesystem=out.fs, format="parquet").to_table(
        columns=["problem_id", "generated_at"])
    assert generations.num_rows == PROBLEMS
    when = dict(zip(generations["problem_id"].to_pylist(),
                    generations["generated_at"].to_pylist(), strict=True))
    assert all(when[pid] < killed_at for pid in done_before)
    # verified/ is exactly the passing rows of all/.
    table = pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table()
    passing = sorted((r["problem_id"], r["sample_idx"]) for r in table.to_pylist()
                     if r["verdict"] == "pass")
    assert keys(out, out.verified) == passing


def test_kill_and_resume_local(tmp_path, reference_keys):
    interrupt_and_resume(str(tmp_path / "out"), [], reference_keys)


def test_kill_and_resume_s3(s3_server, vllm_server, reference_keys):
    interrupt_and_resume("s3://raydistill-test/resume/kill",
                         [f"output.s3_endpoint={s3_server}", *http_teacher(vllm_server)],
                         reference_keys)


def test_rerun_of_a_finished_run_and_changed_config(tmp_path, vllm_server):
    uri = str(tmp_path / "out")
    small = ["source.limit=4", *http_teacher(vllm_server)]
    finish(start(uri, *small))
    again = finish(start(uri, *small))
    assert "finished run" in again or "verified (pass)" in again
    changed = start(uri, *small, "sampling.temperature=0.5", "prompt.template=bespoke")
    changed.wait(timeout=120)
    output = output_of(changed)
    assert changed.returncode == 2
    assert "sampling.temperature (1.0 -> 0.5)" in output and "prompt.template" in output
    assert "output.overwrite=true" in output
    # Asking for a new run replaces the old one.
    finish(start(uri, *small, "sampling.temperature=0.5", "output.overwrite=true"))
    assert load_manifest(location(uri, *small)).fingerprint["sampling.temperature"] == 0.5


@pytest.fixture
def flaky_s3(s3_server):
    """A second moto endpoint (same in-process store) that the test stops and restarts."""
    from moto.server import ThreadedMotoServer

    port = free_port()

    class Server:
        def __init__(self) -> None:
            self.endpoint = f"http://127.0.0.1:{port}"
            self.server: ThreadedMotoServer | None = None

        def up(self) -> None:
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self.server.start()

        def down(self) -> None:
            if self.server is not None:
                self.server.stop()
                self.server = None

    server = Server()
    server.up()
    yield server
    server.down()


def test_s3_server_stopping_mid_write(flaky_s3, vllm_server, reference_keys):
    uri = "s3://raydistill-test/resume/outage"
    extra = [f"output.s3_endpoint={flaky_s3.endpoint}", *http_teacher(vllm_server)]
    out = location(uri, *extra)
    # A short outage while blocks are being committed: retries, then success.
    proc = start(uri, *extra)
    deadline = time.monotonic() + 600
    while not committed(out):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    flaky_s3.down()
    time.sleep(8)
    flaky_s3.up()
    finish(proc)
    assert keys(out, out.all) == reference_keys

    # An outage longer than every retry: the run fails clearly, nothing half-committed,
    # and the rerun after the server is back completes exactly once. Two tries per
    # request, so the run gives up in seconds (10, the default, took ~3 min here).
    uri = "s3://raydistill-test/resume/long-outage"
    out = location(uri, *extra)
    proc = start(uri, *extra, "output.s3_retry_attempts=2")
    while not committed(out):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    flaky_s3.down()
    try:
        proc.wait(timeout=900)
        output = output_of(proc)
    finally:
        kill_session(proc)
        flaky_s3.up()
    assert proc.returncode != 0
    assert "Traceback" in output or "raydistill:" in output
    assert load_manifest(out).published is None
    assert files(out, out.all) == []
    finish(start(uri, *extra))
    assert keys(out, out.all) == reference_keys
