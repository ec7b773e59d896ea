"""Fine-tune one round's checkpoint: a Ray Train ``TorchTrainer`` running TRL, or ``train.command``.

The training data is a Parquet directory of conversational ``prompt``/``completion``
rows (TRL's vocabulary) on the output's filesystem; it is read as a Ray Dataset
and streamed to the workers, never gathered in the driver. The checkpoint lands
in ``dest`` on the same filesystem (local disk or ``s3://``) as a directory vLLM
and transformers load: ``config.json``, ``model.safetensors``, tokenizer files.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import subprocess
import tempfile
import time
from dataclasses import asdict
from typing import Any

import pyarrow.fs as pafs
import ray
import ray.data
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from raydistill.teachers.base import resolve_model
from raydistill.train.config import TrainConfig
from raydistill.train.worker import train_loop

logger = logging.getLogger(__name__)


def optimizer_steps(rows: int, t: TrainConfig) -> int:
    """Steps for ``t.epochs`` passes over ``rows`` rows across all workers (at least 1).

    >>> optimizer_steps(100, TrainConfig(epochs=2, batch_size=16))
    13
    """
    per_step = t.batch_size * t.workers * t.gradient_accumulation_steps
    return max(1, math.ceil(rows * t.epochs / per_step))


def _replace_dir(fs: pafs.FileSystem, src: str, dest: str) -> None:
    """Put the directory ``src`` at ``dest`` (same filesystem), replacing what was there."""
    if fs.get_file_info(dest).type != pafs.FileType.NotFound:
        fs.delete_dir(dest)
    if isinstance(fs, pafs.LocalFileSystem):
        fs.move(src, dest)  # one rename
        return
    pafs.copy_files(src, dest, source_filesystem=fs, destination_filesystem=fs)
    fs.delete_dir(src)


def fine_tune(fs: pafs.FileSystem, data: str, model: str, dest: str, work: str,
              t: TrainConfig, kind: str = "sft", s3_endpoint: str | None = None,
              ) -> dict[str, Any]:
    """Train ``model`` on the rows under ``data``; write the checkpoint to ``dest``.

    ``kind`` is ``sft`` or ``dpo``; ``model`` a path, ``builtin:NAME`` or ``s3://``
    URI, resolved on the worker's node. ``work`` is a scratch directory on ``fs``
    for Ray Train's run state. Returns the training metrics: ``rows``, ``steps``,
    ``loss``, ``seconds``.
    """
    started = time.monotonic()
    if t.command:
        return _run_command(fs, data, model, dest, t, started, s3_endpoint)
    ds = ray.data.read_parquet(data, filesystem=fs)
    rows = ds.count()  # from the Parquet footers
    if rows == 0:
        raise ValueError(f"no training rows under {data}")
    steps = optimizer_steps(rows, t)
    use_gpu = t.resources.get("GPU", 0) > 0
    loop_config = {**asdict(t), "model": model, "max_steps": steps, "use_gpu": use_gpu,
                   "kind": kind, "s3_endpoint": s3_endpoint}
    if kind == "dpo" and t.dpo_learning_rate is not None:
        loop_config["learning_rate"] = t.dpo_learning_rate
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=t.workers, use_gpu=use_gpu,
                                     resources_per_worker=dict(t.resources)),
        datasets={"train": ds},
        run_config=RunConfig(name="ray_train", storage_path=work, storage_filesystem=fs),
    )
    logger.info("fine-tuning (%s) %s on %d rows: %d steps on %d worker(s)", kind, model, rows,
                steps, t.workers)
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"training of {model} reported no checkpoint")
    _replace_dir(fs, result.checkpoint.path, dest)
    fs.delete_dir(work)
    metrics = dict(result.metrics or {})
    return {"rows": rows, "steps": int(metrics.get("steps", steps)),
            "loss": metrics.get("loss"), "seconds": time.monotonic() - started}


def _run_command(fs: pafs.FileSystem, data: str, model: str, dest: str, t: TrainConfig,
                 started: float, s3_endpoint: str | None) -> dict[str, Any]:
    resources = dict(t.resources)
    task = _command_task.options(num_cpus=resources.pop("CPU", 1.0),
                                 num_gpus=resources.pop("GPU", 0), resources=resources)
    ray.get(task.remote(t.command, fs, data, model, dest, s3_endpoint))
    return {"rows": None, "steps": None, "loss": None, "seconds": time.monotonic() - started,
            "command": t.command}


def run_command(command: str, fs: pafs.FileSystem, data: str, model: str, dest: str,
                s3_endpoint: str | None = None) -> None:
    """Run the user's trainer ``command`` here; copy the checkpoint it writes to ``dest``.

    The placeholders are local paths on this node, shell-quoted: ``{data}`` the
    training rows (Parquet; downloaded first when ``fs`` is S3), ``{model}`` the
    model to start from (``builtin:`` and ``s3://`` resolved), ``{output}`` an empty
    directory the command must fill with the checkpoint. A command that exits
    non-zero or writes nothing raises; ``dest`` is then left untouched.
    """
    with tempfile.TemporaryDirectory(prefix="raydistill-train-") as scratch:
        local_data = data
        if not isinstance(fs, pafs.LocalFileSystem):
            local_data = f"{scratch}/data"
            pafs.copy_files(data, local_data, source_filesystem=fs,
                            destination_filesystem=pafs.LocalFileSystem())
        output = f"{scratch}/output"
        os.makedirs(output)
        line = command.format(data=shlex.quote(local_data),
                              model=shlex.quote(resolve_model(model, s3_endpoint)),
                              output=shlex.quote(output))
        logger.info("train.command: %s", line)
        subprocess.run(line, shell=True, check=True)
        if not os.listdir(output):
            raise RuntimeError(f"train.command wrote nothing to {{output}}: {line}")
        if fs.get_file_info(dest).type != pafs.FileType.NotFound:
            fs.delete_dir(dest)
        fs.create_dir(dest, recursive=True)  # local copy_files needs the directory
        pafs.copy_files(output, dest, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=fs)


# The user's trainer runs on a cluster node with train.resources (a GPU node, say).
_command_task = ray.remote(run_command)
