"""The HTTP teacher against a real local server that fails on a script (no Ray here).

The teacher class is the one the pipeline puts in Ray actors; here it runs in
the test's own event loop so that each request's timing can be checked.
"""

import asyncio
import dataclasses
import logging
import time

import pytest

from raydistill import records
from raydistill.config import ConfigError
from raydistill.teachers import HTTPTeacher, constructor_kwargs
from raydistill.teachers.config import HTTPTeacherConfig, SamplingConfig, StopOnRepetitionConfig
from raydistill.teachers.rate_limits import Secret, TokenBucket
from tests.support.fault_server import FaultServer

KEY = "sk-test-0123456789abcdef"


def teacher_cfg(url, **overrides):
    cfg = HTTPTeacherConfig(name="openai", model="tiny", base_url=url, max_concurrency=8,
                        timeout_s=0.5, max_retries=6, backoff_base_s=0.05, backoff_max_s=0.4,
                        retry_deadline_s=30.0)
    return dataclasses.replace(cfg, **overrides)


def sampling_cfg(**overrides):
    return SamplingConfig(**{"n": 2, "max_tokens": 64, "seed": 0, **overrides})


def problem_rows(prompts):
    return [{"problem_id": f"p{i}", "source": "t", "source_index": i, "domain": "math",
             "problem": text, "ground_truth_solution": "#### 42", "input_error": None,
             "messages": [{"role": "user", "content": text}]} for i, text in enumerate(prompts)]


def generate(teacher, prompts):
    batch = records.table(problem_rows(prompts), records.GENERATION)

    async def collect():
        return [row async for table in teacher(batch) for row in table.to_pylist()]

    return {row["problem_id"]: row for row in asyncio.run(collect())}


def test_scripted_faults_are_retried_with_backoff_and_nothing_is_lost(caplog):
    scripts = {
        "every fault once": ["429", "500", "empty", "malformed", "slow", "drop"],
        "fine": [],
        "always 503": ["503"] * 20,
        "bad key": ["401"],
        "cut short": ["length"],
    }
    prompts = list(scripts)
    caplog.set_level(logging.DEBUG)
    with FaultServer(lambda p: scripts[p], slow_s=3.0) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url), sampling_cfg(), api_key=Secret(KEY))
        rows = generate(teacher, prompts)

    # One row per problem in, one out: nothing lost, nothing duplicated.
    assert sorted(rows) == [f"p{i}" for i in range(len(prompts))]

    # Every fault retried until the script ran out, then two samples (n=2 in one request).
    faulty = server.requests_for("every fault once")
    assert [r["action"] for r in faulty] == scripts["every fault once"] + ["ok"]
    assert rows["p0"]["teacher_error"] is None
    assert len(rows["p0"]["samples"]) == 2
    assert all(s["think_closed"] and s["solution"] == "The answer is \\boxed{42}."
               for s in rows["p0"]["samples"])
    # Exponential back-off with equal jitter: retry k waits >= base * 2**k / 2.
    gaps = [b["t"] - a["t"] for a, b in zip(faulty, faulty[1:], strict=False)]
    floors = [min(0.4, 0.05 * 2**k) / 2 for k in range(len(gaps))]
    assert all(gap >= floor for gap, floor in zip(gaps, floors, strict=True)), (gaps, floors)
    # The slow answer was abandoned at the 0.5 s timeout, not waited for (3 s).
    slow_gap = gaps[scripts["every fault once"].index("slow")]
    assert 0.5 <= slow_gap < 2.5

    # Retry budget exhausted: one error row with the reason, after exactly 1 + 6 attempts.
    assert len(server.requests_for("always 503")) == 7
    assert rows["p2"]["samples"] == []
    assert rows["p2"]["teacher_error"] == "HTTP 503 after 7 attempts"

    # A client error is not retried; the key the server echoed back is redacted.
    assert len(server.requests_for("bad key")) == 1
    assert rows["p3"]["teacher_error"].startswith("HTTP 401")
    assert "***" in rows["p3"]["teacher_error"] and KEY not in rows["p3"]["teacher_error"]
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.log)
    assert KEY not in caplog.text

    # finish_reason=length inside the reasoning: kept, marked truncated.
    cut = rows["p4"]["samples"][0]
    assert (cut["finish_reason"], cut["think_closed"], cut["solution"]) == ("length", False, "")

    # Usage from the server: prompt tokens per request, completion tokens per sample.
    assert rows["p1"]["prompt_tokens"] == len("fine") // 4
    assert [s["completion_tokens"] for s in rows["p1"]["samples"]] == [10, 10]


