"""The loop's resume without Ray: the state machine killed at every step, training phases,
the train.command hook with a fake trainer, s3:// checkpoints downloaded by the loader."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from raydistill import records
from raydistill.config import load
from raydistill.export.plan import export_rows
from raydistill.loop import steps as loop_steps
from raydistill.loop.__main__ import main
from raydistill.loop.rounds import advance
from raydistill.loop.state import LoopLocation, open_loop
from raydistill.loop.steps import RoundSteps, round_config, training_options, training_run
from raydistill.output.storage import StorageError, local_copy, resolve
from raydistill.teachers.base import resolve_model
from raydistill.train.trainer import run_command


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the raising point runs."""


class FakeSteps:
    """Steps that log what they did to ``world`` (which outlives a 'kill') and can die."""

    def __init__(self, world: dict, die_at: tuple[str, int] | None = None,
                 scores: list[float] | None = None) -> None:
        self.world, self.die_at = world, die_at
        self.scores = scores or [0.1, 0.2, 0.3, 0.4, 0.5]

    def _step(self, name: str, r: int) -> None:
        self.world.setdefault("calls", []).append((name, r))
        if self.die_at == (name, r):
            raise Killed

    def sample(self, r, model):
        self._step("sample", r)
        return {"samples": 8, "model": model}

    def evaluate(self, r, model):
        self._step("evaluate", r)
        return {"pass@1": self.scores[r], "pass@k": 0.5}

    def select(self, r):
        self._step("select", r)
        return {"selected": 3}

    def train(self, r, model):
        self._step("train", r)
        self.world.setdefault("trained_from", []).append(model)
        return {"loss": 0.1, "checkpoint": f"/m/{r}"}


def bootstrap(tmp_path, *more):
    return load(["conf=bootstrap_local", f"output.uri={tmp_path}/loop", *more])


STEPS = ["sample", "evaluate", "select", "train"]
# Every step of a 2-round loop, in order (the last round samples and evaluates only).
ALL_STEPS = [(s, r) for r in range(2) for s in STEPS] + [("sample", 2), ("evaluate", 2)]


def resume(cfg, world, die_at=None):
    loc = LoopLocation(cfg)
    state = open_loop(loc, cfg)  # what a rerun reads: only what loop.json committed
    return advance(cfg.loop, cfg.teacher.model, state, FakeSteps(world, die_at), loc.save)


@pytest.mark.parametrize("die_at", ALL_STEPS)
def test_a_kill_at_any_step_costs_that_step_only(tmp_path, die_at):
    cfg = bootstrap(tmp_path, "loop.rounds=2")
    world: dict = {}
    with pytest.raises(Killed):
        resume(cfg, world, die_at)
    state = resume(cfg, world)
    calls = world["calls"]
    # The interrupted step ran twice; every other step once, none after it was committed.
    assert calls == ALL_STEPS[: ALL_STEPS.index(die_at) + 1] + ALL_STEPS[ALL_STEPS.index(die_at):]
    assert state.finished == "rounds" and [e["model"] for e in state.rounds] == [
        "builtin:tiny-student", "/m/0", "/m/1"]
    assert [e["checkpoint"] for e in state.rounds[:2]] == ["/m/0", "/m/1"]
    assert "checkpoint" not in state.rounds[2] and state.best_round == 2
    stored = json.loads(open(LoopLocation(cfg).manifest).read())
    assert stored["rounds"] == state.rounds and stored["finished"] == "rounds"
    # A finished loop does nothing more.
    resume(cfg, world)
    assert world["calls"] == calls


def test_patience_stops_and_names_the_best(tmp_path):
    cfg = bootstrap(tmp_path, "loop.rounds=5", "loop.patience=2")
    world: dict = {}
    loc = LoopLocation(cfg)
    state = advance(cfg.loop, "m0", open_loop(loc, cfg),
                    FakeSteps(world, scores=[0.1, 0.3, 0.2, 0.25, 0.9]), loc.save)
    assert state.finished == "patience" and len(state.rounds) == 4
    assert (state.best_round, state.best_model) == (1, "/m/0")


