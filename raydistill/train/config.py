"""The ``train`` section: how a round's checkpoint is fine-tuned (Ray Train + TRL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    # sft, dpo, or sft_dpo (SFT, then DPO starting from the SFT checkpoint).
    method: str = "sft"
    # Ray Train workers (data-parallel ranks, torch DDP over gloo on CPU, nccl on GPU).
    workers: int = 1
    # Ray resources per worker: {CPU: 1} locally, {GPU: 1} or {NPU: 1} on a cluster.
    resources: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    # Torch threads per worker on CPU (0 = leave torch's default).
    threads: int = 0
    epochs: float = 1.0
    learning_rate: float = 1e-4
    lr_scheduler: str = "constant"
    warmup_ratio: float = 0.0
    # Rows per device per optimizer step.
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_length: int = 1024
    weight_decay: float = 0.0
    seed: int = 0
    # bf16 on GPUs that have it; CPU trains in float32.
    bf16: bool = False
    # DPO's beta (strength of the pull towards the reference model).
    dpo_beta: float = 0.1
    # Learning rate of the DPO phase of sft_dpo (null = learning_rate).
    dpo_learning_rate: float | None = None
    # Extra keyword arguments of TRL's SFTConfig / DPOConfig.
    trl_kwargs: dict[str, Any] = field(default_factory=dict)
    # A user's own trainer instead of TRL, run on the cluster as a shell command with
    # placeholders {data} (the exported training data), {model} (the model to start
    # from) and {output} (the checkpoint directory it must write). "" = TRL.
    command: str = ""


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
