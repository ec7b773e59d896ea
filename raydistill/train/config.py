"""The ``train`` section: how a round's checkpoint is fine-tuned (Ray Train + TRL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raydistill.keys import key

# sft: TRL's SFTTrainer on verified traces; dpo: TRL's DPOTrainer on pairs of a verified
# and a failed sample (the exports' pair rules); sft_dpo: SFT, then DPO from the SFT model.
TRAIN_METHODS = ("sft", "dpo", "sft_dpo")


def phases(method: str) -> list[tuple[str, str]]:
    """The training phases of ``method``: ``(trainer, checkpoint directory)``, in order.

    >>> phases("sft_dpo")
    [('sft', 'sft_model'), ('dpo', 'model')]
    """
    if method == "sft_dpo":
        return [("sft", "sft_model"), ("dpo", "model")]
    return [(method, "model")]


@dataclass
class TrainConfig:
    """Fine-tuning of one round: TRL's trainers in a Ray Train ``TorchTrainer``."""

    method: str = key("sft", "sft (TRL's SFTTrainer on verified traces), dpo (DPOTrainer on "
                      "pairs) or sft_dpo (SFT, then DPO from the SFT checkpoint).")
    workers: int = key(1, "Ray Train workers (data-parallel ranks: torch DDP over gloo on CPU, "
                       "nccl on GPU).")
    resources: dict[str, float] = key(factory=lambda: {"CPU": 1.0}, doc="Ray resources per "
                                      "worker: {CPU: 1} locally, {GPU: 1} or {NPU: 1} on a "
                                      "cluster.", perf=True)
    threads: int = key(0, "Torch threads per worker on CPU (0 = torch's default).", perf=True)
    epochs: float = key(1.0, "Training epochs.")
    learning_rate: float = key(1e-4, "Learning rate.")
    lr_scheduler: str = key("constant", "transformers' lr_scheduler_type.")
    warmup_ratio: float = key(0.0, "Share of steps warming the learning rate up.")
    batch_size: int = key(16, "Rows per device per optimizer step.")
    gradient_accumulation_steps: int = key(1, "Batches accumulated per optimizer step.")
    max_length: int = key(1024, "Tokens per training row at most.")
    weight_decay: float = key(0.0, "AdamW's weight decay.")
    seed: int = key(0, "Training seed.")
    bf16: bool = key(False, "bf16 on GPUs that have it; CPU trains in float32.")
    dpo_beta: float = key(0.1, "DPO's beta (strength of the pull towards the reference model).")
    dpo_learning_rate: float | None = key(None, "Learning rate of the DPO phase of sft_dpo "
                                          "(null = learning_rate).")
    trl_kwargs: dict[str, Any] = key(factory=dict, doc="Extra keyword arguments of TRL's "
                                     "SFTConfig / DPOConfig.")
    command: str = key("", "A user's own trainer instead of TRL, a shell command run on the "
                       "cluster with {data}, {model} and {output} (the checkpoint directory it "
                       "must write) filled in; \"\" = TRL.")


def train_checks(t: TrainConfig) -> list[tuple[bool, str, str]]:
    """Checks of the ``train`` section: ``(ok, key, problem)``."""
    return [
        (t.method in TRAIN_METHODS, "train.method", f"must be one of {TRAIN_METHODS}"),
        (t.workers >= 1, "train.workers", "must be >= 1"),
        (t.epochs > 0, "train.epochs", "must be > 0"),
        (t.learning_rate > 0, "train.learning_rate", "must be > 0"),
        (t.dpo_beta > 0, "train.dpo_beta", "must be > 0"),
        (t.dpo_learning_rate is None or t.dpo_learning_rate > 0, "train.dpo_learning_rate",
         "must be > 0 or null"),
        (not t.command or t.method != "sft_dpo", "train.command",
         "runs one trainer: use method sft or dpo with it"),
        (t.batch_size >= 1, "train.batch_size", "must be >= 1"),
        (t.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps", "must be >= 1"),
        (t.max_length >= 8, "train.max_length", "must be >= 8"),
        (all(v >= 0 for v in t.resources.values()), "train.resources", "amounts must be >= 0"),
        (not t.command or "{output}" in t.command, "train.command",
         "must write the checkpoint to {output}"),
    ]
