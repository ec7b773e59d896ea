import os
import shlex
import socket
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def readme_commands(first: str) -> list[list[str]]:
    """The README's commands (indented code lines) from the one starting with ``first`` on.

    A block of commands ends at its first blank line; ``\\`` continues a command on
    the next line and ``# ...`` comments are dropped, as a shell does. Fails when the
    README has no such command: a test that runs the README's commands breaks when
    they change.
    """
    lines = README.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(first)
              and line.startswith("    ")]
    assert len(starts) == 1, f"README: {len(starts)} command lines start with {first!r}"
    commands, current = [], ""
    for line in lines[starts[0]:]:
        if not line.strip():
            break
        current += " " + line.strip()
        if current.endswith("\\"):
            current = current[:-1]
            continue
        commands.append(shlex.split(current, comments=True))
        current = ""
    return commands


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


@pytest.fixture(scope="session")
def probe_run(ray_cluster, tmp_path_factory):
    """One small real run shared by the metrics and report tests (one vLLM run, not two).

    16 synthetic problems and one bad input row, n=4, under a unique source name and
    a private copy of the tiny teacher, so its metric series are its own. Returns
    ``(cfg, summary, source, teacher_path, progress_lines)``.
    """
    import json
    import logging
    import shutil
    import uuid

    from raydistill.config import load
    from raydistill.output.location import OutputLocation
    from raydistill.pipeline import run
    from raydistill.teachers import resolve_model

    root = tmp_path_factory.mktemp("probe")
    model = shutil.copytree(resolve_model("builtin:tiny-teacher"), root / "teacher")
    bad = root / "bad.jsonl"
    bad.write_text(json.dumps({"question": "no answer here"}) + "\n")
    source = f"probe_{uuid.uuid4().hex[:8]}"
    cfg = load([
        "conf=local", f"output.uri={root / 'out'}", "sampling.n=4", f"teacher.model={model}",
        f"source.datasets=[{{name: {source}, format: synthetic_arithmetic, limit: 16}},"
        f" {{name: {source}_bad, format: jsonl, path: '{bad}', preset: gsm8k}}]",
    ])
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    progress_log = logging.getLogger("raydistill.observe.progress")
    progress_log.addHandler(handler)
    progress_log.setLevel(logging.INFO)
    try:
        summary = run(cfg, OutputLocation(cfg.output))
    finally:
        progress_log.removeHandler(handler)
    return cfg, summary, source, str(model), lines
