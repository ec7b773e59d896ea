"""Escalation without Ray: named teachers in the config, a teacher per wave, and what each
teacher wrote and cost (raydistill.sampling.escalation)."""

import pyarrow as pa
import pytest

from raydistill import pipeline, records
from raydistill.config import ConfigError, load
from raydistill.observe.summary import Tally, format_table, teacher_usage
from raydistill.output.flatten import flatten_generations
from raydistill.output.manifest import diff_keys, fingerprint
from raydistill.output.provenance import provenance
from raydistill.sampling.escalation import per_teacher, teacher_prices
from raydistill.sampling.waves import sampling_plan, wave_plan, wave_summary
from raydistill.teachers.config import HTTPTeacherConfig, VLLMTeacherConfig
from tests.unit.test_waves import (
    PROVENANCE,
    config,
    fake_generate,
    generation,
    samples_by_problem,
    staged_run,
)

STRONG = ["teachers.strong.name=openai", "teachers.strong.model=big",
          "teachers.strong.base_url=http://127.0.0.1:1/v1",
          "teachers.strong.price_output_per_million=10"]
ESCALATE = [*STRONG, "sampling.waves=[2,2,{n: 4, teacher: strong}]", "sampling.max_samples=8"]


# --- config ---------------------------------------------------------------------------------

def test_waves_name_teachers_typed_per_backend(tmp_path):
    cfg = config(tmp_path, *ESCALATE, "teachers.cheap.model=builtin:tiny-student",
                 "teachers.cheap.dtype=float32")
    assert isinstance(cfg.teachers["strong"], HTTPTeacherConfig)
    assert isinstance(cfg.teachers["cheap"], VLLMTeacherConfig)
    assert cfg.teachers["cheap"].dtype == "float32"
    assert [(w.n, w.teacher) for w in sampling_plan(cfg.sampling)] == [
        (2, "teacher"), (2, "teacher"), (4, "strong")]


@pytest.mark.parametrize("overrides, key", [
    # A wave naming a teacher the config does not define.
    (["sampling.waves=[2,{n: 2, teacher: nope}]"], r"sampling\.waves\[1\]\.teacher"),
    # An entry that is neither a count nor {n, teacher}.
    (["sampling.waves=[2,{n: 2, model: x}]"], r"sampling\.waves"),
    # A vLLM key on an openai named teacher: refused, naming it and whose key it is.
    ([*STRONG, "teachers.strong.dtype=float32"], r"teachers\.strong\.dtype.*vllm"),
    # A named teacher's own checks, under its name.
    ([*STRONG, "teachers.strong.replicas=0"], r"teachers\.strong\.replicas"),
    (["teachers.teacher.model=x", "sampling.waves=[2]"], r"teachers\.teacher"),
])
def test_bad_escalation_fails_before_work_naming_the_key(tmp_path, overrides, key):
    with pytest.raises(ConfigError, match=key):
        config(tmp_path, *overrides)


def test_a_named_teachers_prices_do_not_stop_a_resume_its_model_does(tmp_path):
    base = fingerprint(config(tmp_path, *ESCALATE))
    cheaper = fingerprint(config(tmp_path, *ESCALATE,
                                 "teachers.strong.price_output_per_million=1"))
    other = fingerprint(config(tmp_path, *ESCALATE, "teachers.strong.model=bigger"))
    assert diff_keys(base, cheaper) == []
    assert diff_keys(base, other) == ["teachers.strong.model"]


# --- the waves ask their teachers ------------------------------------------------------------

