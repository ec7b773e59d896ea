"""Adaptive sampling's wave logic without Ray: the plan, the selection between waves,
resume of the waves' orchestration, the wave column, seeds, the manifest and the summary."""

import asyncio
import json
from contextlib import nullcontext

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raydistill import pipeline, records
from raydistill.config import ConfigError, load
from raydistill.observe.summary import Tally, format_table
from raydistill.output.checks import RunFailed, check_coverage
from raydistill.output.flatten import flatten_generations
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import (
    ADAPTIVE_KEYS,
    Manifest,
    diff_keys,
    fingerprint,
    load_manifest,
    open_run,
)
from raydistill.sampling.waves import (
    cap_of,
    open_problems,
    sampling_plan,
    stopped_why,
    wave_counts,
    wave_plan,
    wave_summary,
)
from raydistill.teachers.base import request_seed, seed_key
from raydistill.teachers.config import SamplingConfig
from raydistill.teachers.http import HTTPTeacher
from raydistill.teachers.vllm_engine import VLLMTeacher

WAVES = ["sampling.waves=[2,2,4]", "sampling.max_samples=8"]


def config(tmp_path, *extra):
    return load(["conf=local", f"output.uri={tmp_path / 'out'}", *extra])


# --- the plan -------------------------------------------------------------------------------

@pytest.mark.parametrize("waves, cap, expected", [
    ([2, 4, 8], None, [(2, 0), (4, 2), (8, 6)]),
    ([2, 4, 8], 8, [(2, 0), (4, 2), (2, 6)]),
    ([2, 4, 8], 6, [(2, 0), (4, 2)]),
    ([2, 4, 8], 1, [(1, 0)]),
    ([1], None, [(1, 0)]),
    ([3, 3], 100, [(3, 0), (3, 3)]),  # a cap above the waves' sum: the waves decide
])
def test_wave_plan_cuts_waves_at_the_cap(waves, cap, expected):
    plan = wave_plan(waves, cap)
    assert [(w.n, w.offset) for w in plan] == expected
    assert [w.index for w in plan] == list(range(len(plan)))
    assert sum(w.n for w in plan) <= cap_of(waves, cap)


def test_sample_indices_are_reserved_per_wave_without_overlap():
    plan = wave_plan([2, 4, 8], 11)
    slots = [w.offset + i for w in plan for i in range(w.n)]
    assert slots == list(range(11))


def test_sampling_plan_is_none_for_a_fixed_n_run(tmp_path):
    assert sampling_plan(config(tmp_path).sampling) is None
    plan = sampling_plan(config(tmp_path, *WAVES).sampling)
    assert [w.as_dict() for w in plan] == [
        {"wave": 0, "n": 2, "offset": 0, "teacher": "teacher"},
        {"wave": 1, "n": 2, "offset": 2, "teacher": "teacher"},
        {"wave": 2, "n": 4, "offset": 4, "teacher": "teacher"}]


