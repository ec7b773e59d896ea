"""The HTTP teacher through the real pipeline (Ray Data actors): the README's
`raydistill serve` (vLLM's OpenAI server for the tiny teacher, deepseek_r1 reasoning
parser) and the README's run against it, and the fault server."""

import asyncio
import json
import zlib
from pathlib import Path

import httpx
import psutil
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from raydistill import records
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.pipeline import run
from raydistill.prompts import R1_MATH_SUFFIX
from raydistill.teachers import HTTPTeacher, resolve_model
from tests.conftest import RUN_AGAINST_SERVER, with_port
from tests.support.fault_server import FaultServer

pytestmark = pytest.mark.slow

KEY_ENV = "RAYDISTILL_TEST_API_KEY"
KEY = "sk-pipeline-test-5f3c9a1e77"


def read_all(out):
    return pads.dataset(out.all, filesystem=out.fs, format="parquet").to_table()


def http_overrides(uri, base_url, *extra):
    return ["conf=local", f"output.uri={uri}", "teacher.name=openai",
            f"teacher.base_url={base_url}", "teacher.model=tiny-teacher",
            "teacher.resources={CPU: 0.25}", "teacher.env={}", "teacher.replicas=2",
            "teacher.max_concurrency=4", "sampling.n=2", *extra]


def fault_script(prompt):
    # Deterministic per prompt, so the expected outcome of each problem is known.
    return [[], ["429", "500", "empty"], ["malformed", "slow", "drop"], ["503"] * 20,
            ["length"]][zlib.crc32(prompt.encode()) % 5]


