"""The training function each Ray Train worker runs: TRL's SFT or DPO trainer on its shard.

Each worker streams its shard of the training data (a Ray Dataset split by Ray
Train) once, into a ``datasets.Dataset`` of its own rows; nothing is gathered in
the driver. (Wrapping the shard in a ``datasets.IterableDataset`` instead re-ran
the Ray Data split at each pass TRL makes over it, ~45 s each on 2 busy cores.)
TRL tokenizes the conversational ``prompt``/``completion`` rows with the model's
chat template and computes the loss on the completion only.
Rank 0 saves the model (safetensors, config, tokenizer: what vLLM loads) and
reports it as the Ray Train checkpoint, which Ray Train copies to the run's
storage (a local directory or ``s3://``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from typing import Any

import ray.train
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from raydistill.teachers.base import resolve_model

logger = logging.getLogger(__name__)

# Rows per pull from the Ray shard: small, the rows are whole conversations.
SHARD_BATCH_ROWS = 64


def conversations(shard: Any, columns: list[str]) -> Iterator[dict[str, Any]]:
    """The conversational rows (``columns``) of a Ray Train dataset shard, streamed."""
    for batch in shard.iter_batches(batch_size=SHARD_BATCH_ROWS, batch_format="pyarrow"):
        yield from batch.select(columns).to_pylist()


def make_trainer(config: dict[str, Any], data: Dataset, output_dir: str) -> Any:
    """TRL's ``SFTTrainer`` or ``DPOTrainer`` (``config["kind"]``) of ``config["model"]``.

    ``dpo``: the reference model is the starting model (TRL copies it when
    ``ref_model`` is None); the data are prompt/chosen/rejected rows.
    """
    # An s3:// model (the previous round's checkpoint) is downloaded to this node.
    path = resolve_model(config["model"], config.get("s3_endpoint"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    common = dict(
        output_dir=output_dir,
        max_steps=config["max_steps"],
        learning_rate=config["learning_rate"],
        lr_scheduler_type=config["lr_scheduler"],
        warmup_steps=config["warmup_ratio"],  # transformers 5: a float < 1 is a ratio
        per_device_train_batch_size=config["batch_size"],
        gradient_accumulation_steps=config["gradient_accumulation_steps"],
        weight_decay=config["weight_decay"],
        max_length=config["max_length"],
        seed=config["seed"],
        bf16=config["bf16"],
        use_cpu=not config["use_gpu"],
        save_strategy="no",
        report_to=[],
        logging_steps=max(1, config["max_steps"] // 10),
        dataloader_num_workers=0,
        # Each rank reads its own Ray shard: no batches sent from rank 0.
        accelerator_config={"dispatch_batches": False, "split_batches": False},
        **config["trl_kwargs"],
    )
    if config["kind"] == "dpo":
        return DPOTrainer(model=model, args=DPOConfig(beta=config["dpo_beta"], **common),
                          train_dataset=data, processing_class=tokenizer)
    return SFTTrainer(model=model, args=SFTConfig(**common), train_dataset=data,
                      processing_class=tokenizer)


def train_loop(config: dict[str, Any]) -> None:
    """Fine-tune ``config["model"]`` for ``config["max_steps"]`` steps; report loss and model."""
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    shard = ray.train.get_dataset_shard("train")
    columns = ["prompt", "chosen", "rejected"] if config["kind"] == "dpo" else [
        "prompt", "completion"]
    data = Dataset.from_list(list(conversations(shard, columns)))
    with tempfile.TemporaryDirectory(prefix=f"raydistill-{config['kind']}-") as work:
        trainer = make_trainer(config, data, f"{work}/trainer")
        output = trainer.train()
        metrics = {"loss": float(output.training_loss), "steps": int(output.global_step)}
        if ray.train.get_context().get_world_rank() != 0:
            ray.train.report(metrics)
            return
        saved = f"{work}/model"
        trainer.save_model(saved)
        trainer.processing_class.save_pretrained(saved)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(saved))
