"""Drive the real commands as a user does: a driver in its own session, killed and rerun.

``start`` runs ``python -m raydistill.run`` on a small local run (``ARGS``: 24 problems
x 2 samples in blocks of four, six commits to kill between); ``launch`` runs any
command module. Output goes to a file, read back with ``output_of``.
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

import pyarrow.dataset as pads
import pyarrow.fs as pafs

from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import load_manifest
from tests.support.paths import REPO

PROBLEMS, SAMPLES = 24, 2
# Six blocks of four problems: six commits to kill between.
ARGS = ["conf=local", f"source.limit={PROBLEMS}", f"sampling.n={SAMPLES}",
        "ray.rows_per_block=4", "teacher.batch_size=4", "verify.batch_size=4"]


def launch(module: str, args: list[str]) -> subprocess.Popen:
    """``python -m module args...`` from the repo, in its own session (its own Ray)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # A loaded CI machine can take longer than Ray's default 60 s to start a raylet.
    env.setdefault("RAY_raylet_start_wait_time_s", "180")
    env["PYTHONPATH"] = str(REPO)
    # Output to a file, not a pipe: a driver logging into a full, unread pipe blocks.
    log = tempfile.NamedTemporaryFile("w+", prefix="raydistill-driver-", suffix=".log")
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def start(uri: str, *extra: str) -> subprocess.Popen:
    """The small local run of ``ARGS`` into ``uri``."""
    return launch("raydistill.run", [*ARGS, f"output.uri={uri}", *extra])


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
