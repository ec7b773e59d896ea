"""The steps of a round on Ray: ordinary runs, the run's exports, Ray Train (see ``rounds.py``).

    rounds/<r>/                 the round's run (all/, verified/, summary.json, report.html)
    rounds/<r>/eval/            raydistill eval of the round's model: held-out split (greedy) and
                                eval.benchmarks; eval.json, eval.md, runs/seed-<s>/
    rounds/<r>/train_data/      SFT rows: the run's trl_sft export (data/, export.json)
    rounds/<r>/pairs_data/      DPO pairs: the run's trl_dpo export
    rounds/<r>/sft_model/       the SFT checkpoint of "sft then dpo" (the DPO phase starts there)
    rounds/<r>/model/           the round's checkpoint: the next round's teacher.model
    rounds/<r>/<phase>.json     a finished training phase's metrics, written after its checkpoint

All paths are on the loop's filesystem (local disk or ``s3://``).
"""

from __future__ import annotations

import copy
import json
import logging
from collections import defaultdict
from typing import Any

import pyarrow.compute as pc
import pyarrow.fs as pafs

from raydistill.config import Config
from raydistill.errors import ConfigError
from raydistill.eval.config import BenchmarkSpec, EvalConfig
from raydistill.eval.evaluate import evaluate
from raydistill.export.config import ExportConfig, ExportError
from raydistill.export.plan import export_run, format_options, open_finished_run
from raydistill.loop.rounds import advance
from raydistill.loop.rounds_report import write_loop_report
from raydistill.loop.state import LoopLocation, LoopState, open_loop
from raydistill.output.config import s3_endpoint
from raydistill.output.location import OutputLocation
from raydistill.output.storage import write_bytes_atomic
from raydistill.pipeline import run
from raydistill.train.config import phases
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
    per_round = cfg.loop.problems_per_round
    if per_round:  # a fresh slice of every training data set
        for ds in out.source.datasets:
            if ds.name != cfg.loop.heldout:
                ds.offset += r * per_round
                ds.limit = per_round
    endpoint = s3_endpoint(cfg.output)
    if model.startswith("s3://") and endpoint:
        # The engines download the checkpoint on their node (teachers/base.py: resolve_model).
        out.teacher.env = {**out.teacher.env, "AWS_ENDPOINT_URL": endpoint}
    return out


def eval_config(cfg: Config, loc: LoopLocation, r: int, model: str) -> Config:
    """Round ``r``'s ``raydistill eval``: greedy, the held-out split and ``eval.benchmarks``."""
    out = round_config(cfg, loc, r, model)
    out.output.uri = f"{loc.round_uri(r)}/eval"
    heldout = [BenchmarkSpec(name=ds.name, format=ds.format, path=ds.path, split=ds.split,
                             subset=ds.subset, preset=ds.preset,
                             question_field=ds.question_field, answer_field=ds.answer_field,
                             domain=ds.domain, limit=ds.limit, seed=ds.seed)
               for ds in cfg.source.datasets if ds.name == cfg.loop.heldout]
    out.eval = EvalConfig(benchmarks=[*heldout, *copy.deepcopy(cfg.eval.benchmarks)], n=1,
                          temperature=0.0, top_p=1.0, max_tokens=cfg.sampling.max_tokens,
                          seeds=[cfg.sampling.seed or 0], k=[1], greedy=False,
                          limit=cfg.eval.limit)
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


def run_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """What ``loop.json`` keeps of a round's run summary."""
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


# The training data of each phase: the export format, and the round's folder it goes to.
TRAINING_DATA = {"sft": ("trl_sft", "train_data"), "dpo": ("trl_dpo", "pairs_data")}


def training_run(cfg: Config, loc: LoopLocation, r: int) -> tuple[str, bool]:
    """``(run URI, imitating)``: the finished run round ``r`` trains on, its own or loop.imitate's.

    Imitate first: round 0 trains on a finished run's verified traces (a stronger
    teacher's, on any filesystem); every later round on its own samples.
    """
    if r == 0 and cfg.loop.imitate:
        return cfg.loop.imitate, True
    return loc.round_uri(r), False


def training_options(cfg: Config, fmt: str, uri: str) -> dict[str, Any]:
    """The export keys of a round's data in format ``fmt``, written to ``uri``.

    ``loop.export``'s keys that ``fmt`` takes, the held-out data set left out, the
    output's S3 endpoint.
    """
    given = format_options(cfg.loop.export, fmt)
    given["exclude_sources"] = sorted({*cfg.loop.export.exclude_sources, cfg.loop.heldout})
    return {**given, "uri": uri, "s3_endpoint": s3_endpoint(cfg.output),
            "s3_region": cfg.output.s3_region}