# --- config ---------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, key", [
    (["sampling.waves=[]"], "sampling.waves"),
    (["sampling.waves=[2,0]"], "sampling.waves"),
    (["sampling.waves=[2]", "sampling.max_samples=0"], "sampling.max_samples"),
    (["sampling.waves=[2]", "sampling.stop_at_verified=0"], "sampling.stop_at_verified"),
    (["sampling.waves=[2,2]", "sampling.stop_at_verified=5"], "sampling.stop_at_verified"),
    (["sampling.waves=[2,4]", "sampling.max_samples=3", "sampling.stop_at_verified=4"],
     "sampling.stop_at_verified"),
])
def test_bad_adaptive_keys_are_named(tmp_path, overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config(tmp_path, *overrides)


def test_adaptive_keys_are_typed(tmp_path):
    with pytest.raises(ConfigError, match="waves"):
        config(tmp_path, "sampling.waves=[two]")


def test_adaptive_keys_are_unchecked_without_waves(tmp_path):
    # stop_at_verified means nothing for a fixed-n run: no error for an unused key.
    assert config(tmp_path, "sampling.stop_at_verified=99").sampling.waves is None


def test_the_judge_has_no_waves(tmp_path):
    with pytest.raises(ConfigError, match="waves"):
        config(tmp_path, "judge.sampling.waves=[2]")


# --- fingerprint and manifest ----------------------------------------------------------------

def test_fixed_n_fingerprint_has_no_adaptive_keys(tmp_path):
    fixed = fingerprint(config(tmp_path))
    assert not set(ADAPTIVE_KEYS) & set(fixed)
    assert "sampling.n" in fixed
    # An unused adaptive key does not make a fixed-n run a different run.
    assert diff_keys(fixed, fingerprint(config(tmp_path, "sampling.stop_at_verified=3"))) == []


def test_adaptive_fingerprint_names_its_keys_and_ignores_n(tmp_path):
    adaptive = fingerprint(config(tmp_path, *WAVES))
    assert set(ADAPTIVE_KEYS) <= set(adaptive) and "sampling.n" not in adaptive
    assert diff_keys(adaptive, fingerprint(config(tmp_path, *WAVES, "sampling.n=9"))) == []
    assert diff_keys(adaptive, fingerprint(config(tmp_path, *WAVES, "sampling.max_samples=6"))
                     ) == ["sampling.max_samples"]
    assert set(diff_keys(fingerprint(config(tmp_path)), adaptive)) == {*ADAPTIVE_KEYS,
                                                                        "sampling.n"}


def test_changing_waves_refuses_to_resume(tmp_path):
    cfg = config(tmp_path, *WAVES)
    out = OutputLocation(cfg.output)
    open_run(out, cfg).save(out)
    from raydistill.output.storage import StorageError
    with pytest.raises(StorageError, match="sampling.waves"):
        open_run(out, config(tmp_path, "sampling.waves=[4,4]", "sampling.max_samples=8"))


def test_manifest_writes_waves_only_when_adaptive(tmp_path):
    out = OutputLocation(config(tmp_path).output)
    Manifest(fingerprint={}).save(out)
    assert "waves" not in json.loads((tmp_path / "out/_work/run.json").read_text())
    assert load_manifest(out).waves is None
    Manifest(fingerprint={}, waves=[{"wave": 0, "n": 2, "offset": 0, "problems": 3,
                                     "generated": True}]).save(out)
    assert load_manifest(out).waves[0]["problems"] == 3


# --- selection between waves -------------------------------------------------------------------

def sample(verdict):
    return {"response": "r", "reasoning": "", "solution": "s", "finish_reason": "stop",
            "think_closed": True, "completion_tokens": 3, "verdict": verdict,
            "reason": "pass" if verdict == "pass" else "wrong_answer", "verdict_detail": "",
            "verdicts": []}


def generation(pid, verdicts, input_error=None, teacher_error=None):
    return {"problem_id": pid, "source": "s", "source_index": 0, "domain": "math",
            "problem": f"problem {pid}", "input_error": input_error,
            "teacher_error": teacher_error, "prompt_tokens": 7,
            "samples": [sample(v) for v in verdicts]}


def test_wave_counts_count_verified_and_mark_unanswerable_rows_done():
    table = records.table([
        generation("a", ["pass", "fail"]), generation("b", ["fail", "fail"]),
        generation("c", [], input_error="missing field"),
        generation("d", [], teacher_error="prompt too long"),
        generation("e", ["pass", "pass"]),
    ], records.GENERATION)
    counts = wave_counts(table)
    assert counts.to_pydict() == {"problem_id": ["a", "b", "c", "d", "e"],
                                  "verified": [1, 0, 0, 0, 2], "samples": [2, 2, 0, 0, 2],
                                  "done": [False, False, True, True, False]}
    assert open_problems([counts], 1).to_pylist() == ["b"]
    assert open_problems([counts], 2).to_pylist() == ["a", "b"]


def test_wave_counts_read_only_verdicts(tmp_path):
    # The driver reads one nested field of the samples, not their texts.
    path = tmp_path / "g.parquet"
    pq.write_table(records.table([generation("a", ["pass", "fail"])], records.GENERATION), path)
    table = pq.ParquetFile(path).read(columns=["problem_id", "input_error", "teacher_error",
                                               "samples.list.element.verdict"])
    assert table.schema.field("samples").type.value_type.names == ["verdict"]
    assert wave_counts(table)["verified"].to_pylist() == [1]


def test_open_problems_sums_verified_over_waves():
    w0 = wave_counts(records.table([generation("a", ["pass", "fail"]),
                                    generation("b", ["fail", "fail"])], records.GENERATION))
    w1 = wave_counts(records.table([generation("a", ["pass", "fail"]),
                                    generation("b", ["fail", "fail"])], records.GENERATION))
    assert open_problems([w0, w1], 2).to_pylist() == ["b"]  # a: 1 + 1 verified
    assert open_problems([w0, w1], 3).to_pylist() == ["a", "b"]


def test_stopped_why():
    assert [stopped_why(*args, 1, 8) for args in [(1, 2), (0, 8), (0, 0), (0, 3)]] == [
        "enough", "cap", "no_sample", "no_sample"]


# --- the wave column and sample indices ---------------------------------------------------------

PROVENANCE = {"teacher": "t", "teacher_name": "teacher", "temperature": 1.0, "top_p": 1.0,
              "max_tokens": 8, "n": 4, "seed": 0, "template_hash": "h", "raydistill_version": "v"}


def test_fixed_n_flatten_keeps_the_schema_of_today():
    batch = records.table([generation("a", ["pass", "fail"])], records.GENERATION)
    table = flatten_generations(batch, PROVENANCE)
    assert table.schema == records.OUTPUT and "wave" not in table.column_names
    assert table["sample_idx"].to_pylist() == [0, 1]


def test_wave_flatten_numbers_from_the_offset_and_says_the_wave():
    batch = records.table([generation("a", ["fail", "pass"]),
                           generation("b", [], teacher_error="boom")], records.GENERATION)
    table = flatten_generations(batch, PROVENANCE, {"wave": 2, "n": 2, "offset": 6})
    assert table.schema == records.WAVE_OUTPUT
    assert table["sample_idx"].to_pylist() == [6, 7, 6]
    assert table["wave"].to_pylist() == [2, 2, 2]
    assert table["n"].to_pylist() == [2, 2, 2]  # what the wave asked, not sampling.n
    assert table["verdict"].to_pylist() == ["fail", "pass", "error"]


# --- seeds ----------------------------------------------------------------------------------

def test_seed_key_of_wave_zero_is_a_fixed_runs():
    assert seed_key("p", 0) == "p"
    seeds = {request_seed(0, seed_key("p", offset)) for offset in (0, 2, 4, 8)}
    assert len(seeds) == 4
    assert request_seed(0, seed_key("p", 2)) == request_seed(0, seed_key("p", 2))


def vllm_params(sampling, pid):
    teacher = VLLMTeacher.__new__(VLLMTeacher)
    sampling = dict(sampling)
    teacher.sample_offset = sampling.pop("sample_offset", 0)
    teacher.sampling, teacher.make_params = SamplingConfig(**sampling), dict
    teacher.output_kinds, teacher.logprob_params = ("final", "delta"), {}
    return teacher._params(pid)


def test_vllm_teacher_seeds_each_wave_apart():
    base = {"n": 2, "temperature": 1.0, "top_p": 1.0, "max_tokens": 8, "seed": 5}
    fixed = vllm_params(base, "p")
    assert fixed["seed"] == request_seed(5, "p")
    later = vllm_params({**base, "sample_offset": 4}, "p")
    assert later["seed"] == request_seed(5, "p@4") != fixed["seed"]
    assert later["n"] == 2


@pytest.mark.parametrize("use_n, offset, expected", [
    (True, 0, ["p"]), (True, 4, ["p@4"]),
    (False, 0, ["p/0", "p/1"]), (False, 4, ["p/4", "p/5"]),
])
def test_http_teacher_seeds_each_wave_apart(use_n, offset, expected):
    teacher = HTTPTeacher.__new__(HTTPTeacher)
    teacher.use_n = use_n
    teacher.sampling, teacher.sample_offset = SamplingConfig(n=2, seed=0), offset
    asked = []

    async def ask(messages, n, key):
        asked.append(key)
        return [sample("fail") for _ in range(n)], 1

    teacher._ask = ask
    row = asyncio.run(teacher._generate({"problem_id": "p", "input_error": None,
                                         "messages": []}))
    assert asked == expected and len(row["samples"]) == 2


# --- orchestration and resume (generate faked: no Ray) -----------------------------------------

PROBLEMS = 12


def first_pass_index(source_index):
    """The sample index at which problem ``source_index`` is first right (>= 8: never)."""
    return [0, 1, 2, 3, 4, 5, 6, 7, 9, 0, 3, 11][source_index]


def fake_generate(calls, fail_on=None):
    """A teacher + verifier pass writing generations: sample i of problem s passes iff i is
    its first_pass_index, or any i > it (so k=2 needs one more sample)."""
    def generate(cfg, out, paths=None, sample_offset=0):
        calls.append((sample_offset, cfg.sampling.n))
        if fail_on is not None and sample_offset == fail_on:
            raise RuntimeError("driver killed mid-wave")
        problems = pq.read_table(f"{paths.problems}").to_pylist()
        rows = []
        for p in problems:
            if p["input_error"]:
                rows.append(generation(p["problem_id"], [], input_error=p["input_error"]))
                continue
            first = first_pass_index(p["source_index"])
            verdicts = ["pass" if i >= first else "fail"
                        for i in range(sample_offset, sample_offset + cfg.sampling.n)]
            rows.append(dict(generation(p["problem_id"], verdicts),
                             source_index=p["source_index"]))
        out.fs.create_dir(paths.generations, recursive=True)
        pq.write_table(records.table(rows, records.GENERATION),
                       f"{paths.generations}/part-0.parquet")
    return generate


def staged_run(tmp_path, monkeypatch, *extra):
    cfg = config(tmp_path, *WAVES, *extra)
    out = OutputLocation(cfg.output)
    problems = [{"problem_id": f"p{i:02d}", "source": "s", "source_index": i, "domain": "math",
                 "problem": f"q{i}", "ground_truth_solution": "1", "test_cases": None,
                 "starter_code": None, "input_error": "bad row" if i == 11 else None}
                for i in range(PROBLEMS)]
    manifest = open_run(out, cfg)
    manifest.staged = out.stage_problems(problems, per_file=5)
    manifest.save(out)
    monkeypatch.setattr(pipeline, "Progress", lambda n: nullcontext())
    return cfg, out, manifest


def samples_by_problem(out, manifest):
    got = {}
    for entry in manifest.waves:
        if entry["wave"] and not entry["problems"]:
            continue
        table = pq.read_table(out.pass_paths(entry["wave"]).generations)
        for row in flatten_generations(table, PROVENANCE,
                                       {k: entry[k] for k in ("wave", "n", "offset")}
                                       ).to_pylist():
            got.setdefault(row["problem_id"], []).append(
                (row["sample_idx"], row["wave"], row["verified"]))
    return got


def test_waves_stop_at_k_and_at_the_cap(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch)
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls))
    pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    assert calls == [(0, 2), (2, 2), (4, 4)]
    assert [(w["wave"], w["problems"]) for w in manifest.waves] == [(0, 12), (1, 8), (2, 5)]
    got = samples_by_problem(out, manifest)
    for i in range(PROBLEMS):
        mine = got[f"p{i:02d}"]
        keys = [s for s, _, _ in mine]
        assert keys == list(range(len(keys)))  # unique, no gap, across waves
        if i == 11:  # bad input: one error row in wave 0, never asked again
            assert [(s, w, v) for s, w, v in mine] == [(0, 0, False)]
            continue
        first = first_pass_index(i)
        verified = sum(v for _, _, v in mine)
        if first < 8:  # solved: stopped after the wave that held its first pass
            assert verified >= 1
            stop_wave = next(w.index for w in wave_plan([2, 2, 4], 8)
                             if w.offset <= first < w.offset + w.n)
            assert max(w for _, w, _ in mine) == stop_wave
        else:  # never solved: exactly the cap
            assert verified == 0 and len(mine) == 8
    assert all(e["generated"] for e in load_manifest(out).waves)


