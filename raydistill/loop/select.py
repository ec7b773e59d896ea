"""Which samples of a round train the next model: a Ray Data plan over the round's ``all/``.

    Read all/ -> drop the held-out source -> group by problem -> keep up to k verified
    samples of problems whose pass rate is in the band -> Write (prompt/completion rows)

The rows are TRL's conversational prompt/completion shape: ``prompt`` is the chat
the model was asked with (rebuilt from the problem by the run's prompt config),
``completion`` the one assistant message it answered, verbatim (``<think>`` block
included), so the model is trained on exactly what it generated.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import ray.data
from ray.data.expressions import col

from raydistill import records
from raydistill.config import PromptConfig
from raydistill.loop.config import LoopConfig
from raydistill.prompts import build_messages

TRAINING = pa.schema([
    ("problem_id", pa.string()),
    ("sample_idx", pa.int64()),
    ("prompt", pa.list_(records.MESSAGE)),
    ("completion", pa.list_(records.MESSAGE)),
])


def pick(group: pa.Table, loop: LoopConfig, prompt: PromptConfig) -> pa.Table:
    """The training rows of one problem's samples (all rows of ``group`` share a problem).

    >>> rows = [{"problem_id": "p", "sample_idx": i, "problem": "1+1?", "domain": "math",
    ...          "verified": i < 3, "response": f"r{i}"} for i in range(4)]
    >>> out = pick(pa.Table.from_pylist(rows), LoopConfig(max_per_problem=2), PromptConfig())
    >>> out["sample_idx"].to_pylist(), out["completion"][0].as_py()
    ([0, 1], [{'role': 'assistant', 'content': 'r0'}])
    >>> pick(pa.Table.from_pylist(rows), LoopConfig(pass_rate_max=0.5), PromptConfig()).num_rows
    0
    """
    samples = sorted(group.to_pylist(), key=lambda r: r["sample_idx"])
    verified = [r for r in samples if r["verified"]]
    rate = len(verified) / len(samples) if samples else 0.0
    if not verified or not loop.pass_rate_min <= rate <= loop.pass_rate_max:
        return TRAINING.empty_table()
    chosen = verified[: loop.max_per_problem]
    messages = build_messages(chosen[0], prompt)
    return records.table([
        {"problem_id": r["problem_id"], "sample_idx": r["sample_idx"], "prompt": messages,
         "completion": [{"role": "assistant", "content": r["response"]}]}
        for r in chosen
    ], TRAINING)


COLUMNS = ["problem_id", "sample_idx", "source", "problem", "domain", "starter_code",
           "test_cases", "ground_truth_solution", "verified", "response"]


def select(fs: Any, all_dir: str, dest: str, loop: LoopConfig, prompt: PromptConfig) -> int:
    """Write the training rows chosen from the run output ``all_dir`` to ``dest``; count them."""
    if fs.get_file_info(dest).type != pafs.FileType.NotFound:
        fs.delete_dir(dest)
    ds = ray.data.read_parquet(all_dir, filesystem=fs, columns=COLUMNS)
    ds = ds.filter(expr=col("source") != loop.heldout)
    ds = ds.groupby("problem_id").map_groups(partial(pick, loop=loop, prompt=prompt),
                                             batch_format="pyarrow")
    ds.write_parquet(dest, filesystem=fs)
    return int(ray.data.read_parquet(dest, filesystem=fs).count()) if _has_parts(fs, dest) else 0


def _has_parts(fs: Any, path: str) -> bool:
    infos = fs.get_file_info(pafs.FileSelector(path))
    return any(i.base_name.endswith(".parquet") for i in infos)
