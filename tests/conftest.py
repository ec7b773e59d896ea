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