def test_stop_at_two_verified_asks_again_after_the_first(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch, "sampling.stop_at_verified=2")
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls))
    pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    got = samples_by_problem(out, manifest)
    # p00 passes from sample 0: 2 verified after wave 0, stops; p01 passes from 1: 1 after
    # wave 0, so wave 1 asks again.
    assert [s for s, _, _ in got["p00"]] == [0, 1]
    assert [s for s, _, _ in got["p01"]] == [0, 1, 2, 3]


def test_a_crash_mid_wave_resumes_that_wave_and_never_redoes_earlier_ones(tmp_path,
                                                                          monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch)
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls, fail_on=2))
    with pytest.raises(RuntimeError, match="killed"):
        pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    stored = load_manifest(out)
    assert [(w["wave"], w["generated"]) for w in stored.waves] == [(0, True), (1, False)]
    staged_wave_1 = pq.read_table(out.pass_paths(1).problems)["problem_id"].to_pylist()

    # The rerun: a fresh driver reads the manifest; wave 0 is not generated again.
    again = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(again))
    pipeline.generate_waves(cfg, out, stored, PROBLEMS)
    assert again == [(2, 2), (4, 4)]
    assert pq.read_table(out.pass_paths(1).problems)["problem_id"].to_pylist() == staged_wave_1

    # Same samples as an uninterrupted run.
    fresh_cfg, fresh_out, fresh_manifest = staged_run(tmp_path / "fresh", monkeypatch)
    monkeypatch.setattr(pipeline, "generate", fake_generate([]))
    pipeline.generate_waves(fresh_cfg, fresh_out, fresh_manifest, PROBLEMS)
    assert samples_by_problem(out, stored) == samples_by_problem(fresh_out, fresh_manifest)


