"""Escalation vs the strong teacher alone, and the cost plan vs the real run, in one process.

    python tools/bench/bench_escalation.py [--problems 64] [--pilot 16] [--waves 2 2 4]

Two ``raydistill serve`` servers (started once here, so engine start-up is outside every
figure): the shipped tiny student and the shipped tiny teacher, asked through the
pipeline's HTTP teacher. On the same problems, with the same waves and stop at k=1:

- ``teacher_alone``: every wave asks the tiny teacher;
- ``escalation``: the first waves ask the tiny student, the last the tiny teacher.

Prices are examples: the tiny teacher priced as DeepSeek-R1's API (0.55 / 2.19 USD per
million input / output tokens), the student as a small distill (0.02 / 0.10). Reported per
mode: problems solved, teacher tokens and cost per solved problem, and the ratios.

Then ``plan``: ``raydistill plan``'s pilot (``--pilot`` problems, seed 0) of the escalation
config, its projection of completion tokens, verified samples and generation time against
the escalation run's actual figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from bench_adaptive import start_server  # tools/bench, beside this script

from raydistill.cli.plan import make_plan
from raydistill.cli.plan import parse as plan_options
from raydistill.cli.serve import command
from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.pipeline import run
from raydistill.ray_session import init_ray
from raydistill.teachers.base import resolve_model

STRONG_PRICES = (0.55, 2.19)
CHEAP_PRICES = (0.02, 0.10)


def http(prefix: str, port: int, model: str, prices: tuple[float, float]) -> list[str]:
    """Overrides making the teacher section ``prefix`` the server on ``port``."""
    return [f"{prefix}.name=openai", f"{prefix}.base_url=http://127.0.0.1:{port}/v1",
            f"{prefix}.model={model}", f"{prefix}.resources={{CPU: 0.25}}", f"{prefix}.env={{}}",
            f"{prefix}.max_concurrency=16", f"{prefix}.price_input_per_million={prices[0]}",
            f"{prefix}.price_output_per_million={prices[1]}"]


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Solved problems, tokens and cost (total and per solved problem) of one run."""
    solved = summary["problems_with_a_verified_sample"]
    tokens = summary["completion_tokens"]
    cost = summary["usage"]["cost"]
    return {"problems": summary["problems_read"], "solved": solved,
            "samples": summary["samples"], "verified_samples": summary["verified"],
            "completion_tokens": tokens, "prompt_tokens": summary["prompt_tokens"],
            "cost_usd": cost, "tokens_per_solved": tokens / solved if solved else None,
            "cost_per_solved": cost / solved if solved else None,
            "generation_window_s": summary["generation_window_s"],
            "generation_busy_s": summary["generation_busy_s"],
            "generate_s": summary["timings"].get("generate_s"),
            "teachers": summary.get("teachers")}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--pilot", type=int, default=16)
    parser.add_argument("--waves", type=int, nargs="+", default=[2, 2, 4])
    parser.add_argument("--ports", type=int, nargs=2, default=[8021, 8022])
    parser.add_argument("--out", default=None, help="output root (default: a temporary dir)")
    args = parser.parse_args()

    root = Path(args.out or tempfile.mkdtemp(prefix="bench-escalation-"))
    teacher_port, student_port = args.ports
    waves = list(args.waves)
    escalated = ", ".join([*map(str, waves[:-1]), f"{{n: {waves[-1]}, teacher: strong}}"])
    common = ["conf=local", f"source.limit={args.problems}", "sampling.stop_at_verified=1",
              "output.overwrite=true"]
    modes = {
        "teacher_alone": [*http("teacher", teacher_port, "tiny-teacher", STRONG_PRICES),
                          f"sampling.waves={waves}"],
        "escalation": [*http("teacher", student_port, "tiny-student", CHEAP_PRICES),
                       *http("teachers.strong", teacher_port, "tiny-teacher", STRONG_PRICES),
                       f"sampling.waves=[{escalated}]"],
    }
    servers = [start_server(teacher_port)]
    student = command(["--port", str(student_port), "--model",
                       resolve_model("builtin:tiny-student"), "--served-model-name",
                       "tiny-student"])
    servers.append(start_server(student_port, student))
    results: dict[str, Any] = {}
    try:
        init_ray(load([*common, f"output.uri={root}/x"]).ray)
        for mode, extra in modes.items():
            cfg = load([*common, *extra, f"output.uri={root}/{mode}"])
            results[mode] = figures(run(cfg, OutputLocation(cfg.output)))
        cfg = load([*common, *modes["escalation"], f"output.uri={root}/plan"])
        options, _ = plan_options(["--problems", str(args.pilot), "--seed", "0"])
        plan = make_plan(cfg, options)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    alone, esc = results["teacher_alone"], results["escalation"]
    results["ratios"] = {
        "cost_per_solved (escalation / teacher alone)":
            esc["cost_per_solved"] / alone["cost_per_solved"]
            if esc["cost_per_solved"] and alone["cost_per_solved"] else None,
        "tokens_per_solved (escalation / teacher alone)":
            esc["tokens_per_solved"] / alone["tokens_per_solved"]
            if esc["tokens_per_solved"] and alone["tokens_per_solved"] else None,
        "solved (escalation / teacher alone)": esc["solved"] / alone["solved"]
        if alone["solved"] else None,
    }
    results["plan_vs_run"] = {
        name: {"plan": plan[key], "run": esc[actual],
               "plan / run": plan[key]["estimate"] / esc[actual] if esc[actual] else None}
        for name, key, actual in (("completion_tokens", "completion_tokens", "completion_tokens"),
                                  ("verified_samples", "verified_samples", "verified_samples"),
                                  ("generation_s (window)", "generation_s",
                                   "generation_window_s"))}
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
