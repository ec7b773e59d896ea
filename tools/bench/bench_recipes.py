"""Did the data help? Three recipes from one run, each trained into the tiny student, side by side.

    python tools/bench/bench_recipes.py conf=recipes_local [key=value ...]

One run of the conf (the tiny teacher on generated arithmetic, trace filters on), then
three trl_sft exports of that same run, each fine-tuning the shipped tiny student from
its start (``train`` section, TRL in Ray Train):

- ``all``: every sample with a response, verified or not (export rows=all);
- ``verified``: the samples the verifier passed, also those the trace filters removed
  (rows=checked);
- ``filtered``: verified samples that also pass the trace filters (rows=verified).

Then ``raydistill eval``'s protocol (the conf's ``eval`` section) on the starting student
and the three trained ones, and ``raydistill compare`` with the starting student as the
baseline: ``<output.uri>/compare/compare.md``. Every step resumes: a rerun redoes only
what is missing. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import json
import logging
import sys

from raydistill.cli import compare
from raydistill.cli.console import setup_console, split_verbose
from raydistill.config import load
from raydistill.errors import ConfigError
from raydistill.eval.evaluate import evaluate
from raydistill.export.plan import export_run
from raydistill.output.location import OutputLocation
from raydistill.output.storage import resolve, write_bytes_atomic
from raydistill.pipeline import run
from raydistill.ray_session import init_ray
from raydistill.train.trainer import fine_tune

logger = logging.getLogger("raydistill")

# Recipe name -> the export's `rows` (raydistill/export/config.py).
RECIPES = {"all": "all", "verified": "checked", "filtered": "verified"}
START = "builtin:tiny-student"


def main(argv: list[str]) -> int:
    args, verbose = split_verbose(argv)
    setup_console(verbose)
    try:
        cfg = load(args)
    except ConfigError as exc:
        print(f"bench_recipes: {exc}", file=sys.stderr)
        return 2
    root_uri = cfg.output.uri.rstrip("/")
    init_ray(cfg.ray, verbose)
    run_cfg = copy.deepcopy(cfg)
    run_cfg.output.uri = f"{root_uri}/run"
    run(run_cfg, OutputLocation(run_cfg.output))
    fs, root = resolve(root_uri, cfg.output.s3_endpoint, cfg.output.s3_region)
    models = {"start": START}
    trained = {}
    for name, rows in RECIPES.items():
        data_uri = f"{root_uri}/data/{name}"
        exported = export_run(run_cfg.output.uri, "trl_sft", rows=rows, uri=data_uri)
        dest = f"{root}/models/{name}"
        marker = f"{root}/models/{name}.json"
        if fs.get_file_info(marker).size is None:
            metrics = fine_tune(fs, f"{root}/data/{name}/data", START, dest,
                                f"{root}/models/_work_{name}", cfg.train, "sft",
                                cfg.output.s3_endpoint)
            metrics["rows"] = exported["rows"]
            write_bytes_atomic(fs, marker, json.dumps(metrics).encode())
        with fs.open_input_stream(marker) as stream:
            trained[name] = json.loads(stream.read())
        models[name] = f"{root_uri}/models/{name}"
    evals = []
    for name, model in models.items():
        eval_cfg = copy.deepcopy(cfg)
        eval_cfg.teacher.model = model
        eval_cfg.output.uri = f"{root_uri}/eval/{name}"
        evaluate(eval_cfg)
        evals.append(eval_cfg.output.uri)
    code = compare.main([*evals[1:], "--baseline", evals[0], "--out", f"{root_uri}/compare",
                         *(["--s3-endpoint", cfg.output.s3_endpoint]
                           if cfg.output.s3_endpoint else [])])
    print("training rows and loss per recipe:")
    for name, metrics in trained.items():
        print(f"  {name:<9} rows {metrics['rows']:>5}  steps {metrics['steps']:>4}  "
              f"loss {metrics.get('loss')}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