def test_each_wave_runs_with_its_own_teacher(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch, *ESCALATE)
    teachers = []
    calls = []
    generate = fake_generate(calls)

    def recording(wave_cfg, out, paths=None, sample_offset=0):
        teachers.append((sample_offset, wave_cfg.teacher.model))
        generate(wave_cfg, out, paths, sample_offset)
    monkeypatch.setattr(pipeline, "generate", recording)
    pipeline.generate_waves(cfg, out, manifest, manifest.staged["problems"])
    assert teachers == [(0, "builtin:tiny-teacher"), (2, "builtin:tiny-teacher"), (4, "big")]
    assert [w["teacher"] for w in manifest.waves] == ["teacher", "teacher", "strong"]
    # The cheap waves solved most problems; the strong one only got what was left.
    assert manifest.waves[2]["problems"] < manifest.waves[0]["problems"]
    assert samples_by_problem(out, manifest)


def test_rows_say_which_teacher_wrote_them(tmp_path):
    cfg = config(tmp_path, *ESCALATE)
    strong = pipeline.wave_config(cfg, sampling_plan(cfg.sampling)[2])
    row = provenance(strong, "strong")
    assert (row["teacher"], row["teacher_name"], row["n"]) == ("big", "strong", 4)
    assert provenance(cfg)["teacher_name"] == "teacher"


# --- per teacher accounting -------------------------------------------------------------------

def test_summary_counts_samples_tokens_cost_and_first_solved_per_teacher(tmp_path):
    cfg = config(tmp_path, *[*ESCALATE[:-2], "sampling.waves=[2,{n: 2, teacher: strong}]",
                             "teacher.price_output_per_million=1"])
    plan = wave_plan(list(cfg.sampling.waves))
    wave0 = flatten_generations(records.table([generation("a", ["fail", "fail"]),
                                               generation("b", ["pass", "fail"])],
                                              records.GENERATION),
                                PROVENANCE, plan[0].as_dict())
    wave1 = flatten_generations(records.table([generation("a", ["pass", "fail"])],
                                              records.GENERATION),
                                PROVENANCE, plan[1].as_dict())
    tally = Tally(plan)
    for part in (wave0, wave1):
        tally.add(part)
    waves = wave_summary(pa.concat_tables(tally.by_wave), plan)
    found = per_teacher(waves, teacher_prices(cfg))
    cheap, strong = found["teacher"], found["strong"]
    assert (cheap["samples"], cheap["verified"], cheap["newly_solved"]) == (4, 1, 1)
    assert (strong["samples"], strong["verified"], strong["newly_solved"]) == (2, 1, 1)
    assert (cheap["prompt_tokens"], strong["prompt_tokens"]) == (14, 7)  # one request each
    assert cheap["completion_tokens"] == 12 and strong["completion_tokens"] == 6
    assert strong["model"] == "big" and cheap["model"] == "builtin:tiny-teacher"
    assert cheap["cost"] == pytest.approx(12 / 1e6) and strong["cost"] == pytest.approx(60 / 1e6)
    summary = {"prompt_tokens": 21, "completion_tokens": 18}
    usage = teacher_usage(summary, {"price_output_per_million": 1.0}, found)
    assert usage["cost"] == pytest.approx(72 / 1e6)  # each teacher at its own price
    table = format_table({**TABLE, "teachers": found})
    assert "teacher strong (big)" in table and "1 first solved" in table


TABLE = {"problems_read": 2, "input_errors": 0, "duplicate_problems_dropped": 0,
         "teacher_errors": 0, "samples": 6, "truncated": 0, "verified": 2, "failed": 4,
         "errors": 0, "pass_rate": 0.3, "problems_with_a_verified_sample": 2,
         "completion_tokens": 18, "completion_tokens_per_s": 1.0,
         "timings": {"total_s": 1.0}, "output": "x"}


def test_the_escalation_conf_types_its_named_teacher_from_yaml():
    cfg = load(["conf=escalation"])
    strong = cfg.teachers["strong"]
    assert isinstance(strong, VLLMTeacherConfig) and strong.resources == {"CPU": 0.5}
    assert (cfg.teacher.model, strong.model) == ("builtin:tiny-student", "builtin:tiny-teacher")
    assert [w.teacher for w in sampling_plan(cfg.sampling)] == ["teacher", "teacher", "strong"]
