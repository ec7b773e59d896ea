"""The LLaMA-Factory training file beside a sharegpt export: ``llamafactory_{sft,dpo}.yaml``.

Ready to run as ``llamafactory-cli train <export>/llamafactory_sft.yaml
model_name_or_path=<base model>`` (any key can be overridden that way):
``stage`` (``sft`` for ``sharegpt``, ``dpo`` for ``sharegpt_pairs``), ``dataset``
(the entry of the export's ``dataset_info.json``), ``dataset_dir`` (the export
folder), ``template`` (``export.llamafactory.template``) and:

- ``default_system``: the system prompt the rows carry ("" for none). LLaMA-Factory
  fills a row's empty ``system`` with it, and without it the ``qwen`` template
  puts "You are Qwen, created by Alibaba Cloud..." into every example, a prompt
  the teacher never saw and the trained model will not be given.
- ``cutoff_len``: the run's longest sample (prompt + completion tokens, the
  teacher's tokenizer), plus 10% and 64 tokens for the template's markers, the
  re-written reasoning tags and a student tokenizer that splits a little finer,
  plus half a token per character of the rows' system prompt (which the prompt
  tokens already count when the teacher was sent it), rounded up to 256: no row
  is cut.
- defaults that run anywhere: LoRA, ``bf16: false``, batch 1 with 8 accumulation
  steps; set ``bf16: true`` on hardware that has it.

>>> text = training_file("sharegpt_pairs", "mine", "/data/x", "", 1024, None, "qwen")
>>> "stage: dpo" in text and 'default_system: ""' in text and "cutoff_len: 1024" in text
True
>>> cutoff_len(900, 0), cutoff_len(900, 1000)
(1280, 1792)
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raydistill.export.config import ExportConfig
from raydistill.output.location import OutputLocation
from raydistill.output.storage import write_bytes_atomic

logger = logging.getLogger(__name__)

STAGES = {"sharegpt": "sft", "sharegpt_pairs": "dpo"}


def file_name(fmt: str) -> str:
    """``llamafactory_sft.yaml`` or ``llamafactory_dpo.yaml``."""
    return f"llamafactory_{STAGES[fmt]}.yaml"


def cutoff_len(longest_tokens: int, added_system_chars: int) -> int:
    """A ``cutoff_len`` that covers a row of ``longest_tokens`` (see the module docstring)."""
    needed = longest_tokens * 1.1 + 64 + math.ceil(added_system_chars / 2)
    return max(256, math.ceil(needed / 256) * 256)


_PLAIN = re.compile(r"[A-Za-z_/][\w./-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml(value: Any) -> str:
    """A YAML scalar: a name or path bare, else JSON's form (JSON scalars are YAML's too).

    >>> _yaml("qwen"), _yaml("no"), _yaml(""), _yaml(None), _yaml(1e-4)
    ('qwen', '"no"', '""', 'null', '0.0001')
    """
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def training_file(fmt: str, entry: str, dataset_dir: str, default_system: str, cutoff: int,
                  model: str | None, template: str) -> str:
    """The YAML text of the training file (pure: everything it says comes in as arguments)."""
    stage = STAGES[fmt]
    sections: list[tuple[str, list[tuple[str, Any, str]]]] = [
        ("model", [
            ("model_name_or_path", model, "The base model to fine-tune: set it here or pass "
                                          "model_name_or_path=... to llamafactory-cli."),
            ("trust_remote_code", True, "")]),
        ("method", [
            ("stage", stage, ""), ("do_train", True, ""),
            ("finetuning_type", "lora", "LoRA trains on one GPU or a CPU; full for all weights "
                                        "(then a learning_rate ~1e-5)."),
            ("lora_rank", 8, ""), ("lora_target", "all", "")]
            + ([("pref_beta", 0.1, "DPO's beta."), ("pref_loss", "sigmoid", "")]
               if stage == "dpo" else [])),
        ("dataset", [
            ("dataset", entry, "The entry of dataset_info.json in dataset_dir."),
            ("dataset_dir", dataset_dir, "The export folder."),
            ("template", template, "The chat template of model_name_or_path."),
            ("default_system", default_system, "The rows' own system prompt (\"\" = none): "
                                               "else the template adds its default one."),
            ("cutoff_len", cutoff, "Covers the longest row (prompt + response tokens)."),
            ("overwrite_cache", True, ""), ("preprocessing_num_workers", 1, ""),
            ("dataloader_num_workers", 0, "")]),
        ("output", [
            ("output_dir", f"saves/{entry}", ""), ("logging_steps", 10, ""),
            ("save_steps", 500, ""), ("plot_loss", False, ""),
            ("overwrite_output_dir", True, ""), ("report_to", "none", "")]),
        ("train", [
            ("per_device_train_batch_size", 1, ""), ("gradient_accumulation_steps", 8, ""),
            ("learning_rate", 1.0e-4, ""), ("num_train_epochs", 3.0, ""),
            ("lr_scheduler_type", "cosine", ""), ("warmup_ratio", 0.1, ""),
            ("bf16", False, "true on hardware with bfloat16 (A100, H100, Ascend); on a CPU "
                            "also pass use_cpu=true.")]),
    ]
    lines = [f"# LLaMA-Factory training file for this raydistill {fmt} export:",
             f"#   llamafactory-cli train {file_name(fmt)} model_name_or_path=BASE_MODEL "
             "[key=value ...]"]
    for title, keys in sections:
        lines.append(f"\n### {title}")
        for key, value, comment in keys:
            if comment:
                lines.append(f"# {comment}")
            lines.append(f"{key}: {_yaml(value)}")
    return "\n".join(lines) + "\n"


def longest_sample(out: OutputLocation) -> int:
    """The most tokens (prompt + completion) of a sample of the run that has a response.

    Reads two integer columns of ``all/``, a batch at a time.
    """
    longest = 0
    data = pads.dataset(out.all, filesystem=out.fs, format="parquet")
    for batch in data.to_batches(columns=["prompt_tokens", "completion_tokens"]):
        done = pc.greater(pc.fill_null(batch.column("completion_tokens"), 0), 0)
        total = pc.add(pc.fill_null(batch.column("prompt_tokens"), 0),
                       batch.column("completion_tokens"))
        most = pc.max(pc.filter(total, done)).as_py()
        longest = max(longest, most or 0)
    return longest


def rows_system(fs: pafs.FileSystem, shards: list[str], file_format: str) -> str:
    """The ``system`` of the export's first row ("" when none or no rows).

    One prompt configuration makes every row of a run, so the first row's is all rows'.
    """
    if not shards:
        return ""
    with fs.open_input_file(shards[0]) as source:
        if file_format == "jsonl":
            head = b""
            while b"\n" not in head and (chunk := source.read(2**20)):
                head += chunk  # a row holds a whole trace: read until its line ends
            first = head.split(b"\n", 1)[0]
            return str(json.loads(first).get("system") or "") if first.strip() else ""
        parquet = pq.ParquetFile(source)
        if not parquet.metadata.num_rows:
            return ""
        first_group = parquet.read_row_group(0, columns=["system"])
        return str(first_group.column("system")[0].as_py() or "")


def write_training_file(out: OutputLocation, fs: pafs.FileSystem, root: str, fmt: str,
                        entry: str, cfg: ExportConfig, shards: list[str],
                        file_format: str) -> str:
    """Write the training file into the export folder ``root``; return its name."""
    system = rows_system(fs, shards, file_format)
    longest = longest_sample(out)
    local = isinstance(fs, pafs.LocalFileSystem)
    # On object storage the folder must be copied to the trainer's disk first: run from it.
    dataset_dir = os.path.abspath(root) if local else "."
    text = training_file(fmt, entry, dataset_dir, system, cutoff_len(longest, len(system)),
                         cfg.llamafactory.model, cfg.llamafactory.template)
    write_bytes_atomic(fs, f"{root}/{file_name(fmt)}", text.encode())
    logger.info("LLaMA-Factory training file %s/%s (longest sample %d tokens)", root,
                file_name(fmt), longest)
    return file_name(fmt)
