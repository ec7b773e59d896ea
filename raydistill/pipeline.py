"""The one place that chains Ray Data operations: the data's whole path.

    stage sources [-> problem filters] -> Read -> prompts -> teacher pool -> verifier pool
        [-> judge] -> Write (generations)                      generate_stages, generate
    Read (generations) -> flatten [-> trace filters] -> Write (all/)
        ; Read (all/) -> verified -> Write (verified/)          publish
    [Read (all/) -> rows of a format -> parts -> shards]        export/plan.py

:func:`run` is the eight steps in order: stage, filter, generate (per wave), check
coverage, publish, summarise, report and card, exports.

With adaptive sampling (``sampling.waves``) the first pass runs once per wave, each
over the problems still short of ``sampling.stop_at_verified`` verified samples
(:mod:`raydistill.adaptive`), and the second flattens every wave's generations.

Each step between a Read and its Write is a :class:`~raydistill.stages.Stage`
(what it runs, on which compute, the columns it needs and gives, checked against
:mod:`raydistill.records` before Ray runs anything), chained by :func:`stages.apply`.

The first pass keeps one row per problem from its Read to its Write (the n samples
are a list column) and cuts blocks to ``ray.rows_per_block`` rows, the shape Ray
Data's row-level checkpointing needs: with ``DataContext.checkpoint_config`` set,
each written block's problem ids are committed in two phases (pending id file,
data file, rename), and a rerun drops the committed ids right after the Read and
deletes data files whose commit never finished. The second pass flattens to one
row per sample into ``_work/publish``; it is cheap and deterministic, so it is
redone whole after an interruption, then moved into ``all/`` and ``verified/``.
``manifest.py`` records which steps are committed.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import pyarrow as pa
import ray
import ray.data
from ray.data import DataContext
from ray.data.checkpoint import CheckpointConfig

from raydistill import records, stages
from raydistill.config import Config
from raydistill.config.loader import raise_first, to_dict
from raydistill.export.card import write_card
from raydistill.export.plan import export_formats
from raydistill.filters.problems import filter_problems
from raydistill.filters.traces import filter_traces
from raydistill.observe.metrics import count_read
from raydistill.observe.progress import Progress
from raydistill.observe.report import report_run
from raydistill.observe.summary import summarize, teacher_usage
from raydistill.output.caps import below_spent, cap_reached, generation_spend, spent
from raydistill.output.checks import check_coverage, error_budget
from raydistill.output.config import s3_endpoint
from raydistill.output.flatten import flatten_generations, verified_only
from raydistill.output.location import OutputLocation, PassPaths
from raydistill.output.manifest import Manifest, open_run
from raydistill.output.problems import write_problem_table
from raydistill.output.provenance import provenance, versions
from raydistill.output.row_groups import write_parts
from raydistill.prompts import add_prompts
from raydistill.ray_session import configure_data
from raydistill.sampling.escalation import (
    fixed_run_wave,
    per_teacher,
    teacher_of,
    teacher_prices,
)
from raydistill.sampling.waves import (
    DEFAULT_TEACHER,
    Wave,
    open_problems,
    sampling_plan,
    wave_counts,
)
from raydistill.sources import read_problems
from raydistill.stages import Stage
from raydistill.teachers import batches_in_flight, constructor_kwargs, get_teacher
from raydistill.teachers.config import sequences_in_flight
from raydistill.teachers.crashes import start_ledger
from raydistill.teachers.placement import remote_args
from raydistill.verifiers.actor import VerifierActor
from raydistill.verifiers.config import JudgeConfig, VerifyConfig
from raydistill.verifiers.judge import JudgeActor
from raydistill.verifiers.labels import LabelsConfig

logger = logging.getLogger(__name__)


def generate_stages(cfg: Config, teacher_cls: type, sample_offset: int = 0) -> list[Stage]:
    """Pass 1's stages: prompts -> teacher pool -> verifier pool (-> the LLM judge)."""
    # Blocks of ray.rows_per_block problems: what each checkpoint commit covers.
    prompts = Stage("prompts", add_prompts, needs=("problem", "domain"),
                    output=records.GENERATION, fn_kwargs={"prompt_cfg": cfg.prompt},
                    rows_per_block=cfg.ray.rows_per_block)
    teacher = Stage(
        "teacher", teacher_cls, needs=("messages",), output=records.GENERATION,
        # The crash ledger outlives engine restarts: a prompt that kills the
        # engine every time ends as one error row (teachers/crashes.py).
        constructor_kwargs=constructor_kwargs(cfg.teacher, cfg.sampling, start_ledger(),
                                              sample_offset),
        batch_size=cfg.teacher.batch_size,
        # Data-parallel replicas: a fixed pool unless teacher.max_replicas lets it grow.
        actors=(cfg.teacher.replicas, cfg.teacher.max_replicas or cfg.teacher.replicas),
        batches_in_flight=batches_in_flight(sequences_in_flight(cfg.teacher, cfg.sampling.n),
                                            cfg.teacher.batch_size),
        # Resources, environment and (TP/PP) placement group of each replica.
        remote_args=remote_args(to_dict(cfg.teacher)),
    )
    return [prompts, teacher, *verify_stages(cfg.verify, cfg.judge, cfg.labels)]