def test_a_crash_after_staging_a_wave_restages_it_identically(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch)
    monkeypatch.setattr(pipeline, "generate", fake_generate([]))
    pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    before = pq.read_table(out.pass_paths(2).problems)["problem_id"].to_pylist()
    # Wave 2 staged, its entry never saved: the rerun stages it again.
    stored = load_manifest(out)
    stored.waves = stored.waves[:2]
    out.fs.delete_dir(out.pass_paths(2).generations)
    again = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(again))
    pipeline.generate_waves(cfg, out, stored, PROBLEMS)
    assert again == [(4, 4)]
    assert pq.read_table(out.pass_paths(2).problems)["problem_id"].to_pylist() == before


def test_no_later_wave_when_every_problem_is_done(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch, "sampling.waves=[16]",
                                    "sampling.max_samples=16")
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls))
    pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    assert calls == [(0, 16)] and len(manifest.waves) == 1


def test_a_wave_with_no_open_problem_ends_the_waves(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch, "sampling.waves=[8,2,2]",
                                    "sampling.max_samples=12")
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls))
    pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    # After 8 samples only p08 (first pass at sample 9) is open (p11 is a bad row); wave 1
    # solves it, so wave 2 is staged empty and never run.
    assert calls == [(0, 8), (8, 2)]
    assert [(w["wave"], w["problems"]) for w in manifest.waves] == [(0, 12), (1, 1), (2, 0)]