def check_imitate(cfg: Config) -> None:
    """Refuse a ``loop.imitate`` that is not a finished run, before any work starts."""
    try:
        open_finished_run(cfg.loop.imitate, ExportConfig(s3_endpoint=s3_endpoint(cfg.output),
                                                         s3_region=cfg.output.s3_region))
    except ExportError as exc:
        raise ConfigError(f"config key 'loop.imitate': {exc}") from None


class RoundSteps:
    """The real steps of :func:`raydistill.loop.rounds.advance` (Ray already initialised)."""

    def __init__(self, cfg: Config, loc: LoopLocation) -> None:
        """Steps of the loop ``cfg`` at ``loc``."""
        self.cfg, self.loc = cfg, loc

    def sample(self, r: int, model: str) -> dict[str, Any]:
        """Round ``r``'s run (resumed if a previous attempt was cut short)."""
        round_cfg = round_config(self.cfg, self.loc, r, model)
        return run_figures(run(round_cfg, OutputLocation(round_cfg.output)))

    def evaluate(self, r: int, model: str) -> dict[str, Any]:
        """``raydistill eval`` of the round's model (greedy), and pass@k from the round's run."""
        cfg = self.cfg
        eval_cfg = eval_config(cfg, self.loc, r, model)
        result = evaluate(eval_cfg)
        greedy = result["benchmarks"][cfg.loop.heldout]
        sampled_problems, sampled_passed = solved(OutputLocation(round_config(
            cfg, self.loc, r, model).output), cfg.loop.heldout)
        return {
            "problems": greedy["problems"],
            "pass@1": greedy["avg@n"],
            "pass@k": sampled_passed / sampled_problems if sampled_problems else 0.0,
            "k": cfg.sampling.n,
            "temperature": cfg.sampling.temperature,
            "eval_uri": eval_cfg.output.uri,
            "benchmarks": {name: {"avg@n": b["avg@n"], "stderr": b["stderr"],
                                  "problems": b["problems"]}
                           for name, b in result["benchmarks"].items()
                           if name != cfg.loop.heldout},
        }

    def select(self, r: int) -> dict[str, Any]:
        """The run's trl_sft rows and/or trl_dpo pairs (round 0: ``loop.imitate``'s run's).

        Each export clears its folder first: a selection cut short is redone whole.
        """
        cfg, loc = self.cfg, self.loc
        run_uri, imitating = training_run(cfg, loc, r)
        out: dict[str, Any] = {"selected_from": cfg.loop.imitate if imitating else "run"}
        for kind, _ in phases(cfg.train.method):
            fmt, folder = TRAINING_DATA[kind]
            done = export_run(run_uri, fmt, ray_cfg=cfg.ray, **training_options(
                cfg, fmt, f"{loc.round_uri(r)}/{folder}"))
            out["pairs" if kind == "dpo" else "selected"] = done["rows"]
        out.setdefault("selected", 0)
        return out

    def train(self, r: int, model: str) -> dict[str, Any]:
        """Each phase of ``train.method`` in turn; a phase already finished is adopted."""
        loc, t = self.loc, self.cfg.train
        metrics: dict[str, Any] = {}
        start = model
        for kind, dest_name in phases(t.method):
            dest = loc.round_path(r, dest_name)
            marker = loc.round_path(r, f"{kind}.json")
            done = _read_json(loc.fs, marker)
            if done is None:
                data = loc.round_path(r, TRAINING_DATA[kind][1], "data")
                work = loc.round_path(r, f"_train_{kind}")
                if loc.fs.get_file_info(work).type != pafs.FileType.NotFound:
                    loc.fs.delete_dir(work)  # a killed attempt's Ray Train state
                done = fine_tune(loc.fs, data, start, dest, work, t, kind,
                                 s3_endpoint(self.cfg.output))
                # The marker commits the phase: written only once the checkpoint is whole.
                write_bytes_atomic(loc.fs, marker, json.dumps(done).encode())
            else:
                logger.info("round %d: %s phase already trained (%s)", r, kind, marker)
            metrics[kind] = done
            start = loc.model_ref(r, dest_name)
        last = metrics[phases(t.method)[-1][0]]
        return {**last, "phases": metrics, "checkpoint": start}


def _read_json(fs: pafs.FileSystem, path: str) -> dict[str, Any] | None:
    try:
        with fs.open_input_stream(path) as stream:
            data: dict[str, Any] = json.loads(stream.read())
            return data
    except FileNotFoundError:
        return None


def run_loop(cfg: Config) -> LoopState:
    """Run, or resume, the loop at ``output.uri`` (Ray already initialised)."""
    loc = LoopLocation(cfg)
    state = open_loop(loc, cfg)
    loc.save(state)
    advance(cfg.loop, cfg.teacher.model, state, RoundSteps(cfg, loc), loc.save)
    write_loop_report(loc, state)
    return state
