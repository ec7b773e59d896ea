"""`ray job submit` runs the entry point against a real `ray start --head`."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def test_ray_job_submit_against_a_local_head(tmp_path):
    bin_dir = Path(sys.executable).parent
    # The job's `python` must be this environment's, as after `source .venv/bin/activate`.
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    gcs_port, dashboard_port = free_port(), free_port()
    head = subprocess.Popen(
        [str(bin_dir / "ray"), "start", "--head", "--block", f"--port={gcs_port}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
         "--disable-usage-stats"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{dashboard}/api/version", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
        out = tmp_path / "out"
        job = subprocess.run(
            [str(bin_dir / "ray"), "job", "submit", f"--address={dashboard}",
             "--working-dir", str(REPO), "--", "python", "-m", "raydistill.run", "conf=local",
             "source.limit=8", "sampling.n=2", f"output.uri={out}"],
            env=env, capture_output=True, text=True, timeout=900,
        )
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "verified (pass)" in job.stdout
        assert pads.dataset(out / "all", format="parquet").count_rows() == 16
        # The job is listed by the dashboard's job API, as it is in the dashboard.
        with urllib.request.urlopen(f"{dashboard}/api/jobs/", timeout=10) as response:
            jobs = json.load(response)
        assert any(j["status"] == "SUCCEEDED" and "raydistill.run" in j["entrypoint"]
                   for j in jobs)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