def test_retry_after_is_a_floor_for_the_wait():
    with FaultServer(lambda p: ["429:1"]) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url), sampling_cfg())
        rows = generate(teacher, ["q"])
    first, second = server.log
    assert second["t"] - first["t"] >= 1.0
    assert len(rows["p0"]["samples"]) == 2


def test_a_server_dripping_bytes_is_cut_at_the_request_timeout():
    # Each read takes 0.2 s (under httpx's 0.5 s read timeout); the whole answer 3 s.
    with FaultServer(lambda p: ["drip"], slow_s=3.0) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url), sampling_cfg())
        rows = generate(teacher, ["q"])
    first, second = server.log
    assert second["t"] - first["t"] < 2.5
    assert len(rows["p0"]["samples"]) == 2


def test_retry_deadline_ends_retries_early():
    with FaultServer(lambda p: ["500"] * 20) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, backoff_base_s=0.3, backoff_max_s=0.3,
                                          retry_deadline_s=0.5), sampling_cfg())
        rows = generate(teacher, ["q"])
    assert len(server.log) <= 3
    assert "retry deadline 0.5s reached" in rows["p0"]["teacher_error"]


@pytest.mark.parametrize("use_n", [True, False])
def test_n_samples_whether_or_not_the_server_supports_n(use_n):
    with FaultServer(honour_n=False) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, use_n=use_n), sampling_cfg(n=3))
        rows = generate(teacher, ["q"])
    samples = rows["p0"]["samples"]
    assert len(samples) == 3 and all(s["response"] for s in samples)
    # use_n: one request for 3 gets 1 choice, the 2 missing are fanned out.
    assert [r["n"] for r in server.log][:1] == ([3] if use_n else [1])
    assert len(server.log) == 3
    if not use_n:
        assert all("n" not in r["body"] for r in server.log)
    # Each fanned-out request has its own seed, or the samples would be copies.
    fanned = server.log[1:] if use_n else server.log
    assert len({r["seed"] for r in fanned}) == len(fanned)
    # Input tokens are billed per request.
    assert rows["p0"]["prompt_tokens"] == 0  # len("q") // 4 per request


def test_a_partly_failed_fan_out_keeps_an_error_sample():
    # Two requests of one prompt, two attempts each: arrivals 1-3 fail, the 4th works,
    # so one sample succeeds on its retry and the other exhausts its budget.
    with FaultServer(lambda p: ["500", "500", "500"]) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, use_n=False, max_retries=1),
                              sampling_cfg())
        rows = generate(teacher, ["q"])
    row = rows["p0"]
    assert row["teacher_error"] is None
    good = [s for s in row["samples"] if s["response"] is not None]
    bad = [s for s in row["samples"] if s["response"] is None]
    assert len(good) == 1 and len(bad) == 1
    assert (bad[0]["verdict"], bad[0]["verdict_detail"]) == (
        "error", "teacher: HTTP 500 after 2 attempts")


@pytest.mark.parametrize("mode", ["reasoning_content", "reasoning"])
def test_separate_reasoning_fields_give_the_same_record(mode):
    with FaultServer(lambda p: ["ok", "length"], mode=mode) as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, use_n=False), sampling_cfg(n=1))
        done = generate(teacher, ["q"])["p0"]["samples"][0]
        cut = generate(teacher, ["q"])["p0"]["samples"][0]
    assert (done["reasoning"], done["solution"], done["think_closed"]) == (
        "thinking, sample 0", "The answer is \\boxed{42}.", True)
    assert done["response"].startswith("<think>\nthinking, sample 0\n</think>")
    assert (cut["reasoning"], cut["solution"], cut["think_closed"], cut["finish_reason"]) == (
        "thinking, sample 0 and on", "", False, "length")


def test_requests_per_minute_limit_spaces_requests():
    # 600/min = 10/s with a 1 s burst: 25 requests need at least 1.5 s.
    with FaultServer() as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, requests_per_minute=600.0),
                              sampling_cfg(n=1))
        started = time.monotonic()
        rows = generate(teacher, [f"q{i}" for i in range(25)])
        elapsed = time.monotonic() - started
    assert len(rows) == 25 and len(server.log) == 25
    assert elapsed >= 1.4
    times = sorted(r["t"] for r in server.log)
    # No 1-second window holds more than the burst plus one second's refill.
    assert all(sum(1 for t in times if s <= t < s + 1.0) <= 21 for s in times)