def verify_stages(verify: VerifyConfig, judge: JudgeConfig,
                  labels: LabelsConfig | None = None) -> list[Stage]:
    """The verifier pool and, unless ``judge.policy=rule_only``, the LLM judge after it.

    The verify-only command (:mod:`raydistill.cli.verify`) runs these same stages over
    flat rows (its actors adapt the columns), so both check samples alike. ``labels``:
    where each problem's label comes from (None: the defaults, the gold).
    """
    verifier = Stage(
        "verify", VerifierActor, needs=("domain", "samples"), output=records.GENERATION,
        constructor_kwargs={"verify": verify, "labels": labels}, batch_size=verify.batch_size,
        actors=(verify.replicas, verify.replicas), num_cpus=verify.num_cpus)
    if judge.policy == "rule_only":
        return [verifier]
    # The LLM judge: only samples the rule verifier failed or could not parse.
    judged = Stage(
        "judge", JudgeActor, needs=("domain", "samples"), output=records.GENERATION,
        constructor_kwargs={"judge": judge, "teacher_kwargs": constructor_kwargs(
            judge.teacher, judge.sampling)},
        batch_size=judge.teacher.batch_size,
        actors=(judge.teacher.replicas, judge.teacher.replicas),
        remote_args=remote_args(to_dict(judge.teacher)))
    return [verifier, judged]


def generate(cfg: Config, out: OutputLocation, paths: PassPaths | None = None,
             sample_offset: int = 0) -> None:
    """Pass 1: problems -> teacher -> verifiers -> one Parquet row per problem.

    Resumable: problems whose rows are committed under ``_work/generations``
    are skipped (Ray Data's row-level checkpoint, keyed by ``problem_id``).
    ``paths`` and ``sample_offset``: an adaptive wave's pass (:func:`generate_waves`).
    """
    paths = paths or out.pass_paths()
    teacher_cls = get_teacher(cfg.teacher.name)
    out.settle_half_commits(paths.checkpoint)
    context = DataContext.get_current()
    # Every dataset copies the current context when it is created: set it for
    # this plan only, so the flattening pass (not one row per id) stays plain.
    context.checkpoint_config = _checkpointing(out, paths.checkpoint)
    try:
        ds = ray.data.read_parquet(paths.problems, filesystem=out.fs)
        ds = stages.apply(ds, generate_stages(cfg, teacher_cls, sample_offset), records.PROBLEM,
                          cfg.ray.max_task_retries)
        ds.write_parquet(paths.generations, filesystem=out.fs)
    finally:
        context.checkpoint_config = None


def _checkpointing(out: OutputLocation, checkpoint: str) -> CheckpointConfig:
    return CheckpointConfig(
        id_column="problem_id",
        checkpoint_path=checkpoint,
        override_filesystem=out.fs,
        # Kept after success: if the driver dies while publishing, the rerun
        # must still know that every problem is generated.
        delete_checkpoint_on_success=False,
    )


