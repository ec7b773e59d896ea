"""`ray job submit` runs the entry point against a real `ray start --head`."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
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
    # Ray 2.60 turns token authentication on for new clusters once a token exists
    # (any earlier local `ray.init` writes ~/.ray/auth_token), so the head runs with
    # it explicitly, with a token of this test's own that `ray job submit` and our
    # dashboard requests present, as a user's CLI and browser do.
    token = secrets.token_hex(16)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    auth = {"Authorization": f"Bearer {token}"}
    gcs_port, dashboard_port = free_port(), free_port()
    # Every port with a fixed default too (the job agent's 52365, the client
    # server's 10001): another Ray on this machine (the session's test cluster)
    # holds those, and a head whose agent cannot bind never accepts jobs.
    head = subprocess.Popen(
        [str(bin_dir / "ray"), "start", "--head", "--block", f"--port={gcs_port}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
         f"--dashboard-agent-listen-port={free_port()}",
         f"--ray-client-server-port={free_port()}", "--disable-usage-stats"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"{dashboard}/api/version", headers=auth), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
        out = tmp_path / "out"
        submit = [str(bin_dir / "ray"), "job", "submit", f"--address={dashboard}",
                  "--working-dir", str(REPO), "--", "python", "-m", "raydistill.run",
                  "conf=local", "source.limit=8", "sampling.n=2", f"output.uri={out}"]
        # The dashboard answers before the head's job agent has registered; Ray then
        # refuses with "No available agent ... try again later", so we do (~1 min max).
        for _ in range(12):
            job = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=900)
            if "No available agent" not in job.stderr:
                break
            time.sleep(5)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "verified (pass)" in job.stdout
        assert pads.dataset(out / "all", format="parquet").count_rows() == 16
        # The job is listed by the dashboard's job API, as it is in the dashboard.
        # Without the token the dashboard refuses: the cluster is not open to anyone.
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"{dashboard}/api/jobs/", timeout=10)
        jobs_request = urllib.request.Request(f"{dashboard}/api/jobs/", headers=auth)
        with urllib.request.urlopen(jobs_request, timeout=10) as response:
            jobs = json.load(response)
        assert any(j["status"] == "SUCCEEDED" and "raydistill.run" in j["entrypoint"]
                   for j in jobs)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
