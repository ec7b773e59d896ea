"""Exactly-once resume: SIGKILL the real driver (`python -m raydistill.run`) and its
local Ray cluster at several points of a run, rerun the same command, and compare
the final keys with every (problem, sample) of the command's problems. Local disk
with the in-process vLLM teacher (the demo's path); the moto S3 server, also stopped
mid-write, with the session's shared vLLM server as the teacher (the subject there is
storage, and the runs then cost no engine start of their own).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest
from raydistill.sources import read_problems
from tests.conftest import free_port, http_teacher

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PROBLEMS, SAMPLES = 24, 2
# Six blocks of four problems: six commits to kill between.
ARGS = ["conf=local", f"source.limit={PROBLEMS}", f"sampling.n={SAMPLES}",
        "ray.rows_per_block=4", "teacher.batch_size=4", "verify.batch_size=4"]


def start(uri: str, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # A loaded CI machine can take longer than Ray's default 60 s to start a raylet.
    env.setdefault("RAY_raylet_start_wait_time_s", "180")
    # Output to a file, not a pipe: a driver logging into a full, unread pipe blocks.
    log = tempfile.NamedTemporaryFile("w+", prefix="raydistill-driver-", suffix=".log")
    proc = subprocess.Popen(
        [sys.executable, "-m", "raydistill.run", *ARGS, f"output.uri={uri}", *extra],
        cwd=REPO, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def output_of(proc: subprocess.Popen) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the driver and everything in its session: its Ray cluster and engines."""
    sid = proc.pid
    os.killpg(sid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = [int(p) for p, s in (line.split() for line in subprocess.run(
            ["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout.splitlines())
            if int(s) == sid]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def finish(proc: subprocess.Popen, timeout: float = 900) -> str:
    proc.wait(timeout=timeout)
    output = output_of(proc)
    assert proc.returncode == 0, output[-4000:]
    return output


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, (
            f"driver ended before the kill point: {proc.returncode}\n{output_of(proc)[-3000:]}")
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.05)
    kill_session(proc)


def files(out: OutputLocation, path: str) -> list[str]:
    infos = out.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return [i.base_name for i in infos if i.type == pafs.FileType.File]


def manifest_says(out: OutputLocation, step: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            manifest = load_manifest(out)
        except (OSError, json.JSONDecodeError):
            return False
        return manifest is not None and bool(getattr(manifest, step))
    return ready


def committed(out: OutputLocation) -> list[str]:
    return [f for f in files(out, out.checkpoint) if not f.endswith(".pending.parquet")]


def mid_generation(out: OutputLocation) -> Callable[[], bool]:
    """A block between its two commit phases, or at least one block committed."""
    def ready() -> bool:
        return bool(files(out, out.checkpoint))
    return ready


def keys(out: OutputLocation, path: str) -> list[tuple[str, int]]:
    table = pads.dataset(path, filesystem=out.fs, format="parquet").to_table(
        columns=["problem_id", "sample_idx"])
    return sorted(zip(table["problem_id"].to_pylist(), table["sample_idx"].to_pylist(),
                      strict=True))


def location(uri: str, *extra: str) -> OutputLocation:
    return OutputLocation(load([*ARGS, f"output.uri={uri}", *extra]).output)


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