def generate_waves(cfg: Config, out: OutputLocation, manifest: Manifest, kept: int) -> bool:
    """Pass 1 under adaptive sampling: one resumable generate pass per wave.

    Each wave's problems are staged and recorded in the manifest before it runs, and
    the wave is marked generated (with what it spent) once its coverage check passes;
    a rerun skips generated waves, resumes a started one from its checkpoint, and
    restages the next from the earlier waves' generations (the same problems: a pure
    function). Returns True when a spending cap stopped the waves before the next one
    (:mod:`raydistill.output.caps`; ``manifest.capped`` says which).
    """
    stop_at = cfg.sampling.stop_at_verified
    manifest.waves = manifest.waves or []
    counts: list[pa.Table] = []
    prices = teacher_prices(cfg)
    for wave in sampling_plan(cfg.sampling) or []:
        paths = out.pass_paths(wave.index)
        reached = cap_reached(spent(manifest.waves), cfg.output)
        if wave.index == len(manifest.waves) and reached:
            manifest.capped = {"cap": reached, "before_wave": wave.index,
                               **spent(manifest.waves)}
            manifest.save(out)
            logger.warning("stopped at %s before wave %d: %s", reached, wave.index,
                           manifest.capped)
            return True
        if wave.index == len(manifest.waves):
            problems = kept  # wave 0: every staged problem
            if wave.index:
                ids = open_problems(counts, stop_at)
                problems = out.stage_wave(wave.index, ids) if len(ids) else 0
            manifest.waves.append({**wave.as_dict(), "problems": problems,
                                   "generated": wave.index > 0 and problems == 0})
            manifest.save(out)
        entry = manifest.waves[wave.index]
        if entry["problems"] == 0 and wave.index:
            logger.info("wave %d: every problem has %d verified or no sample left; done",
                        wave.index, stop_at)
            break
        if not entry["generated"]:
            logger.info("wave %d: %d samples each for %d problems (samples %d-%d)", wave.index,
                        wave.n, entry["problems"], wave.offset, wave.offset + wave.n - 1)
            with Progress(entry["problems"]):  # the console's funnel line
                generate(wave_config(cfg, wave), out, paths, wave.offset)
            check_coverage(out, paths)
            entry.update(read_wave_spend(out, paths, prices[wave.teacher]), generated=True)
            manifest.save(out)
        counts.append(read_wave_counts(out, paths))
    return False


def wave_config(cfg: Config, wave: Wave) -> Config:
    """``cfg`` for one adaptive wave: its samples per problem as ``n``, its teacher as ``teacher``.

    Escalation (:mod:`raydistill.sampling.escalation`): the wave's named teacher.
    """
    out = copy.deepcopy(cfg)
    out.sampling.n = wave.n
    out.teacher = copy.deepcopy(teacher_of(cfg, wave.teacher))
    return out


def read_wave_counts(out: OutputLocation, paths: PassPaths) -> pa.Table:
    """:func:`~raydistill.adaptive.wave_counts` of a wave's generations, verdicts only read."""
    columns = ["problem_id", "input_error", "teacher_error", "samples.list.element.verdict"]
    parts = [wave_counts(part) for part in out.iter_columns(paths.generations, columns)]
    return pa.concat_tables(parts)


def read_wave_spend(out: OutputLocation, paths: PassPaths,
                    prices: dict[str, Any]) -> dict[str, float]:
    """:func:`~raydistill.output.caps.generation_spend` of a wave's generations."""
    columns = ["prompt_tokens", "samples.list.element.completion_tokens"]
    parts = [generation_spend(part, prices) for part in out.iter_columns(paths.generations,
                                                                          columns)]
    return {k: sum(p[k] for p in parts) for k in ("prompt_tokens", "completion_tokens", "cost")}


