"""TRL's trainers as the Ray Train workers build them, one step each on the tiny student, no Ray."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from datasets import Dataset

from raydistill.train.config import TrainConfig
from raydistill.train.worker import make_trainer

PROMPT = [{"role": "user", "content": "What is 2 + 3? Put the answer in \\boxed{}."}]
RIGHT = [{"role": "assistant", "content": "<think>\n2 + 3 = 5\n</think>\n\\boxed{5}"}]
WRONG = [{"role": "assistant", "content": "<think>\n2 + 3 = 6\n</think>\n\\boxed{6}"}]


@pytest.mark.slow  # two real trainings, ~20 s: kept out of `make test-fast`
@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_one_training_step(tmp_path, kind):
    config = {**asdict(TrainConfig(batch_size=2, max_length=128, learning_rate=1e-3)),
              "model": "builtin:tiny-student", "max_steps": 1, "use_gpu": False, "kind": kind}
    rows = ([{"prompt": PROMPT, "chosen": RIGHT, "rejected": WRONG}] * 2 if kind == "dpo"
            else [{"prompt": PROMPT, "completion": RIGHT}] * 2)
    trainer = make_trainer(config, Dataset.from_list(rows), str(tmp_path / "trainer"))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    output = trainer.train()
    assert output.global_step == 1 and output.training_loss > 0
    after = trainer.model.state_dict()
    assert any((after[k] != v).any() for k, v in before.items())  # the weights moved
    trainer.save_model(str(tmp_path / "model"))
    assert (tmp_path / "model" / "model.safetensors").exists()
