"""``raydistill plan conf=NAME [key=value ...] [--problems N | --share X] [--seed S] [-v]``.

A cost plan before the run: a pilot on a seeded random sample of the problems
(``--problems N``, default 16, or ``--share X`` of them), run through the real
pipeline with the conf as given, then a projection for the whole run (teacher
input and output tokens, cost at the conf's prices, accelerator-hours, wall time at
the configured replicas, verified samples, problems solved), each as
``{estimate, low, high}`` (:mod:`raydistill.observe.projection` says how), written
to ``<output.uri>/plan.json`` and printed.

The pilot is an ordinary run of its own under ``<output.uri>/_plan/pilot`` (resumable,
never mixed with the real run's rows: the real run's ``all/`` and manifest live at
``<output.uri>`` itself). ``output.overwrite=true`` on the real run deletes both.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from typing import Any

from raydistill.cli import conf_help
from raydistill.cli.console import REFUSED, refuse, start
from raydistill.config import Config, load

logger = logging.getLogger("raydistill")
PILOT_DIR = "_plan/pilot"
SHOWN = ("input_tokens", "completion_tokens", "cost_usd", "verified_samples",
         "problems_solved", "generation_s", "accelerator_hours")


def parse(args: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The pilot's options, and the ``conf=NAME key=value`` arguments left."""
    parser = argparse.ArgumentParser(prog="raydistill plan", add_help=False)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--problems", type=int, default=None)
    group.add_argument("--share", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    options, rest = parser.parse_known_args(args)
    if options.problems is None and options.share is None:
        options.problems = 16
    return options, rest


def pilot_config(cfg: Config) -> Config:
    """``cfg`` for the pilot: its own location under the output, no exports."""
    pilot = copy.deepcopy(cfg)
    pilot.output.uri = f"{cfg.output.uri.rstrip('/')}/{PILOT_DIR}"
    pilot.export.formats = []
    return pilot


def run_pilot(cfg: Config, options: argparse.Namespace) -> tuple[dict[str, Any], int, Any]:
    """Stage the pilot's problems and run it; its summary, all problems, its location."""
    from raydistill.observe.projection import choose_pilot
    from raydistill.output.config import s3_endpoint
    from raydistill.output.location import OutputLocation
    from raydistill.output.manifest import open_run
    from raydistill.pipeline import run
    from raydistill.sources import read_problems

    ids = {row["problem_id"] for row in read_problems(cfg.source, s3_endpoint(cfg.output))}
    chosen = choose_pilot(ids, options.seed, options.share, options.problems)
    pilot_cfg = pilot_config(cfg)
    out = OutputLocation(pilot_cfg.output)
    manifest = open_run(out, pilot_cfg)
    if manifest.staged is None:
        rows = (row for row in read_problems(cfg.source, s3_endpoint(cfg.output))
                if row["problem_id"] in chosen)
        filtering = cfg.filters.problems_enabled
        manifest.staged = out.stage_problems(rows, cfg.source.problems_per_file,
                                             out.inputs if filtering else None)
        manifest.save(out)
    logger.info("pilot: %d of %d problems (seed %d) into %s", len(chosen), len(ids),
                options.seed, out.uri)
    summary = run(pilot_cfg, out, manifest)
    return summary, len(ids), out


def make_plan(cfg: Config, options: argparse.Namespace) -> dict[str, Any]:
    """Run the pilot and project the whole run (the content of ``plan.json``)."""
    from raydistill.observe.projection import per_problem, project
    from raydistill.sampling.escalation import teacher_prices

    summary, total, out = run_pilot(cfg, options)
    columns = ["problem_id", "teacher_name", "prompt_tokens", "completion_tokens", "verified",
               "response"] + (["wave"] if cfg.sampling.waves is not None else [])
    rows = [row for part in out.iter_columns(out.all, columns) for row in part.to_pylist()]
    problems = per_problem(rows, teacher_prices(cfg))
    busy = summary["generation_busy_s"]
    plan = project(problems, total, summary["completion_tokens"] / busy if busy else 0.0,
                   cfg.teacher.replicas, dict(cfg.teacher.resources), options.seed,
                   between_waves_s=summary["generation_window_s"] - busy)
    return {**plan, "pilot": {"uri": out.uri, "seed": options.seed, "share": options.share,
                              "problems": options.problems,
                              "generation_window_s": summary["generation_window_s"],
                              "generation_busy_s": busy},
            "intervals": "bootstrap over pilot problems (1000 resamples, 2.5-97.5 percentile); "
                         "generation_s at the pilot's tokens/s while generating, plus its "
                         "time between waves"}


def format_plan(plan: dict[str, Any]) -> str:
    """The console table of a plan."""
    lines = [f"plan for {plan['problems']} problems from a pilot of {plan['pilot_problems']}",
             f"{'':<20}{'estimate':>14}{'low':>14}{'high':>14}"]
    for name in SHOWN:
        span = plan[name]
        lines.append(f"{name:<20}" + "".join(f"{span[k]:>14,.2f}"
                                             for k in ("estimate", "low", "high")))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Plan the run; return the process exit code."""
    parsed = start(argv, "\n".join([__doc__ or "", *conf_help()]))
    if parsed is None:
        return 0
    args, verbose = parsed
    from raydistill.cli.run import check_sources
    from raydistill.output.location import OutputLocation
    from raydistill.output.storage import write_bytes_atomic
    from raydistill.ray_session import init_ray

    options, rest = parse(args)
    try:
        cfg = load(rest)
        if (options.problems is not None and options.problems < 1) or (
                options.share is not None and not 0 < options.share <= 1):
            raise ValueError("--problems must be >= 1 and --share in (0, 1]")
        check_sources(cfg)
        out = OutputLocation(cfg.output)
        out.check_writable()
    except (*REFUSED, ValueError) as exc:
        return refuse("plan", exc)
    init_ray(cfg.ray, verbose)
    plan = make_plan(cfg, options)
    write_bytes_atomic(out.fs, f"{out.root}/plan.json",
                       json.dumps(plan, indent=2, sort_keys=True).encode())
    print("\n" + format_plan(plan) + f"\n\nwritten to {out.uri}/plan.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
