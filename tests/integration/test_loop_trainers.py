"""The loop's other trainers end to end, small: the real driver, real vLLM engines.

- ``train.method=sft_dpo``: TRL's SFTTrainer, then its DPOTrainer from the SFT
  checkpoint, both in Ray Train, on the round's verified samples and its pairs of a
  verified and a failed sample (the exports' pair rules);
- ``train.command``: a user's own trainer on the cluster instead of Ray Train, here
  TRL's own command line (``trl dpo``) standing in for LLaMA-Factory's or openMind's,
  reading that loop's pairs through ``{data}`` and writing ``{output}``, run as the
  loop runs it (a Ray task, the checkpoint copied into place). It shares the first
  test's loop run rather than sampling a second one (the suite's time).

The loop runs one training round and samples round 1 with its checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM

from raydistill.teachers.base import resolve_model
from raydistill.train.config import TrainConfig
from raydistill.train.trainer import fine_tune
from tests.integration.test_loop import start
from tests.support.runs import output_of

pytestmark = pytest.mark.slow

SMALL = ["conf=bootstrap_local", "loop.rounds=1", "loop.problems_per_round=48",
         "source.datasets.1.limit=16", "sampling.n=4", "train.batch_size=8",
         "ray.rows_per_block=8", "teacher.batch_size=8", "verify.batch_size=8"]


def finished_loop(root: Path, *more: str) -> dict:
    proc = start(str(root), [*SMALL, *more])
    proc.wait(timeout=900)
    assert proc.returncode == 0, output_of(proc)[-4000:]
    state: dict = json.loads((root / "loop.json").read_text())
    assert state["finished"] == "rounds" and len(state["rounds"]) == 2
    return state


def weights(model_dir: Path | str) -> dict:
    return load_file(str(Path(model_dir) / "model.safetensors"))


def moved(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and any((a[k] != b[k]).any() for k in a)


def check_pairs(root: Path, count: int) -> None:
    """Each pair: one problem's verified sample against one of its failed samples."""
    pairs = pq.read_table(root / "rounds/0/pairs_data/data").to_pylist()  # the trl_dpo export
    samples = {(r["problem_id"], r["sample_idx"]): r for r in pq.read_table(
        root / "rounds/0/all", columns=["problem_id", "sample_idx", "source", "verified",
                                        "response"]).to_pylist()}
    assert len(pairs) == count > 0 and len({p["problem_id"] for p in pairs}) == count
    for p in pairs:
        chosen = samples[(p["problem_id"], p["chosen_sample_idx"])]
        rejected = samples[(p["problem_id"], p["rejected_sample_idx"])]
        assert chosen["verified"] and not rejected["verified"] and chosen["source"] == "train"
        assert p["chosen"][0]["content"] == chosen["response"] != p["rejected"][0]["content"]


def check_round_1_loaded(root: Path, state: dict) -> None:
    model0 = str(root / "rounds" / "0" / "model")
    assert state["rounds"][0]["checkpoint"] == model0 == state["rounds"][1]["model"]
    teachers = set(pq.read_table(root / "rounds/1/all", columns=["teacher"])["teacher"]
                   .to_pylist())
    assert teachers == {model0}


@pytest.fixture(scope="module")
def dpo_loop(tmp_path_factory) -> tuple[Path, dict]:
    """One loop run, train.method=sft_dpo: round 0 trained by SFT then DPO, round 1 sampled."""
    root = tmp_path_factory.mktemp("dpo") / "loop"
    return root, finished_loop(root, "train.method=sft_dpo")


def test_sft_then_dpo_in_ray_train(dpo_loop):
    root, state = dpo_loop
    r0 = state["rounds"][0]
    assert r0["selected"] > 0
    check_pairs(root, r0["pairs"])
    phases = r0["train"]["phases"]
    assert set(phases) == {"sft", "dpo"}
    assert phases["sft"]["rows"] == r0["selected"] and phases["dpo"]["rows"] == r0["pairs"]
    assert all(p["steps"] >= 1 and p["loss"] > 0 for p in phases.values())
    # SFT moved the student, DPO moved the SFT checkpoint: two real trainings in turn.
    start_model = weights(resolve_model("builtin:tiny-student"))
    sft, final = weights(root / "rounds/0/sft_model"), weights(root / "rounds/0/model")
    assert moved(start_model, sft) and moved(sft, final)
    check_round_1_loaded(root, state)


def test_a_users_trainer_through_train_command(dpo_loop, ray_cluster, tmp_path):
    """train.command on the loop's real pairs: the Ray task the loop runs, TRL's CLI inside."""
    root, state = dpo_loop
    trl = Path(sys.executable).parent / "trl"
    command = (f"{trl} dpo --model_name_or_path {{model}} --dataset_name {{data}} "
               "--output_dir {output} --max_steps 4 --per_device_train_batch_size 4 "
               "--learning_rate 1e-4 --use_cpu --bf16 false --report_to none "
               "--save_strategy no")
    fs = pafs.LocalFileSystem()
    dest = tmp_path / "model"
    done = fine_tune(fs, str(root / "rounds/0/pairs_data/data"), "builtin:tiny-student", str(dest),
                     str(tmp_path / "work"), TrainConfig(method="dpo", command=command), "dpo")
    assert done["command"] == command and done["steps"] is None
    # The command's checkpoint, copied into place: it moved, and transformers loads it.
    assert moved(weights(resolve_model("builtin:tiny-student")), weights(dest))
    model = AutoModelForCausalLM.from_pretrained(dest)
    assert model.config.model_type == "qwen2"
