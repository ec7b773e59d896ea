import os
import shlex
import socket
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SHELL_FENCES = ("```sh", "```bash", "```shell")


def shell_blocks(path: Path = README) -> list[list[list[str]]]:
    """The commands of each fenced shell block (```sh) of ``path``, as a shell splits them.

    ``\\`` continues a command on the next line and ``# ...`` comments are dropped,
    as a shell does; blank and comment-only lines give no command.
    """
    blocks: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    command = ""
    for line in path.read_text().splitlines():
        if current is None:
            current = [] if line.strip() in SHELL_FENCES else None
            continue
        if line.strip() == "```":
            blocks.append(current)
            current = None
            continue
        command += " " + line.strip()
        if command.endswith("\\"):
            command = command[:-1]
            continue
        if words := shlex.split(command, comments=True):
            current.append(words)
        command = ""
    return blocks


def readme_commands(first: str) -> list[list[str]]:
    """The README's commands from the one starting with ``first`` to the end of its block.

    Fails when the README has no such command, or several: a test that runs the
    README's commands breaks when they change.
    """
    found = [block[i:] for block in shell_blocks() for i, words in enumerate(block)
             if " ".join(words).startswith(first)]
    assert len(found) == 1, f"README: {len(found)} commands start with {first!r}"
    return found[0]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 HTTP API (moto's server) on 127.0.0.1, with a bucket `raydistill-test`."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # Set before Ray starts so that Ray's workers inherit the credentials.
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_REGION="us-east-1")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="raydistill-test")
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def metrics_port():
    """Port of the test cluster's Prometheus endpoint (Ray's metrics agent, 127.0.0.1)."""
    return free_port()


@pytest.fixture(scope="session")
def ray_cluster(s3_server, metrics_port):
    """A real local Ray cluster, more logical CPUs than cores so pools cannot starve reads."""
    import ray

    # Metrics exported every second (default 10 s), so tests see them soon.
    ray.init(address="local", num_cpus=8, include_dashboard=False,
             _metrics_export_port=metrics_port,
             _system_config={"metrics_report_interval_ms": 1000})
    yield
    ray.shutdown()


LONG_QUESTION = "How many apples? " * 400  # ~2000 tokens > max_model_len 512


@pytest.fixture(scope="session")
def demo_run(ray_cluster, tmp_path_factory):
    """One real run on local disk, shared by the end-to-end, export, metrics and report tests.

    conf=local, 24 synthetic problems and 5 GSM8K-style rows of which 4 are bad
    (no answer, not UTF-8, empty question, a prompt longer than the context), n=3,
    every export format written by the run itself. Its source names and its teacher
    (a private copy of the tiny teacher) are unique, so its metric series are its
    own. Returns a namespace: ``cfg, summary, uri, source, model, lines`` (the
    progress log's lines).
    """
    import json
    import logging
    import shutil
    import uuid
    from types import SimpleNamespace

    from raydistill.config import load
    from raydistill.export.config import FORMATS
    from raydistill.output.location import OutputLocation
    from raydistill.pipeline import run
    from raydistill.teachers import resolve_model

    root = tmp_path_factory.mktemp("demo-run")
    model = str(shutil.copytree(resolve_model("builtin:tiny-teacher"), root / "teacher"))
    source = f"demo_{uuid.uuid4().hex[:8]}"
    bad = root / "bad.jsonl"
    bad.write_bytes(
        json.dumps({"question": "Tom has 3 apples and gets 4 more. How many apples does "
                                "Tom have now?", "answer": "3 + 4 = 7\n#### 7"}).encode() + b"\n"
        + json.dumps({"question": "no answer here"}).encode() + b"\n"
        + b"\xff\xfe\xfa not utf-8\n"
        + json.dumps({"question": "", "answer": "#### 1"}).encode() + b"\n"
        + json.dumps({"question": LONG_QUESTION, "answer": "#### 1"}).encode() + b"\n"
    )
    uri = root / "out"
    cfg = load([
        "conf=local", f"output.uri={uri}", "source.limit=29", "sampling.n=3",
        f"teacher.model={model}",
        f"source.datasets=[{{name: {source}, format: synthetic_arithmetic, limit: 24}},"
        f" {{name: {source}_bad, format: jsonl, path: '{bad}', preset: gsm8k}}]",
        f"export.formats=[{', '.join(FORMATS)}]",
        # The gold audit on 3 samples (labels.on_suspect keep: no verdict changes).
        "labels.audit_votes=3",
    ])
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    progress_log = logging.getLogger("raydistill.observe.progress")
    progress_log.addHandler(handler)
    progress_log.setLevel(logging.INFO)
    try:
        summary = run(cfg, OutputLocation(cfg.output))
    finally:
        progress_log.removeHandler(handler)
    return SimpleNamespace(cfg=cfg, summary=summary, uri=uri, source=source, model=model,
                           lines=lines)


# The README's local-server commands, as printed (port 8000): the server, then the run.
SERVE, RUN_AGAINST_SERVER = readme_commands("raydistill serve --port 8000")
README_PORT = "8000"


def with_port(command: list[str], port: int) -> list[str]:
    """A README command with its port 8000 replaced (this machine runs other servers)."""
    return [word.replace(README_PORT, str(port)) for word in command]


@pytest.fixture(scope="session")
def vllm_server():
    """The README's `raydistill serve --port 8000` (on a free port), as a user runs it.

    One engine for the whole session: besides the HTTP teacher's own tests, the
    runs whose subject is storage, resume, filtering or the judge (not the engine)
    generate through it (:func:`http_teacher`), so they cost no engine start of
    their own. Only the port differs from the README; the environment is the
    test's own, with `.venv/bin` first on PATH as after `source .venv/bin/activate`.
    The one test that kills it is marked ``kills_the_shared_server`` and runs last.
    Yields ``url`` (the OpenAI base URL), ``port`` and ``proc``.
    """
    import signal
    import subprocess
    import sys
    import time
    from types import SimpleNamespace

    import httpx

    assert SERVE == ["raydistill", "serve", "--port", README_PORT]
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = subprocess.Popen(with_port(SERVE, port), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 400  # ~30 s alone, minutes on a shared 2-core box
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"raydistill serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "raydistill serve did not start in 400 s"
            time.sleep(1)
        yield SimpleNamespace(url=f"{url}/v1", port=port, proc=proc)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass  # the last test stopped it
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def pytest_collection_modifyitems(items):
    """Tests that kill the session's shared server run after every other test."""
    items.sort(key=lambda item: item.get_closest_marker("kills_the_shared_server") is not None)


def http_teacher(server) -> list[str]:
    """Overrides that make a run's teacher the shared server (:func:`vllm_server`)."""
    return ["teacher.name=openai", f"teacher.base_url={server.url}", "teacher.model=tiny-teacher",
            "teacher.resources={CPU: 0.25}", "teacher.env={}", "teacher.max_concurrency=8"]