def test_tokens_per_minute_reserves_max_tokens_and_refunds_what_was_not_used():
    # 6000/min = 100 tokens/s, 100 at once. Each request reserves its max_tokens (64)
    # plus the prompt; the server reports ~10 used, the rest comes back at once.
    with FaultServer() as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, tokens_per_minute=6000.0, max_concurrency=1),
                              sampling_cfg(n=1))
        started = time.monotonic()
        generate(teacher, [f"q{i}" for i in range(10)])
        refunded = time.monotonic() - started
        # Without the refund, 4 requests of >= 64 tokens need >= (256 - 100) / 100 s.
        teacher = HTTPTeacher(teacher_cfg(server.url, tokens_per_minute=6000.0, max_concurrency=1),
                              sampling_cfg(n=1))
        teacher.limiter.settle = lambda estimate, used: None
        started = time.monotonic()
        generate(teacher, [f"r{i}" for i in range(4)])
        kept = time.monotonic() - started
    assert refunded < 4.0  # 10 x 64 tokens without refunds would need >= 5.4 s
    assert kept >= 1.5


def test_rate_limits_are_shared_between_replicas():
    with FaultServer() as server:
        teacher = HTTPTeacher(teacher_cfg(server.url, requests_per_minute=600.0,
                                          tokens_per_minute=60000.0, replicas=4),
                              sampling_cfg())
    assert teacher.limiter.requests.rate == pytest.approx(600 / 60 / 4)
    assert teacher.limiter.tokens.rate == pytest.approx(60000 / 60 / 4)


def test_token_bucket_waits_for_tokens_and_takes_unused_ones_back():
    async def run():
        bucket = TokenBucket(6000, burst_s=1.0)  # 100 tokens/s, 100 at once
        started = time.monotonic()
        await bucket.take(100)
        first = time.monotonic() - started
        await bucket.take(50)
        second = time.monotonic() - started
        bucket.give_back(40)
        await bucket.take(40)
        third = time.monotonic() - started
        return first, second, third

    first, second, third = asyncio.run(run())
    # Lower bounds are exact; upper bounds leave room for a loaded machine.
    assert first < 0.3
    assert 0.45 <= second < 1.5
    assert third - second < 0.3


def test_missing_api_key_variable_fails_before_work_naming_it(monkeypatch):
    monkeypatch.delenv("RAYDISTILL_NO_SUCH_KEY", raising=False)
    teacher = teacher_cfg("http://127.0.0.1:9/v1", api_key_env="RAYDISTILL_NO_SUCH_KEY")
    with pytest.raises(ConfigError, match="teacher.api_key_env.*RAYDISTILL_NO_SUCH_KEY"):
        constructor_kwargs(teacher, sampling_cfg())
    monkeypatch.setenv("RAYDISTILL_NO_SUCH_KEY", KEY)
    kwargs = constructor_kwargs(teacher, sampling_cfg())
    assert KEY not in repr(kwargs) and kwargs["api_key"].reveal() == KEY


def test_connection_refused_is_retried_then_an_error_row():
    teacher = HTTPTeacher(teacher_cfg("http://127.0.0.1:9/v1", max_retries=2), sampling_cfg())
    rows = generate(teacher, ["q"])
    assert rows["p0"]["teacher_error"].startswith("connection error (ConnectError")
    assert rows["p0"]["teacher_error"].endswith("after 3 attempts")


def test_min_tokens_is_sent_only_when_set():
    with FaultServer() as server:
        generate(HTTPTeacher(teacher_cfg(server.url), sampling_cfg(n=1, min_tokens=32)), ["q"])
        generate(HTTPTeacher(teacher_cfg(server.url), sampling_cfg(n=1)), ["r"])
    assert [r["body"].get("min_tokens") for r in server.log] == [32, None]


def test_a_dropped_request_says_the_server_closed_the_connection():
    # What vLLM's server does to a request in flight when its engine dies: it exits.
    with FaultServer(lambda prompt: ["drop"] * 10) as server:
        rows = generate(HTTPTeacher(teacher_cfg(server.url, max_retries=2), sampling_cfg()),
                        ["q"])
    error = rows["p0"]["teacher_error"]
    assert error.startswith("the server closed the connection without answering (its engine "
                            "may have died, or it stopped): connection error ("), error
    assert error.endswith("after 3 attempts")