def test_coverage_is_checked_per_wave(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch)

    def lossy(cfg, out, paths=None, sample_offset=0):
        fake_generate([])(cfg, out, paths, sample_offset)
        if sample_offset:  # drop a problem of wave 1
            path = f"{paths.generations}/part-0.parquet"
            pq.write_table(pq.read_table(path).slice(1), path)

    monkeypatch.setattr(pipeline, "generate", lossy)
    with pytest.raises(RunFailed, match="1 missing"):
        pipeline.generate_waves(cfg, out, manifest, PROBLEMS)
    assert not load_manifest(out).waves[1]["generated"]


def test_stage_wave_writes_only_the_open_problems(tmp_path, monkeypatch):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch)
    assert out.pass_paths(0).problems == out.problems
    assert out.pass_paths(3).generations.endswith("_work/waves/3/generations")
    assert out.stage_wave(1, pa.array(["p03", "p07", "zz"])) == 2
    assert out.stage_wave(1, pa.array(["p03"])) == 1  # restaged: the old parts are gone
    assert pq.read_table(out.pass_paths(1).problems)["problem_id"].to_pylist() == ["p03"]
    with pytest.raises(FileNotFoundError):  # wave 1 not generated yet
        check_coverage(out, out.pass_paths(1))


# --- the summary ----------------------------------------------------------------------------

def test_summary_counts_prompt_tokens_per_wave_and_reports_waves():
    plan = wave_plan([2, 2], None)
    wave0 = flatten_generations(records.table([generation("a", ["fail", "fail"]),
                                               generation("b", ["pass", "fail"])],
                                              records.GENERATION),
                                PROVENANCE, plan[0].as_dict())
    wave1 = flatten_generations(records.table([generation("a", ["pass", "pass"])],
                                              records.GENERATION),
                                PROVENANCE, plan[1].as_dict())
    tally = Tally(plan)
    for part in (wave0, wave1):
        tally.add(part)
    assert tally.prompt_tokens == 3 * 7  # three requests: a and b in wave 0, a in wave 1
    waves = wave_summary(pa.concat_tables(tally.by_wave), plan)
    assert [(w["wave"], w["problems"], w["samples"], w["verified"], w["newly_solved"],
             w["completion_tokens"]) for w in waves] == [(0, 2, 4, 1, 1, 12),
                                                         (1, 1, 2, 2, 1, 6)]


def test_summary_table_has_a_line_per_wave():
    summary = {"problems_read": 1, "input_errors": 0, "duplicate_problems_dropped": 0,
               "teacher_errors": 0, "samples": 2, "truncated": 0, "verified": 1, "failed": 1,
               "errors": 0, "pass_rate": 0.5, "problems_with_a_verified_sample": 1,
               "completion_tokens": 6, "completion_tokens_per_s": 1.0,
               "timings": {"total_s": 1.0}, "output": "x",
               "waves": [{"wave": 0, "n": 2, "offset": 0, "problems": 1, "samples": 2,
                          "verified": 1, "completion_tokens": 6, "newly_solved": 1}]}
    table = format_table(summary)
    assert "wave 0 (2 each)" in table and "1 newly solved" in table
    del summary["waves"]
    assert "wave 0" not in format_table(summary)
