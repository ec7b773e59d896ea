"""Live metrics reach Ray's Prometheus export, and the console funnel counts what the files hold.

A real run (``demo_run`` in conftest: local Ray, vLLM on CPU with the tiny
teacher, 24 problems and 5 rows of which 4 are bad), then a scrape of the metrics
agent's endpoint on 127.0.0.1. The run's source names and teacher path are unique,
so the series of other tests in the same Ray session do not mix in.
"""

import time
import urllib.request
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from raydistill.observe.metrics import reason_of


def scrape(port):
    """{metric sample name: [(labels, value), ...]} from the Prometheus endpoint."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found = defaultdict(list)
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


def total(found, name, **labels):
    return sum(v for lab, v in found.get(name, []) if all(lab.get(k) == w for k, w in
                                                            labels.items()))


@pytest.mark.slow
def test_metrics_reach_prometheus(demo_run, metrics_port):
    summary, source, model = demo_run.summary, demo_run.source, demo_run.model
    # 24 synthetic problems; 5 GSM8K-style rows, of which one good and one too long
    # for the context reach the teacher and one is generated.
    expected = {
        ("ray_raydistill_problems_read_total", "source", source): 24,
        ("ray_raydistill_problems_read_total", "source", f"{source}_bad"): 5,
        ("ray_raydistill_samples_generated_total", "teacher", model): summary["samples"],
        ("ray_raydistill_completion_tokens_total", "teacher", model):
            summary["completion_tokens"],
        ("ray_raydistill_prompt_tokens_total", "teacher", model): summary["prompt_tokens"],
        ("ray_raydistill_problems_generated_total", "teacher", model): 25,
        ("ray_raydistill_generation_seconds_count", "teacher", model): 25,
        ("ray_raydistill_backpressure_wait_seconds_count", "teacher", model): 25,
    }
    # Metrics are exported every second; the last ones of a finished actor may lag.
    deadline = time.monotonic() + 60
    while True:
        found = scrape(metrics_port)
        got = {key: total(found, key[0], **{key[1]: key[2]}) for key in expected}
        verdicts = {v: sum(total(found, "ray_raydistill_samples_verified_total", source=name,
                                 verdict=v) for name in (source, f"{source}_bad"))
                    for v in ("pass", "fail", "error")}
        if (got == expected and verdicts["pass"] == summary["verified"]) or \
                time.monotonic() > deadline:
            break
        time.sleep(2)
    assert got == expected
    # Pass rate by source and domain: the verdict counter's tags.
    assert verdicts == {"pass": summary["verified"], "fail": summary["failed"], "error": 0}
    assert sum(total(found, "ray_raydistill_samples_verified_total", source=name,
                     domain="math", verifier="math")
               for name in (source, f"{source}_bad")) == summary["samples"]
    # Verification latency per verifier kind: one observation per sample.
    assert total(found, "ray_raydistill_verification_seconds_count", verifier="math") >= \
        summary["samples"]
    # Error rows by reason: the bad input rows.
    input_errors = [(lab, v) for lab, v in found["ray_raydistill_error_rows_total"]
                    if lab["stage"] == "input"]
    assert any(lab["reason"] == reason_of({"input_error": "missing field 'answer'"})[1]
               == "input_error" for lab, _ in input_errors)
    # Tokens in/out per replica (Prometheus' rate() makes them per second): the
    # one replica's series carries its actor id.
    for name in ("ray_raydistill_completion_tokens_total", "ray_raydistill_prompt_tokens_total"):
        replicas = {lab["replica"] for lab, _ in found[name] if lab["teacher"] == model}
        assert len(replicas) == 1 and len(replicas.pop()) == 8


@pytest.mark.slow
def test_console_funnel_matches_the_files(demo_run):
    summary, lines = demo_run.summary, demo_run.lines
    assert lines, "the funnel line was logged"
    final = lines[-1]
    # 29 read, 25 answered: bad input rows and the prompt too long are error rows,
    # not generated problems.
    assert final.startswith(f"funnel: 29 read -> 25 generated ({summary['samples']} samples")
    # Those 4 are the error rows; verifier errors would add to them.
    assert (f"{summary['verified']} pass / {summary['failed']} fail / 0 error" in final)
    assert final.split("|")[1].strip() == "4 error rows"