def test_refused_after_requests_reached_the_server_says_it_went_away():
    server = FaultServer().__enter__()
    teacher = HTTPTeacher(teacher_cfg(server.url, max_retries=2), sampling_cfg())

    async def before_and_after():
        first = [r async for t in teacher(records.table(problem_rows(["q"]),
                                                        records.GENERATION))
                 for r in t.to_pylist()]
        server.__exit__(None, None, None)  # the server stops; its port refuses from now on
        second = [r async for t in teacher(records.table(problem_rows(["r"]),
                                                         records.GENERATION))
                  for r in t.to_pylist()]
        return first + second

    first, second = asyncio.run(before_and_after())
    assert first["teacher_error"] is None
    assert second["teacher_error"].startswith(
        "the server went away (its engine died or it stopped) after 1 request(s) reached it: "
        "connection error (ConnectError"), second["teacher_error"]


def test_a_looping_stream_is_aborted_and_marked_repetition():
    scripts = {"loops": ["loop"], "fine": []}
    sampling = sampling_cfg(n=1, max_tokens=4000, stop_on_repetition=StopOnRepetitionConfig(
        enabled=True, ngram=4, repeats=8, window=64))
    with FaultServer(lambda p: scripts[p], loop_s=0.002) as server:
        started = time.monotonic()
        rows = generate(HTTPTeacher(teacher_cfg(server.url, timeout_s=30), sampling),
                        ["loops", "fine"])
        took = time.monotonic() - started
        time.sleep(0.3)  # the server notices the closed stream at its next write
    loop = rows["p0"]["samples"][0]
    assert loop["finish_reason"] == "repetition" and loop["completion_tokens"] < 40
    assert loop["unspent_tokens"] == 4000 - loop["completion_tokens"]
    assert rows["p0"]["max_tokens_used"] == 4000
    # 4000 events at 2 ms would take 8 s: the client hung up long before.
    assert took < 4 and server.requests_for("loops")[0].get("aborted")
    fine = rows["p1"]["samples"][0]
    assert fine["finish_reason"] == "stop" and fine["solution"] == "The answer is \\boxed{42}."
    assert server.requests_for("fine")[0]["body"]["stream"] is True


def test_a_reasoning_cut_at_its_budget_is_closed_and_answered():
    with FaultServer(lambda p: ["length"]) as server:
        sampling = sampling_cfg(n=2, max_tokens=64, think_budget=40, answer_budget=16)
        rows = generate(HTTPTeacher(teacher_cfg(server.url), sampling), ["q"])
    first, *continued = server.requests_for("q")
    assert first["body"]["max_tokens"] == 40 and len(continued) == 2
    assert all(c["body"]["max_tokens"] == 16 and c["body"]["continue_final_message"]
               and c["body"]["messages"][-1]["content"].endswith("</think>\n\nFinal answer: "
                                                                 "\\boxed{")
               for c in continued)
    for sample in rows["p0"]["samples"]:
        assert sample["budget_forced"] and sample["think_closed"]
        assert sample["solution"] == "Final answer: \\boxed{42}."
        assert sample["finish_reason"] == "stop"


def test_overflow_shrinks_max_tokens_to_the_context_or_errors_below_the_floor():
    prompt = "x" * 400  # 100 prompt tokens for the server
    with FaultServer(lambda p: ["ctx:160"] * 3) as server:
        shrink = sampling_cfg(n=1, max_tokens=128, on_overflow="shrink", overflow_floor=32)
        rows = generate(HTTPTeacher(teacher_cfg(server.url), shrink), [prompt])
    assert rows["p0"]["max_tokens_used"] == 60 and rows["p0"]["teacher_error"] is None
    assert [r["body"]["max_tokens"] for r in server.requests_for(prompt)] == [128, 60]
    with FaultServer(lambda p: ["ctx:160"] * 3) as server:
        floor = sampling_cfg(n=1, max_tokens=128, on_overflow="shrink", overflow_floor=64)
        rows = generate(HTTPTeacher(teacher_cfg(server.url), floor), [prompt])
        errors = generate(HTTPTeacher(teacher_cfg(server.url), sampling_cfg(n=1,
                                                                             max_tokens=128)),
                          ["y" * 400])
    assert "overflow_floor 64" in rows["p0"]["teacher_error"]
    assert "maximum context length" in errors["p0"]["teacher_error"]
