"""Which samples of a round train the next model: a Ray Data plan over the round's ``all/``.

    Read all/ -> drop the held-out source -> group by problem -> keep up to k verified
    samples of problems whose pass rate is in the band -> Write (prompt/completion rows)
    (DPO: one pair per problem by the exports' rules -> Write (prompt/chosen/rejected rows))

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
from raydistill.export.pairs import make_pair, pass_rate
from raydistill.loop.config import LoopConfig
from raydistill.output.storage import parquet_files
from raydistill.prompts import PromptConfig, build_messages

TRAINING = pa.schema([
    ("problem_id", pa.string()),
    ("sample_idx", pa.int64()),
    ("prompt", pa.list_(records.MESSAGE)),
    ("completion", pa.list_(records.MESSAGE)),
])
# TRL's conversational preference rows: one pair per problem.
PAIRS = pa.schema([
    ("problem_id", pa.string()),
    ("chosen_idx", pa.int64()),
    ("rejected_idx", pa.int64()),
    ("prompt", pa.list_(records.MESSAGE)),
    ("chosen", pa.list_(records.MESSAGE)),
    ("rejected", pa.list_(records.MESSAGE)),
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
    if not samples:
        return TRAINING.empty_table()
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


def pick_pair(group: pa.Table, loop: LoopConfig, prompt: PromptConfig) -> pa.Table:
    """The DPO pair of one problem's samples (none if the pair rule finds none).

    >>> rows = [{"problem_id": "p", "sample_idx": i, "problem": "1+1?", "domain": "math",
    ...          "verified": i == 0, "verdict": "pass" if i == 0 else "fail", "response": f"r{i}",
    ...          "finish_reason": "stop", "think_closed": True} for i in range(2)]
    >>> out = pick_pair(pa.Table.from_pylist(rows), LoopConfig(), PromptConfig())
    >>> out["chosen"][0].as_py()[0]["content"], out["rejected"][0].as_py()[0]["content"]
    ('r0', 'r1')
    """
    rows = group.to_pylist()
    _, _, rate = pass_rate(rows)
    if not rows or not loop.pass_rate_min <= rate <= loop.pass_rate_max:
        return PAIRS.empty_table()
    p = loop.pairs
    pair, _ = make_pair(rows, p.rule, p.chosen, p.rejected, p.allow, seed=0)
    if pair is None:
        return PAIRS.empty_table()
    chosen, rejected = pair["chosen"], pair["rejected"]
    return records.table([{
        "problem_id": chosen["problem_id"], "chosen_idx": chosen["sample_idx"],
        "rejected_idx": rejected["sample_idx"], "prompt": build_messages(chosen, prompt),
        "chosen": [{"role": "assistant", "content": chosen["response"]}],
        "rejected": [{"role": "assistant", "content": rejected["response"] or ""}],
    }], PAIRS)


COLUMNS = ["problem_id", "sample_idx", "source", "problem", "domain", "starter_code",
           "test_cases", "ground_truth_solution", "verified", "response"]
# What the pair rules look at besides COLUMNS (raydistill/export/pairs.py).
PAIR_COLUMNS = ["verdict", "reason", "finish_reason", "think_closed", "completion_tokens",
                "perplexity"]


def select(fs: Any, all_dir: str, dest_fs: Any, dests: dict[str, str], loop: LoopConfig,
           prompt: PromptConfig) -> dict[str, int]:
    """Write training rows chosen from the run output ``all_dir``; count them per kind.

    ``dests`` maps a kind to its directory on ``dest_fs``: ``sft`` (verified samples)
    and/or ``dpo`` (pairs). Each directory is cleared first: a selection cut short
    by a kill is redone whole.
    """
    counts = {}
    for kind, dest in sorted(dests.items()):
        if dest_fs.get_file_info(dest).type != pafs.FileType.NotFound:
            dest_fs.delete_dir(dest)
        columns = COLUMNS + (PAIR_COLUMNS if kind == "dpo" else [])
        ds = ray.data.read_parquet(all_dir, filesystem=fs, columns=columns)
        ds = ds.filter(expr=col("source") != loop.heldout)
        fn = pick_pair if kind == "dpo" else pick
        ds = ds.groupby("problem_id").map_groups(partial(fn, loop=loop, prompt=prompt),
                                                 batch_format="pyarrow")
        ds.write_parquet(dest, filesystem=dest_fs)
        counts[kind] = (int(ray.data.read_parquet(dest, filesystem=dest_fs).count())
                        if _has_parts(dest_fs, dest) else 0)
    return counts


def _has_parts(fs: Any, path: str) -> bool:
    return bool(parquet_files(fs, path, missing_ok=True))
