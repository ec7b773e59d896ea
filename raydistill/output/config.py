"""The ``output`` section: where a run's dataset goes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from omegaconf import MISSING

from raydistill.keys import key


@dataclass
class OutputConfig:
    """Where the dataset goes."""

    uri: str = key(MISSING, "Local directory or s3://bucket/prefix of the run.")
    s3_endpoint: str | None = key(None, "S3-compatible endpoint (MinIO, moto); null = AWS or "
                                  "$AWS_ENDPOINT_URL.", perf=True)
    s3_region: str | None = key(None, "S3 region; null = $AWS_REGION or us-east-1.", perf=True)
    s3_retry_attempts: int = key(10, "Tries per S3 request (backoff for throttling and "
                                 "dropped connections).", perf=True)
    overwrite: bool = key(False, "false: rerunning resumes the run at uri (a different config "
                          "is refused); true: delete it and start anew.", perf=True)
    max_error_fraction: float | None = key(None, "Fail the run, publishing nothing, above this "
                                           "share of error rows (null = no cap).", perf=True)
    # Spending caps, checked between adaptive waves (output/caps.py): the run stops
    # before the next wave once reached, publishes what it has, and resumes when rerun
    # with a higher cap.
    max_cost_usd: float | None = key(None, "Stop the run (between waves) once the teachers' "
                                     "tokens at their prices reach this many USD (null = no "
                                     "cap).", perf=True)
    max_completion_tokens: int | None = key(None, "Stop the run (between waves) once this many "
                                            "completion tokens are generated (null = no cap).",
                                            perf=True)


def output_checks(o: OutputConfig) -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the ``output`` section."""
    return [
        (o.s3_retry_attempts >= 1, "output.s3_retry_attempts", "must be >= 1"),
        (o.max_error_fraction is None or 0 <= o.max_error_fraction <= 1,
         "output.max_error_fraction", "must be in [0, 1] or null"),
        (bool(o.uri), "output.uri", "must be set"),
    ]


def s3_endpoint(cfg: OutputConfig) -> str | None:
    """The S3 endpoint: the config's, else ``AWS_ENDPOINT_URL`` (pyarrow ignores it)."""
    return cfg.s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
