"""``raydistill eval conf=NAME [key=value ...] [-v]`` (also ``python -m raydistill.eval``).

Evaluates the conf's teacher model (a vLLM pool of ``teacher.replicas``, a ``builtin:``
model, a checkpoint path or ``s3://`` URI, or an OpenAI-compatible endpoint) on the
benchmarks of ``eval.benchmarks`` with the protocol of the ``eval`` section, into
``output.uri``: eval.json, eval_problems.parquet, eval.md, eval.html and the runs.

    raydistill eval conf=eval_local
    raydistill eval conf=eval_local teacher.model=builtin:tiny-student output.uri=out/eval-student

Everything that can be wrong (the config, a benchmark that cannot be read or has no
gold, k larger than n x seeds, a model path that does not exist, the output) fails
before Ray starts. Rerunning the same command resumes; a finished evaluation's
numbers are recomputed from its rows, the same every time.
"""

from __future__ import annotations

import logging
import sys

from raydistill.cli.console import REFUSED, refuse, start
from raydistill.config import Config, ConfigError, load
from raydistill.ray_session import init_ray

logger = logging.getLogger("raydistill")


def check_inputs(cfg: Config) -> None:
    """The checks that touch no output: the eval section, the benchmarks, the model."""
    from raydistill.eval.benchmarks import check_benchmarks
    from raydistill.eval.config import eval_checks
    from raydistill.eval.evaluate import benchmarks_of
    from raydistill.teachers.models import model_problem

    for ok, key, why in eval_checks(cfg.eval):
        if not ok:
            raise ConfigError(f"config key {key!r} {why}")
    check_benchmarks(benchmarks_of(cfg), cfg.output.s3_endpoint)
    if problem := model_problem(cfg.teacher.model, cfg.teacher.name, cfg.output.s3_endpoint,
                                cfg.output.s3_region):
        raise ConfigError(f"config key 'teacher.model': {problem}")


def check(cfg: Config) -> None:
    """Every check that needs no Ray: the inputs, then the output and each run's manifest."""
    from raydistill.eval.evaluate import benchmarks_of, plan_runs
    from raydistill.output.location import OutputLocation
    from raydistill.output.manifest import open_run

    check_inputs(cfg)
    out = OutputLocation(cfg.output)
    out.check_writable()
    for run in plan_runs(cfg, benchmarks_of(cfg)):  # a changed protocol here is refused now
        open_run(OutputLocation(run.cfg.output), run.cfg)


def main(argv: list[str] | None = None) -> int:
    """Evaluate; return the process exit code."""
    parsed = start(argv, __doc__)
    if parsed is None:
        return 0
    args, verbose = parsed
    try:
        logger.info("checking the config and the benchmarks")
        cfg = load(args)
        check(cfg)
    except REFUSED as exc:
        return refuse("eval", exc)
    from raydistill.eval.card import render_markdown
    from raydistill.eval.evaluate import evaluate
    from raydistill.output.checks import RunFailed

    init_ray(cfg.ray, verbose)
    try:
        result = evaluate(cfg)
    except RunFailed as exc:
        print(f"raydistill eval: a run failed: {exc}", file=sys.stderr)
        return 1
    print("\n" + render_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
