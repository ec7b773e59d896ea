"""How many requests per second one HTTP teacher actor can drive (client-side cost).

Starts an instant OpenAI-compatible server (aiohttp, in a child process so it
does not share the client's core) and runs the HTTP teacher class of
raydistill over PROBLEMS problems with n samples, once with `n` in one request
and once fanned out, at the default concurrency. A real API answers an R1 trace
in tens of seconds, so this is the ceiling the client itself puts on a replica.

    .venv/bin/python tools/bench/bench_http_teacher.py [--problems 2000] [--n 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import socket
import time

from raydistill import records
from raydistill.teachers import HTTPTeacher
from raydistill.teachers.config import HTTPTeacherConfig, SamplingConfig


def serve(port: int) -> None:
    from aiohttp import web

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        n = body.get("n", 1)
        choices = [{"index": i, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "The answer is \\boxed{7}.",
            "reasoning_content": "3 + 4 = 7"}} for i in range(n)]
        return web.json_response({"choices": choices, "usage": {
            "prompt_tokens": 40, "completion_tokens": 20 * n, "total_tokens": 40 + 20 * n}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", complete)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def run(url: str, problems: int, n: int, use_n: bool) -> tuple[float, float, int]:
    teacher_cfg = HTTPTeacherConfig(name="openai", model="bench", base_url=url, use_n=use_n)
    sampling = SamplingConfig(n=n, max_tokens=64, seed=0)
    teacher = HTTPTeacher(teacher_cfg, sampling)
    rows = [{"problem_id": f"p{i}", "input_error": None,
             "messages": [{"role": "user", "content": f"What is {i} + 4?"}]}
            for i in range(problems)]
    batch = records.table(rows, records.GENERATION)

    async def collect() -> list[dict]:
        return [r async for table in teacher(batch) for r in table.to_pylist()]

    started_cpu, started = time.process_time(), time.monotonic()
    out = asyncio.run(collect())
    wall, cpu = time.monotonic() - started, time.process_time() - started_cpu
    samples = sum(len(r["samples"]) for r in out)
    assert samples == problems * n, samples
    return wall, cpu, problems * (1 if use_n else n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--n", type=int, default=4)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    time.sleep(2)
    try:
        for use_n in (True, False):
            wall, cpu, requests = run(f"http://127.0.0.1:{port}/v1", args.problems, args.n,
                                      use_n)
            print(json.dumps({"use_n": use_n, "problems": args.problems, "n": args.n,
                              "requests": requests, "wall_s": round(wall, 2),
                              "client_cpu_s": round(cpu, 2),
                              "requests_per_s": round(requests / wall),
                              "requests_per_client_cpu_s": round(requests / cpu),
                              "max_rss_mib": resource.getrusage(
                                  resource.RUSAGE_SELF).ru_maxrss // 1024}))
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