@pytest.mark.parametrize("train_from", ["previous", "start"])
def test_which_model_a_round_fine_tunes(tmp_path, train_from):
    cfg = bootstrap(tmp_path, "loop.rounds=3", f"loop.train_from={train_from}")
    world: dict = {}
    state = resume(cfg, world)
    # Round r samples with round r-1's checkpoint either way; ReST-EM ("start")
    # fine-tunes the starting model on those samples, not the sampler.
    assert [e["model"] for e in state.rounds] == ["builtin:tiny-student", "/m/0", "/m/1", "/m/2"]
    expected = (["builtin:tiny-student", "/m/0", "/m/1"] if train_from == "previous"
                else ["builtin:tiny-student"] * 3)
    assert world["trained_from"] == expected
    assert [e["train"]["from"] for e in state.rounds[:3]] == expected


def test_a_corrupt_manifest_is_not_trusted(tmp_path):
    cfg = bootstrap(tmp_path, "loop.rounds=2")
    world: dict = {}
    with pytest.raises(Killed):
        resume(cfg, world, ("evaluate", 1))
    loc = LoopLocation(cfg)
    state = open_loop(loc, cfg)
    assert state.rounds[1]["model"] == "/m/0"
    state.rounds[0]["checkpoint"] = "/elsewhere"
    with pytest.raises(ValueError, match="previous round's checkpoint"):
        advance(cfg.loop, cfg.teacher.model, state, FakeSteps(world), loc.save)


def fake_fine_tune(log):
    def fine_tune(fs, data, model, dest, work, t, kind="sft", s3_endpoint=None):
        log.append((kind, model, data.split("/", data.count("/") - 1)[-1]))  # <folder>/data
        os.makedirs(dest, exist_ok=True)
        open(f"{dest}/config.json", "w").write(json.dumps({"from": model}))
        return {"rows": 3, "steps": 1, "loss": 0.5, "seconds": 0.0}
    return fine_tune


def test_a_trained_phase_is_adopted_not_trained_again(tmp_path, monkeypatch):
    cfg = bootstrap(tmp_path, "train.method=sft_dpo")
    loc = LoopLocation(cfg)
    log: list = []
    monkeypatch.setattr(loop_steps, "fine_tune", fake_fine_tune(log))
    steps = RoundSteps(cfg, loc)
    real_write = loop_steps.write_bytes_atomic

    def die_after_the_dpo_checkpoint(fs, path, data):
        if path.endswith("dpo.json"):
            raise Killed  # the DPO checkpoint is in place, its marker is not
        real_write(fs, path, data)

    monkeypatch.setattr(loop_steps, "write_bytes_atomic", die_after_the_dpo_checkpoint)
    with pytest.raises(Killed):
        steps.train(0, "builtin:tiny-student")
    monkeypatch.setattr(loop_steps, "write_bytes_atomic", real_write)
    out = steps.train(0, "builtin:tiny-student")
    sft_model = loc.round_path(0, "sft_model")
    # SFT ran once (its marker adopted), DPO again, from the SFT checkpoint.
    assert log == [("sft", "builtin:tiny-student", "train_data/data"),
                   ("dpo", sft_model, "pairs_data/data"), ("dpo", sft_model, "pairs_data/data")]
    assert out["checkpoint"] == loc.model_ref(0) and set(out["phases"]) == {"sft", "dpo"}
    # Killed after both markers but before loop.json: nothing is trained again.
    assert steps.train(0, "builtin:tiny-student")["loss"] == 0.5 and len(log) == 3


def test_pairs_are_the_trl_dpo_export(tmp_path):
    cfg = bootstrap(tmp_path)
    rows = [{"problem_id": "p", "sample_idx": i, "source": "train", "source_index": 0,
             "problem": "1+1?", "domain": "math", "verified": i == 1,
             "verdict": ["fail", "pass", "fail"][i], "response": f"r{i}",
             "reasoning": "x", "solution": "y",
             "finish_reason": ["stop", "stop", "length"][i], "think_closed": True,
             "reason": None, "completion_tokens": 10, "perplexity": None,
             "messages": [{"role": "user", "content": "1+1? (as asked)"}]} for i in range(3)]
    table = records.table(rows, records.OUTPUT)

    def pairs(table, *more):
        given = training_options(bootstrap(tmp_path, *more), "trl_dpo", "/x")
        out = export_rows(table, "trl_dpo", given)
        return out.filter(out["_left_out"].is_null())

    cfg.loop.export.pairs.allow = []
    given = training_options(cfg, "trl_dpo", "/x")
    out = export_rows(table, "trl_dpo", given)
    assert (out["chosen_sample_idx"][0].as_py(), out["rejected_sample_idx"][0].as_py()) == (1, 0)
    # The prompt as the sample was asked, the completions as the model wrote them.
    assert out["prompt"][0].as_py() == rows[0]["messages"]
    assert (out["chosen"][0].as_py()[0]["content"], out["rejected"][0].as_py()[0]["content"]) \
        == ("r1", "r0")
    # Only a truncated failure left: rejected only when pairs.allow lists it.
    assert export_rows(table.slice(1), "trl_dpo", given)["_left_out"].to_pylist() == [
        "no_failed_sample"]
    assert pairs(table.slice(1))["rejected_sample_idx"].to_pylist() == [2]  # the conf allows it
    assert pairs(table, "loop.export.max_pass_rate=0.2").num_rows == 0