def test_fault_server_through_the_pipeline(ray_cluster, tmp_path, monkeypatch):
    # The key is only in the driver's environment: the actors get it as a Secret.
    monkeypatch.setenv(KEY_ENV, KEY)
    with FaultServer(fault_script, slow_s=1.5) as server:
        cfg = load(http_overrides(
            tmp_path / "out", server.url, "source.limit=20", f"teacher.api_key_env={KEY_ENV}",
            "teacher.timeout_s=0.5", "teacher.max_retries=4", "teacher.backoff_base_s=0.05",
            "teacher.backoff_max_s=0.2", "teacher.price_input_per_million=1.5",
            "teacher.price_output_per_million=4.0"))
        out = OutputLocation(cfg.output)
        summary = run(cfg, out)
    rows = read_all(out)
    problems = set(rows["problem"].to_pylist())
    assert len(problems) == 20

    # Nothing lost, nothing duplicated: every problem has exactly its expected rows.
    keys = list(zip(rows["problem_id"].to_pylist(), rows["sample_idx"].to_pylist(), strict=True))
    assert len(set(keys)) == len(keys)
    expected_errors = 0
    for problem in problems:
        script = fault_script(problem + R1_MATH_SUFFIX)
        mine = rows.filter(pc.equal(rows["problem"], problem)).to_pylist()
        if script == ["503"] * 20:
            expected_errors += 1
            assert [(r["sample_idx"], r["verdict"], r["verdict_detail"]) for r in mine] == [
                (0, "error", "teacher: HTTP 503 after 5 attempts")]
        else:
            assert sorted(r["sample_idx"] for r in mine) == [0, 1]
            truncated = script == ["length"]
            assert all(r["think_closed"] is not truncated for r in mine)
            assert all(r["reasoning"].startswith("thinking, sample") for r in mine)
    assert 0 < expected_errors < 20
    assert summary["teacher_errors"] == expected_errors

    # Each prompt was answered exactly once (one request for n=2): no duplicated work.
    served = [r for r in server.log if r["action"] in ("ok", "length")]
    assert sorted(r["prompt"] for r in served) == sorted(
        p + R1_MATH_SUFFIX for p in problems if fault_script(p + R1_MATH_SUFFIX) != ["503"] * 20)
    # Retries: each failure in a script was followed by another request.
    for prompt in {r["prompt"] for r in server.log}:
        script = fault_script(prompt)
        expected = 5 if script == ["503"] * 20 else len(script) + (script != ["length"])
        assert len(server.requests_for(prompt)) == max(1, expected)

    # Usage and cost from the server's reported tokens, at the configured prices.
    served_in = sum(len(r["prompt"]) // 4 for r in served)
    assert summary["usage"]["input_tokens"] == served_in
    assert summary["usage"]["output_tokens"] == 20 * len(served)
    assert summary["usage"]["cost"] == pytest.approx(
        served_in * 1.5 / 1e6 + 20 * len(served) * 4.0 / 1e6)

    # The key went to the server, and nowhere else.
    assert {r["auth"] for r in server.log} == {f"Bearer {KEY}"}
    stored = list(Path(tmp_path / "out").rglob("*"))
    assert all(KEY.encode() not in p.read_bytes() for p in stored if p.is_file())
    import ray

    session = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    for log in session.rglob("*"):
        if log.is_file():
            assert KEY.encode() not in log.read_bytes(), log


def test_the_server_serves_the_shipped_teacher(vllm_server):
    (model,) = httpx.get(f"{vllm_server.url}/models", timeout=10).json()["data"]
    # The name the README's run command asks for, and the model's own 512 positions.
    assert model["id"] == "tiny-teacher" and model["max_model_len"] == 512
    assert model["root"] == resolve_model("builtin:tiny-teacher")


def test_vllm_serve_really_splits_off_the_reasoning(vllm_server):
    question = "Tom has 3 apples and buys 4 more. How many apples does Tom have now?"
    body = {"model": "tiny-teacher", "max_tokens": 128, "temperature": 0,
            "messages": [{"role": "user", "content": question + R1_MATH_SUFFIX}]}
    message = httpx.post(f"{vllm_server.url}/chat/completions", json=body,
                         timeout=60).json()["choices"][0]["message"]
    # vLLM 0.32 names the field `reasoning` (older ones and DeepSeek: reasoning_content).
    reasoning = message.get("reasoning") or message.get("reasoning_content")
    assert reasoning and "<think>" not in message["content"]
    assert "\\boxed{" in message["content"]


def test_vllm_serve_through_the_pipeline(ray_cluster, vllm_server, tmp_path):
    # The README's run command against the server (its port), made small: 16 problems.
    run_args = with_port(RUN_AGAINST_SERVER, vllm_server.port)
    assert run_args[:3] == ["python", "-m", "raydistill.run"]
    cfg = load([*run_args[3:], f"output.uri={tmp_path / 'out'}", "source.limit=16",
                "sampling.n=2", "teacher.resources={CPU: 0.25}", "teacher.env={}",
                "teacher.replicas=2", "teacher.max_concurrency=4"])
    out = OutputLocation(cfg.output)
    summary = run(cfg, out)
    rows = read_all(out)
    assert rows.num_rows == 16 * 2 == summary["samples"]
    assert summary["teacher_errors"] == 0
    # The reasoning came from the server's field, and is the same record as vLLM inline.
    assert all(r for r in rows["reasoning"].to_pylist())
    assert all(t.startswith("<think>\n") for t in rows["response"].to_pylist())
    assert all("</think>" not in s for s in rows["solution"].to_pylist())
    # The tiny teacher is right sometimes and wrong sometimes.
    assert 0 < summary["pass_rate"] < 1
    assert summary["usage"]["input_tokens"] > 0 and summary["usage"]["output_tokens"] > 0
    stored = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert stored["config"]["teacher"]["name"] == "openai"


def test_vllm_serve_truncation_inside_the_reasoning(vllm_server):
    # The HTTP teacher in this process (the same class the pipeline puts in actors).
    cfg = load(http_overrides("/tmp/unused", vllm_server.url, "sampling.max_tokens=6"))
    teacher = HTTPTeacher(cfg.teacher, cfg.sampling)
    row = {"problem_id": "p", "input_error": None, "messages": [
        {"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does "
                                    "Tom have now?" + R1_MATH_SUFFIX}]}

    async def collect():
        batch = records.table([row], records.GENERATION)
        return [r async for table in teacher(batch) for r in table.to_pylist()]

    (done,) = asyncio.run(collect())
    assert done["teacher_error"] is None and len(done["samples"]) == 2
    for sample in done["samples"]:
        assert (sample["finish_reason"], sample["think_closed"], sample["solution"]) == (
            "length", False, "")
        assert sample["reasoning"] and sample["completion_tokens"] == 6


@pytest.mark.kills_the_shared_server
def test_an_engine_death_says_the_server_went_away(vllm_server):
    # Last in the session (conftest): it kills the server's engine, as a crash on a
    # prompt would.
    cfg = load(http_overrides("/tmp/unused", vllm_server.url, "teacher.max_retries=3",
                              "teacher.backoff_base_s=0.2", "teacher.timeout_s=30"))
    teacher = HTTPTeacher(cfg.teacher, cfg.sampling)

    async def ask(problem_id):
        row = {"problem_id": problem_id, "input_error": None, "messages": [
            {"role": "user", "content": "Tom has 3 apples and buys 4 more." + R1_MATH_SUFFIX}]}
        batch = records.table([row], records.GENERATION)
        (done,) = [r async for table in teacher(batch) for r in table.to_pylist()]
        return done

    async def before_and_after():
        before = await ask("before")
        (engine,) = [p for p in psutil.Process(vllm_server.proc.pid).children(recursive=True)
                     if "EngineCore" in p.name() or "EngineCore" in " ".join(p.cmdline())]
        engine.kill()
        # vLLM's server exits when its engine dies.
        await asyncio.get_running_loop().run_in_executor(None, vllm_server.proc.wait, 120)
        return before, await ask("after")

    before, after = asyncio.run(before_and_after())
    assert before["teacher_error"] is None
    error = after["teacher_error"]
    assert error.startswith("the server went away (its engine died or it stopped) after 1 "
                            "request(s) reached it: connection error (ConnectError"), error
    assert error.endswith("after 4 attempts")
