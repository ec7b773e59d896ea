"""Adaptive sampling vs a fixed n equal to its cap, measured in one run on the same problems.

    python tools/bench/bench_adaptive.py [--problems 128] [--waves 2 2 4] [--cap 8] [--k 1]

Both runs ask the same teacher, the shipped tiny teacher behind one ``raydistill serve``
(vLLM's OpenAI server, started once here), through the pipeline's HTTP teacher, so engine
start-up is outside both figures; the fixed run goes first, then the adaptive one, into
fresh output directories. Reported per mode: teacher (completion) tokens per problem with
a verified sample, and problems with a verified sample per teacher-minute, where a
teacher-minute is a minute of the run's generation step (``timings.generate_s``: every
wave's pass, its actor pools' start and the verification between waves included).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from raydistill.cli.serve import command
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.pipeline import run
from raydistill.ray_session import init_ray


def start_server(port: int, cmd: list[str] | None = None) -> subprocess.Popen[bytes]:
    """``raydistill serve`` (or ``cmd``) on ``port``, returned once it answers /health."""
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    proc = subprocess.Popen(cmd or command(["--port", str(port)]), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            raise RuntimeError("raydistill serve exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("raydistill serve did not start in 600 s")
        time.sleep(2)


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The two figures of one run, and what they are made of."""
    solved = summary["problems_with_a_verified_sample"]
    tokens = summary["completion_tokens"]
    minutes = summary["timings"]["generate_s"] / 60
    return {"problems": summary["problems_read"], "samples": summary["samples"],
            "solved": solved, "completion_tokens": tokens, "generate_s": minutes * 60,
            "tokens_per_solved": tokens / solved if solved else float("nan"),
            "solved_per_teacher_minute": solved / minutes if minutes else float("nan"),
            "waves": summary.get("waves")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=128)
    parser.add_argument("--waves", type=int, nargs="+", default=[2, 2, 4])
    parser.add_argument("--cap", type=int, default=8)
    parser.add_argument("--k", type=int, default=1, help="sampling.stop_at_verified")
    parser.add_argument("--port", type=int, default=8013)
    parser.add_argument("--out", default=None, help="output root (default: a temporary dir)")
    args = parser.parse_args()

    root = Path(args.out or tempfile.mkdtemp(prefix="bench-adaptive-"))
    common = ["conf=local", f"source.limit={args.problems}", "teacher.name=openai",
              f"teacher.base_url=http://127.0.0.1:{args.port}/v1", "teacher.model=tiny-teacher",
              "teacher.resources={CPU: 0.25}", "teacher.env={}", "teacher.max_concurrency=16",
              "output.overwrite=true"]
    modes = {
        "fixed": [f"sampling.n={args.cap}"],
        "adaptive": [f"sampling.waves={args.waves}", f"sampling.max_samples={args.cap}",
                     f"sampling.stop_at_verified={args.k}"],
    }
    server = start_server(args.port)
    results: dict[str, Any] = {}
    try:
        init_ray(load([*common, f"output.uri={root}/x"]).ray)
        for mode, extra in modes.items():
            cfg = load([*common, *extra, f"output.uri={root}/{mode}"])
            results[mode] = figures(run(cfg, OutputLocation(cfg.output)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    fixed, adaptive = results["fixed"], results["adaptive"]
    results["ratios"] = {
        "tokens_per_solved (adaptive / fixed)":
            adaptive["tokens_per_solved"] / fixed["tokens_per_solved"],
        "solved_per_teacher_minute (adaptive / fixed)":
            adaptive["solved_per_teacher_minute"] / fixed["solved_per_teacher_minute"],
        "solved (adaptive / fixed)": adaptive["solved"] / fixed["solved"],
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
