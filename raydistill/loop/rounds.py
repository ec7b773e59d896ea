"""The loop: each round an ordinary run, then select, fine-tune, and sample again.

    round r:  run(model_r) into rounds/<r>/          train and held-out problems, n samples
              run(model_r, greedy) into rounds/<r>/eval/   held-out problems, one greedy answer
              eval: greedy pass@1, pass@k of the held-out problems in the first run
              select (loop.max_per_problem, the pass-rate band) -> rounds/<r>/train_data/
              fine-tune model_r -> rounds/<r>/model/ = model_{r+1}

model_0 is ``teacher.model``; round 0's eval is the starting model's, before any
training. After ``loop.rounds`` trainings the last model is evaluated in one more
round (generation and evaluation only), or earlier when greedy pass@1 has not
improved for ``loop.patience`` rounds. With ``loop.imitate``, round 0 trains on
that finished run's verified traces (a stronger teacher's) instead of its own.
Every step is committed to ``loop.json`` (state.py) before the next begins.
"""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from typing import Any

import pyarrow.compute as pc

from raydistill.config import Config, s3_endpoint
from raydistill.loop.report import write_loop_report
from raydistill.loop.select import select
from raydistill.loop.state import LoopLocation, LoopState, open_loop
from raydistill.output.location import OutputLocation
from raydistill.output.storage import resolve
from raydistill.pipeline import run
from raydistill.teachers.base import resolve_model
from raydistill.train.trainer import fine_tune

logger = logging.getLogger(__name__)


def round_config(cfg: Config, loc: LoopLocation, r: int, model: str) -> Config:
    """The run config of round ``r``: ``cfg`` with the round's model, seed and output URI."""
    out = copy.deepcopy(cfg)
    out.teacher.model = model
    out.output.uri = loc.round_uri(r)
    out.output.overwrite = False
    if cfg.loop.reseed and out.sampling.seed is not None:
        out.sampling.seed += r
    return out


def eval_config(cfg: Config, loc: LoopLocation, r: int, model: str) -> Config:
    """Round ``r``'s greedy evaluation run: the held-out problems, one answer at temperature 0."""
    out = round_config(cfg, loc, r, model)
    out.output.uri = f"{loc.round_uri(r)}/eval"
    out.source.datasets = [ds for ds in cfg.source.datasets if ds.name == cfg.loop.heldout]
    out.sampling.n, out.sampling.temperature, out.sampling.top_p = 1, 0.0, 1.0
    out.sampling.waves = None  # one greedy answer per problem, never adaptive waves
    out.sampling.seed = cfg.sampling.seed
    return out


def solved(out: OutputLocation, source: str | None) -> tuple[int, int]:
    """``(problems, problems with a verified sample)`` in a run's ``all/`` (one source or all)."""
    ok: dict[str, bool] = defaultdict(bool)
    for part in out.iter_columns(out.all, ["problem_id", "source", "verified"]):
        if source is not None:
            part = part.filter(pc.equal(part["source"], source))
        for pid, verified in zip(part["problem_id"].to_pylist(), part["verified"].to_pylist(),
                                 strict=True):
            ok[pid] = ok[pid] or bool(verified)
    return len(ok), sum(ok.values())


def _run_figures(summary: dict[str, Any]) -> dict[str, Any]:
    samples = summary["samples"]
    return {
        "problems": summary["problems_read"],
        "samples": samples,
        "verified": summary["verified"],
        "yield": summary["verified"] / samples if samples else 0.0,
        "tokens": summary["completion_tokens"],
        "mean_completion_tokens": summary["completion_tokens"] / samples if samples else 0.0,
        "truncated": summary["truncated"],
    }


def _evaluate(cfg: Config, loc: LoopLocation, r: int, model: str) -> dict[str, Any]:
    greedy_cfg = eval_config(cfg, loc, r, model)
    greedy_out = OutputLocation(greedy_cfg.output)
    run(greedy_cfg, greedy_out)
    problems, passed = solved(greedy_out, None)
    sampled_problems, sampled_passed = solved(OutputLocation(round_config(
        cfg, loc, r, model).output), cfg.loop.heldout)
    return {
        "problems": problems,
        "pass@1": passed / problems if problems else 0.0,
        "pass@k": sampled_passed / sampled_problems if sampled_problems else 0.0,
        "k": cfg.sampling.n,
        "temperature": cfg.sampling.temperature,
    }


def _best(state: LoopState) -> int | None:
    scored = [e for e in state.rounds if "eval" in e]
    if not scored:
        return None
    return max(scored, key=lambda e: (e["eval"]["pass@1"], -e["round"]))["round"]


def _training_source(cfg: Config, loc: LoopLocation, r: int) -> tuple[Any, str]:
    """Filesystem and ``all/`` path the round trains from: its own run, or loop.imitate's."""
    if r == 0 and cfg.loop.imitate:
        fs, root = resolve(cfg.loop.imitate, s3_endpoint(cfg.output), cfg.output.s3_region)
        return fs, f"{root}/all"
    return loc.fs, loc.round_path(r, "all")


def run_loop(cfg: Config) -> LoopState:
    """Run, or resume, the loop at ``output.uri`` (Ray already initialised)."""
    loc = LoopLocation(cfg)
    state = open_loop(loc, cfg)
    loc.save(state)
    model = cfg.teacher.model
    r = 0
    while state.finished is None:
        entry = state.round(r)
        entry.setdefault("model", model)
        if "run" not in entry:
            logger.info("round %d: sampling with %s", r, model)
            round_cfg = round_config(cfg, loc, r, model)
            entry["run"] = _run_figures(run(round_cfg, OutputLocation(round_cfg.output)))
            loc.save(state)
        if "eval" not in entry:
            entry["eval"] = _evaluate(cfg, loc, r, model)
            logger.info("round %d: held-out pass@1 %.3f, pass@%d %.3f", r,
                        entry["eval"]["pass@1"], cfg.sampling.n, entry["eval"]["pass@k"])
            state.best_round = _best(state)
            state.best_model = state.rounds[state.best_round or 0]["model"]
            loc.save(state)
        if r >= cfg.loop.rounds:
            state.finished = "rounds"
        elif cfg.loop.patience is not None and r - (state.best_round or 0) >= cfg.loop.patience:
            state.finished = "patience"
        if state.finished is not None:
            loc.save(state)
            break
        if "selected" not in entry:
            fs, all_dir = _training_source(cfg, loc, r)
            entry["selected"] = select(fs, all_dir, loc.round_path(r, "train_data"), cfg.loop,
                                       cfg.prompt)
            entry["selected_from"] = cfg.loop.imitate if r == 0 and cfg.loop.imitate else "run"
            loc.save(state)
        if "train" not in entry:
            entry["train"] = fine_tune(
                loc.fs, loc.round_path(r, "train_data"), resolve_model(model),
                loc.round_path(r, "model"), loc.round_path(r, "_train"), cfg.train)
            entry["checkpoint"] = loc.model_ref(r)
            loc.save(state)
        model = entry["checkpoint"]
        r += 1
    write_loop_report(loc, state)
    return state

