"""The README's cluster commands, run as printed against a real `ray start --head`.

The commands are read from the README (tests/conftest.py:readme_commands) and run
one by one in the user's own state: the real home directory, where the demo and
the tests' local clusters have left `~/.ray/auth_token`, or none if nothing has run
yet. What differs from a user's shell, and why:

- `ray start --head` gets `--block` (so the test owns the head and stops it) and
  its own ports (another Ray on this machine holds the defaults);
- `ray job submit` gets that head's `--address` (the README's relies on the default
  port);
- `ray stop` is not run: it stops every Ray on the machine, not only this head.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, readme_commands
from tests.support.console import unactionable
from tests.support.paths import REPO

COMMANDS = readme_commands("source .venv/bin/activate")


def test_the_readme_lists_the_commands_this_test_follows():
    heads = [c[0] if c[0] != "ray" else " ".join(c[:2]) for c in COMMANDS]
    assert heads == ["source", "export", "ray get-auth-token", "ray start", "ray job", "ray stop"]


def shell_environment():
    """The environment after the README's `source` and `export` lines, nothing else."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    for command in COMMANDS:
        if command == ["source", ".venv/bin/activate"]:
            env.update(PATH=f"{bin_dir}:{env['PATH']}", VIRTUAL_ENV=str(bin_dir.parent))
        elif command[0] == "export":
            name, value = command[1].split("=", 1)
            env[name] = value
    return env


@pytest.mark.slow
def test_ray_job_submit_against_a_local_head():
    env = shell_environment()
    generate, start, submit = COMMANDS[2], COMMANDS[3], COMMANDS[4]
    assert generate[-2:] == [">", "/dev/null"] and start == ["ray", "start", "--head"]
    subprocess.run(generate[:-2], env=env, check=True, stdout=subprocess.DEVNULL, timeout=120)
    token = subprocess.run(["ray", "get-auth-token"], env=env, check=True, capture_output=True,
                           text=True, timeout=120).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    gcs_port, dashboard_port = free_port(), free_port()
    # Every port with a fixed default too (the job agent's 52365, the client
    # server's 10001): another Ray on this machine (the session's test cluster)
    # holds those, and a head whose agent cannot bind never accepts jobs.
    head = subprocess.Popen(
        [*start, "--block", f"--port={gcs_port}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard_port}", f"--dashboard-agent-listen-port={free_port()}",
         f"--ray-client-server-port={free_port()}", "--disable-usage-stats"],
        env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        # The README's command as printed, with this head's address.
        assert submit[:3] == ["ray", "job", "submit"]
        job_command = [*submit[:3], f"--address={dashboard}", *submit[3:]]
        # The dashboard answers before the head's job agent has registered; Ray then
        # refuses with "No available agent ... try again later", so we do (~1 min max).
        for _ in range(12):
            job = subprocess.run(job_command, env=env, cwd=REPO, capture_output=True, text=True,
                                 timeout=900)
            if "No available agent" not in job.stderr:
                break
            time.sleep(5)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        # The demo's console (the job's driver log): no Ray line a user cannot act on.
        assert not unactionable((job.stdout + job.stderr).splitlines()), job.stdout[-3000:]
        # conf=local's whole run: 64 problems, 4 samples each, in the job's working dir.
        table = dict(line.rsplit(None, 1) for line in job.stdout.splitlines()
                     if line.startswith(("problems read ", "samples generated ", "output ")))
        assert (table.get("problems read"), table.get("samples generated")) == ("64", "256"), (
            job.stdout[-3000:])
        assert table["output"].endswith("out/local")
        # The job is listed by the dashboard's job API, as it is in the dashboard.
        # Without the token the dashboard refuses: the cluster is not open to anyone.
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"{dashboard}/api/jobs/", timeout=10)
        jobs_request = urllib.request.Request(f"{dashboard}/api/jobs/", headers=auth)
        with urllib.request.urlopen(jobs_request, timeout=10) as response:
            jobs = json.load(response)
        entrypoint = " ".join(submit[submit.index("--") + 1:])
        assert any(j["status"] == "SUCCEEDED" and j["entrypoint"] == entrypoint
                   for j in jobs), jobs
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
