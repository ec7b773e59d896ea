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

from raydistill.train.config import TrainConfig
from raydistill.train.worker import sft_loop

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
              t: TrainConfig) -> dict[str, Any]:
    """Train ``model`` on the rows under ``data``; write the checkpoint to ``dest``.

    ``work`` is a scratch directory on ``fs`` for Ray Train's run state. Returns
    the training metrics: ``rows``, ``steps``, ``loss``, ``seconds``.
    """
    started = time.monotonic()
    if t.command:
        return _run_command(fs, data, model, dest, t, started)
    ds = ray.data.read_parquet(data, filesystem=fs)
    rows = ds.count()  # from the Parquet footers
    if rows == 0:
        raise ValueError(f"no training rows under {data}")
    steps = optimizer_steps(rows, t)
    use_gpu = t.resources.get("GPU", 0) > 0
    loop_config = {**asdict(t), "model": model, "max_steps": steps, "use_gpu": use_gpu}
    trainer = TorchTrainer(
        sft_loop,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=t.workers, use_gpu=use_gpu,
                                     resources_per_worker=dict(t.resources)),
        datasets={"train": ds},
        run_config=RunConfig(name="ray_train", storage_path=work, storage_filesystem=fs),
    )
    logger.info("fine-tuning %s on %d rows: %d steps on %d worker(s)", model, rows, steps,
                t.workers)
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"training of {model} reported no checkpoint")
    _replace_dir(fs, result.checkpoint.path, dest)
    fs.delete_dir(work)
    metrics = dict(result.metrics or {})
    return {"rows": rows, "steps": int(metrics.get("steps", steps)),
            "loss": metrics.get("loss"), "seconds": time.monotonic() - started}


def _run_command(fs: pafs.FileSystem, data: str, model: str, dest: str, t: TrainConfig,
                 started: float) -> dict[str, Any]:
    resources = dict(t.resources)
    task = _command_task.options(num_cpus=resources.pop("CPU", 1.0),
                                 num_gpus=resources.pop("GPU", 0), resources=resources)
    ray.get(task.remote(t.command, data, model, fs, dest))
    return {"rows": None, "steps": None, "loss": None, "seconds": time.monotonic() - started}


@ray.remote
def _command_task(command: str, data: str, model: str, fs: pafs.FileSystem, dest: str) -> None:
    """Run the user's trainer on a cluster node; copy the checkpoint it writes to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="raydistill-train-") as output:
        line = command.format(data=shlex.quote(data), model=shlex.quote(model),
                              output=shlex.quote(output))
        logging.getLogger(__name__).info("train.command: %s", line)
        subprocess.run(line, shell=True, check=True)
        if fs.get_file_info(dest).type != pafs.FileType.NotFound:
            fs.delete_dir(dest)
        pafs.copy_files(output, dest, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=fs)