FAKE_TRAINER = textwrap.dedent("""
    import json, os, sys
    import pyarrow.parquet as pq
    data, model, output = sys.argv[1:]
    rows = pq.read_table(data).num_rows
    json.dump({"rows": rows, "from": os.path.basename(model)}, open(f"{output}/config.json", "w"))
""")


def test_train_command_runs_a_users_trainer(tmp_path):
    script = tmp_path / "trainer.py"
    script.write_text(FAKE_TRAINER)
    data = tmp_path / "train_data"
    data.mkdir()
    pq.write_table(pa.table({"x": [1, 2, 3]}), data / "part-0.parquet")
    fs = pafs.LocalFileSystem()
    dest = str(tmp_path / "model")
    command = f"{sys.executable} {script} {{data}} {{model}} {{output}}"
    run_command(command, fs, str(data), "builtin:tiny-teacher", dest)
    assert json.loads(open(f"{dest}/config.json").read()) == {"rows": 3, "from": "tiny-teacher"}
    # A trainer that fails or writes nothing leaves the checkpoint as it was.
    with pytest.raises(Exception, match="exit status 3"):
        run_command("exit 3", fs, str(data), "m", dest)
    with pytest.raises(RuntimeError, match="wrote nothing"):
        run_command("true {output}", fs, str(data), "m", dest)
    assert os.path.exists(f"{dest}/config.json")


def test_s3_checkpoints_are_downloaded_by_the_loader(tmp_path, s3_server, monkeypatch):
    fs, root = resolve("s3://raydistill-test/ckpt/model", s3_server)
    for name, body in [("config.json", b"{}"), ("sub/tok.json", b"t")]:
        with fs.open_output_stream(f"{root}/{name}") as stream:
            stream.write(body)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("RAYDISTILL_MODEL_CACHE", str(tmp_path / "cache"))
    path = resolve_model("s3://raydistill-test/ckpt/model")
    assert open(f"{path}/sub/tok.json").read() == "t"
    assert resolve_model("s3://raydistill-test/ckpt/model") == path  # cached
    with fs.open_output_stream(f"{root}/config.json") as stream:
        stream.write(b'{"round": 2}')  # a checkpoint rewritten at the same URI
    fresh = local_copy("s3://raydistill-test/ckpt/model", str(tmp_path / "cache"), s3_server)
    assert fresh != path and open(f"{fresh}/config.json").read() == '{"round": 2}'
    assert not [p for p in os.listdir(tmp_path / "cache") if p.startswith(".")]
    with pytest.raises(StorageError, match="holds no files"):
        local_copy("s3://raydistill-test/nothing", str(tmp_path / "cache"), s3_server)


def test_s3_rounds_tell_their_engines_the_endpoint(tmp_path):
    cfg = load(["conf=bootstrap_local", "output.uri=s3://raydistill-test/loop",
                "output.s3_endpoint=http://127.0.0.1:9"])
    loc = LoopLocation(cfg)
    assert loc.model_ref(0) == "s3://raydistill-test/loop/rounds/0/model"
    r1 = round_config(cfg, loc, 1, loc.model_ref(0))
    assert r1.teacher.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert "AWS_ENDPOINT_URL" not in round_config(cfg, loc, 0, "builtin:tiny-student").teacher.env


def test_imitate_first_trains_round_0_on_another_run(tmp_path):
    teacher_run = tmp_path / "teacher_run"
    cfg = bootstrap(tmp_path, f"loop.imitate={teacher_run}")
    loc = LoopLocation(cfg)
    assert training_run(cfg, loc, 0) == (str(teacher_run), True)
    assert training_run(cfg, loc, 1) == (loc.round_uri(1), False)
    assert training_run(bootstrap(tmp_path), loc, 0) == (loc.round_uri(0), False)
    # A loop.imitate that is not a finished run is refused before any work starts.
    assert main(["conf=bootstrap_local", f"output.uri={tmp_path}/x",
                 f"loop.imitate={teacher_run}"]) == 2