def publish(cfg: Config, out: OutputLocation,
            waves: list[dict[str, Any]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Pass 2: one row per sample in ``all/``, the passing ones in ``verified/``.

    Written under ``_work/publish`` first; the error budget is checked there,
    then the parts are moved into place. Returns the committed parts. ``waves``
    (the manifest's, adaptive sampling): every wave that ran is flattened.
    """
    out.delete_dir(out.publish)
    staged_all, staged_verified = out.staged_output("all"), out.staged_output("verified")
    schema = records.output_schema(waves is not None)
    passes = [(out.generations, None)] if waves is None else [
        (out.pass_paths(w["wave"]).generations, w) for w in waves
        if w["wave"] == 0 or w["problems"]]
    plan = sampling_plan(cfg.sampling) or []
    flattened = []
    for generations, wave in passes:
        made_by = cfg if wave is None else wave_config(cfg, plan[wave["wave"]])
        flatten = Stage("flatten", flatten_generations, needs=("samples",), output=schema,
                        fn_kwargs={"provenance": provenance(made_by, (wave or {}).get(
                            "teacher", DEFAULT_TEACHER)), "wave": wave and {
                            k: wave[k] for k in ("wave", "n", "offset")}})
        flattened.append(stages.apply(ray.data.read_parquet(generations, filesystem=out.fs),
                                      [flatten], records.GENERATION, cfg.ray.max_task_retries))
    ds = flattened[0].union(*flattened[1:]) if len(flattened) > 1 else flattened[0]
    if cfg.filters.traces.enabled:  # long-CoT quality filters (filters/traces.py)
        trace_filters = Stage("trace_filters", filter_traces, fn_kwargs={"cfg": cfg.filters.traces},
                              needs=("reasoning", "solution", "verified"))
        ds = stages.apply(ds, [trace_filters], schema, cfg.ray.max_task_retries)
    write_parts(ds, staged_all, out.fs)
    verified = Stage("verified", verified_only, needs=("verified",))
    write_parts(stages.apply(ray.data.read_parquet(staged_all, filesystem=out.fs), [verified],
                             schema, cfg.ray.max_task_retries), staged_verified, out.fs)
    error_budget(out, staged_all, cfg.output.max_error_fraction)
    return out.commit_published(schema)


def run(cfg: Config, out: OutputLocation, manifest: Manifest | None = None) -> dict[str, Any]:
    """Run, or resume, the pipeline into ``out`` (Ray already initialised); return the summary.

    ``manifest`` is the run :func:`~raydistill.output.manifest.open_run` returned (opened
    here if not given). Each step the manifest records as committed is skipped.
    """
    manifest = manifest or open_run(out, cfg)
    configure_data(cfg.ray)
    if manifest.waves and (manifest.published is None or manifest.capped):
        raise_first(below_spent(spent(manifest.waves), cfg.output))  # before any work
    if manifest.capped and not cap_reached(spent(manifest.waves or []), cfg.output):
        logger.info("resuming a run stopped at %s: the cap is higher now", manifest.capped)
        manifest.capped = manifest.published = None
    if manifest.published is not None:
        logger.info("%s is a finished run with this config; nothing to do", out.uri)
        if manifest.problem_table is None:  # finished before problems/ existed
            return backfill_problem_table(cfg, out, manifest)
        return out.read_summary()
    manifest.attempts += 1
    manifest.save(out)
    timings: dict[str, float] = {}
    started = time.monotonic()
    filtering = cfg.filters.problems_enabled  # raw inputs go to _work/inputs first
    if manifest.staged is None:
        problems = count_read(read_problems(cfg.source, s3_endpoint(cfg.output)))
        manifest.staged = out.stage_problems(problems, cfg.source.problems_per_file,
                                             out.inputs if filtering else None)
        manifest.save(out)
        logger.info("staged %d problems", manifest.staged["problems"])
    if filtering and manifest.filtered is None:
        manifest.filtered = filter_problems(cfg, out, manifest.staged["problems"])
        manifest.save(out)
    kept = manifest.filtered["kept"] if manifest.filtered else manifest.staged["problems"]
    timings["stage_s"] = time.monotonic() - started

    if not manifest.generated:
        mark = time.monotonic()
        capped = False
        if cfg.sampling.waves is not None:  # adaptive sampling: one pass per wave
            capped = generate_waves(cfg, out, manifest, kept)
        else:
            with Progress(kept):  # the console's funnel line
                generate(cfg, out)
            logger.info("checking that every staged problem was generated exactly once")
            check_coverage(out)
        timings["generate_s"] = time.monotonic() - mark
        manifest.generated = not capped  # a capped run resumes its waves when rerun
        manifest.save(out)

    mark = time.monotonic()
    parts = publish(cfg, out, manifest.waves)
    timings["publish_s"] = time.monotonic() - mark
    if manifest.problem_table is None:  # problems/, from the committed all/
        mark = time.monotonic()
        manifest.problem_table = write_problem_table(out)
        manifest.save(out)
        timings["problem_table_s"] = time.monotonic() - mark
    timings["total_s"] = time.monotonic() - started

    logger.info("summing up the run from %s", out.all)
    summary = summarize(out, manifest.staged, timings, sampling_plan(cfg.sampling))
    summary["attempts"] = manifest.attempts
    summary["stopped_at_cap"] = manifest.capped  # null: the run went to its end
    summary["removed"] = manifest.filtered  # problem filters' tally (None: filters off)
    summary["problem_table"] = manifest.problem_table  # problems/ counted (output/problems.py)
    summary["config"] = to_dict(cfg)
    # Per teacher (escalation: one per named teacher of the waves); usage sums their costs.
    summary["teachers"] = per_teacher(summary.get("waves") or [fixed_run_wave(summary)],
                                      teacher_prices(cfg))
    summary["usage"] = teacher_usage(summary, summary["config"]["teacher"], summary["teachers"])
    summary["versions"] = versions()
    out.write_summary(summary)
    manifest.published = parts
    manifest.save(out)
    report_run(out)  # <uri>/report.html
    write_card(out)  # <uri>/README.md: the folder is a Hugging Face dataset
    export_formats(out, cfg.export, cfg.ray)  # export.formats, each into <uri>/exports/NAME
    return summary


def backfill_problem_table(cfg: Config, out: OutputLocation, manifest: Manifest) -> dict[str, Any]:
    """Write ``problems/`` of a run finished before it existed; its summary, report and card too."""
    manifest.problem_table = write_problem_table(out)
    manifest.save(out)
    summary = out.read_summary()
    summary["problem_table"] = manifest.problem_table
    out.write_summary(summary)
    report_run(out)
    write_card(out)
    return summary
