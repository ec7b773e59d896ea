"""Pure row builders: one ``all/`` row (or a pair, or a problem) -> one row of a trainer's format.

No Ray, no I/O: each builder takes plain dicts and the export options and returns
a plain dict, checked here by doctests and in ``tests/unit/export/test_export_formats.py``.

>>> row = {"problem_id": "p1", "sample_idx": 0, "reasoning": "2 + 2 = 4", "solution": "4",
...        "messages": [{"role": "user", "content": "What is 2+2?"}]}
>>> opts = Render()
>>> sharegpt(row, opts)["conversations"][1]["value"]
'<think>\\n2 + 2 = 4\\n</think>\\n\\n4'
>>> trl_sft(row, opts)["completion"]
[{'role': 'assistant', 'content': '<think>\\n2 + 2 = 4\\n</think>\\n\\n4'}]
>>> openai(row, Render(target="solution"))["messages"][-1]["content"]
'4'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from raydistill.export.config import DataSourcesConfig
from raydistill.export.verl_rows import verl_data_source, verl_ground_truth
from raydistill.parsing import (
    SOLUTION_CLOSE,
    SOLUTION_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    THOUGHT_CLOSE,
    THOUGHT_OPEN,
)
from raydistill.prompts import BESPOKE_SYSTEM
from raydistill.records import MESSAGE

Message = dict[str, str]


@dataclass(frozen=True)
class Render:
    """How an assistant turn and its prompt are written (the ``export`` keys of the same names)."""

    style: str = "think"
    target: str = "thought_solution"
    system: str | None = None
    # verl: each domain's data_source (``export.data_sources``).
    data_sources: Mapping[str, str] = field(default_factory=lambda: asdict(DataSourcesConfig()))


def assistant_text(reasoning: str | None, solution: str | None, opts: Render) -> str:
    """The assistant turn: the trace in ``opts.style``, holding ``opts.target``.

    >>> assistant_text("a", "b", Render(style="bespoke"))
    '<|begin_of_thought|>\\n\\na\\n\\n<|end_of_thought|>\\n\\n<|begin_of_solution|>\\n\\nb\\n\\n<|end_of_solution|>'
    >>> assistant_text("a", "b", Render(target="thought"))
    '<think>\\na\\n</think>'
    """
    thought, answer = (reasoning or "").strip(), (solution or "").strip()
    if opts.style == "bespoke":
        think = f"{THOUGHT_OPEN}\n\n{thought}\n\n{THOUGHT_CLOSE}"
        sol = f"{SOLUTION_OPEN}\n\n{answer}\n\n{SOLUTION_CLOSE}"
    else:
        think, sol = f"{THINK_OPEN}\n{thought}\n{THINK_CLOSE}", answer
    if opts.target == "solution":
        return sol
    if opts.target == "thought":
        return think
    return f"{think}\n\n{sol}"


def answer_text(row: dict[str, Any], opts: Render) -> str:
    """The assistant turn of one sample: :func:`assistant_text`, or its response verbatim.

    ``target="response"``: the text as the model wrote it (what the loop trains on).

    >>> answer_text({"response": "<think>a</think>b", "reasoning": "a", "solution": "b"},
    ...             Render(target="response"))
    '<think>a</think>b'
    """
    if opts.target == "response":
        return row.get("response") or ""
    return assistant_text(row["reasoning"], row["solution"], opts)


def system_prompt(messages: list[Message], opts: Render) -> str | None:
    """The system prompt of an exported row (None: none).

    ``opts.system`` when given ("" means none); else the one the teacher was sent;
    else the bespoke style's own.

    >>> system_prompt([{"role": "user", "content": "q"}], Render(style="bespoke"))[:20]
    'Your role as an assi'
    >>> system_prompt([{"role": "system", "content": "S"}], Render(system="")) is None
    True
    """
    if opts.system is not None:
        return opts.system or None
    sent = next((m["content"] for m in messages if m["role"] == "system"), None)
    if sent is not None:
        return sent
    return BESPOKE_SYSTEM if opts.style == "bespoke" else None


def prompt_messages(messages: list[Message], opts: Render) -> list[Message]:
    """The prompt as the teacher got it, with the export's system prompt in front."""
    turns = [{"role": m["role"], "content": m["content"]} for m in messages
             if m["role"] != "system"]
    system = system_prompt(messages, opts)
    return ([{"role": "system", "content": system}] if system else []) + turns


def _sharegpt_turns(messages: list[Message]) -> list[Message]:
    names = {"user": "human", "assistant": "gpt"}
    return [{"from": names.get(m["role"], m["role"]), "value": m["content"]}
            for m in messages if m["role"] != "system"]


def label_source(row: dict[str, Any]) -> str:
    """Where the row's label came from: ``gold``, ``majority`` or ``none``.

    A run from before labels (raydistill.verifiers.labels) had only golds.

    >>> label_source({"label_source": "majority"}), label_source({})
    ('majority', 'gold')
    """
    return str(row.get("label_source") or "gold")


def sample_id(row: dict[str, Any]) -> dict[str, Any]:
    """What every sample row of an export records: the sample and the source of its label."""
    return {"problem_id": row["problem_id"], "sample_idx": row["sample_idx"],
            "label_source": label_source(row)}


def sharegpt(row: dict[str, Any], opts: Render) -> dict[str, Any]:
    """LLaMA-Factory / openMind ShareGPT: ``conversations`` of ``from``/``value``, ``system``."""
    turns = _sharegpt_turns(row["messages"])
    turns.append({"from": "gpt", "value": answer_text(row, opts)})
    return {"conversations": turns, "system": system_prompt(row["messages"], opts) or "",
            **sample_id(row)}


def openai(row: dict[str, Any], opts: Render) -> dict[str, Any]:
    """OpenAI fine-tuning JSONL: ``{"messages": [system?, user, assistant]}``."""
    answer = {"role": "assistant",
              "content": answer_text(row, opts)}
    return {"messages": prompt_messages(row["messages"], opts) + [answer],
            **sample_id(row)}


def trl_sft(row: dict[str, Any], opts: Render) -> dict[str, Any]:
    """TRL conversational prompt-completion: ``prompt`` and ``completion`` message lists."""
    answer = {"role": "assistant",
              "content": answer_text(row, opts)}
    return {"prompt": prompt_messages(row["messages"], opts), "completion": [answer],
            **sample_id(row)}


def trl_dpo(pair: dict[str, Any], opts: Render) -> dict[str, Any]:
    """TRL conversational preference: ``prompt``, ``chosen``, ``rejected`` (and the pair's record).

    ``pair``: :func:`raydistill.export.pairs.make_pair`'s result.
    """
    chosen, rejected = pair["chosen"], pair["rejected"]
    return {
        "prompt": prompt_messages(chosen["messages"], opts),
        "chosen": [{"role": "assistant",
                    "content": answer_text(chosen, opts)}],
        "rejected": [{"role": "assistant",
                      "content": answer_text(rejected, opts)}],
        **pair_record(pair),
    }


def sharegpt_pairs(pair: dict[str, Any], opts: Render) -> dict[str, Any]:
    """LLaMA-Factory ShareGPT preference rows (``ranking: true``): ``chosen``/``rejected`` turns."""
    chosen, rejected = pair["chosen"], pair["rejected"]
    return {
        "conversations": _sharegpt_turns(chosen["messages"]),
        "chosen": {"from": "gpt",
                   "value": answer_text(chosen, opts)},
        "rejected": {"from": "gpt",
                     "value": answer_text(rejected, opts)},
        "system": system_prompt(chosen["messages"], opts) or "",
        **pair_record(pair),
    }


def pair_record(pair: dict[str, Any]) -> dict[str, Any]:
    """What every pair row records: the problem, both samples, the rule and its statistics."""
    chosen, rejected = pair["chosen"], pair["rejected"]
    return {
        "problem_id": chosen["problem_id"],
        "label_source": label_source(chosen),
        "chosen_sample_idx": chosen["sample_idx"],
        "rejected_sample_idx": rejected["sample_idx"],
        "rule": pair["rule"],
        "chosen_tokens": chosen.get("completion_tokens"),
        "rejected_tokens": rejected.get("completion_tokens"),
        "chosen_perplexity": chosen.get("perplexity"),
        "rejected_perplexity": rejected.get("perplexity"),
    }


def verl(problem: dict[str, Any], opts: Render) -> dict[str, Any]:
    """One verl RL row per problem, with its measured pass rate in ``extra_info``.

    ``problem``: one row of the problem (any of its samples) plus ``samples``,
    ``verified_samples`` and ``pass_rate`` (:func:`raydistill.export.pairs.pass_rate`).
    ``data_source`` and ``reward_model.ground_truth`` are what verl's own reward
    reads (:mod:`raydistill.export.verl_rows`); ``extra_info`` also carries what
    raydistill's reward needs (``domain``, ``starter_code``) and the run's source.

    >>> p = {"problem_id": "p1", "source": "gsm8k", "source_index": 3, "domain": "math",
    ...      "problem": "1+1?", "ground_truth_solution": "1 + 1 = 2\\n#### 2",
    ...      "messages": [{"role": "user", "content": "1+1?"}],
    ...      "samples": 4, "verified_samples": 3, "pass_rate": 0.75}
    >>> r = verl(p, Render())
    >>> r["data_source"], r["reward_model"], r["extra_info"]["pass_rate"]
    ('lighteval/MATH', {'style': 'rule', 'ground_truth': '2'}, 0.75)
    """
    return {
        "data_source": verl_data_source(problem, opts.data_sources),
        "prompt": prompt_messages(problem["messages"], opts),
        "ability": problem["domain"],
        "reward_model": {"style": "rule", "ground_truth": verl_ground_truth(problem)},
        "extra_info": {
            "problem_id": problem["problem_id"],
            "index": problem["source_index"],
            "source": problem["source"],
            "domain": problem["domain"],
            "question": problem["problem"],
            "starter_code": problem.get("starter_code"),
            "samples": problem["samples"],
            "verified_samples": problem["verified_samples"],
            "pass_rate": problem["pass_rate"],
            "label_source": label_source(problem),
        },
    }


SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt"}


def dataset_info(fmt: str, entry: str, file_name: str) -> dict[str, Any]:
    """The ``dataset_info.json`` of a sharegpt export: ``dataset: <entry>`` in LLaMA-Factory.

    ``file_name`` is relative to the export folder (LLaMA-Factory's ``dataset_dir``);
    a directory is read whole.

    >>> info = dataset_info("sharegpt_pairs", "mine", "data")["mine"]
    >>> info["ranking"], info["columns"]["chosen"]
    (True, 'chosen')
    """
    columns = {"messages": "conversations", "system": "system"}
    entry_info: dict[str, Any] = {"file_name": file_name, "formatting": "sharegpt"}
    if fmt == "sharegpt_pairs":
        entry_info["ranking"] = True
        columns |= {"chosen": "chosen", "rejected": "rejected"}
    entry_info |= {"columns": columns, "tags": SHAREGPT_TAGS}
    return {entry: entry_info}


def jsonl_line(row: dict[str, Any]) -> str:
    """One JSONL line (UTF-8 as is, not escaped: traces are mostly non-ASCII maths)."""
    return json.dumps(row, ensure_ascii=False)


# The Arrow schema of each format's rows (Parquet shards, and the rows between stages).
TURN = pa.struct([("from", pa.string()), ("value", pa.string())])
_SAMPLE_ID = [("problem_id", pa.string()), ("sample_idx", pa.int64()),
              ("label_source", pa.string())]
_PAIR_RECORD = [
    ("problem_id", pa.string()), ("label_source", pa.string()), ("chosen_sample_idx", pa.int64()),
    ("rejected_sample_idx", pa.int64()), ("rule", pa.string()),
    ("chosen_tokens", pa.int64()), ("rejected_tokens", pa.int64()),
    ("chosen_perplexity", pa.float64()), ("rejected_perplexity", pa.float64()),
]
SCHEMAS: dict[str, pa.Schema] = {
    "sharegpt": pa.schema([("conversations", pa.list_(TURN)), ("system", pa.string())]
                          + _SAMPLE_ID),
    "openai": pa.schema([("messages", pa.list_(MESSAGE))] + _SAMPLE_ID),
    "trl_sft": pa.schema([("prompt", pa.list_(MESSAGE)), ("completion", pa.list_(MESSAGE))]
                         + _SAMPLE_ID),
    "sharegpt_pairs": pa.schema([("conversations", pa.list_(TURN)), ("chosen", TURN),
                                 ("rejected", TURN), ("system", pa.string())] + _PAIR_RECORD),
    "trl_dpo": pa.schema([("prompt", pa.list_(MESSAGE)), ("chosen", pa.list_(MESSAGE)),
                          ("rejected", pa.list_(MESSAGE))] + _PAIR_RECORD),
    "verl": pa.schema([
        ("data_source", pa.string()), ("prompt", pa.list_(MESSAGE)), ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([
            ("problem_id", pa.string()), ("index", pa.int64()), ("source", pa.string()),
            ("domain", pa.string()), ("question", pa.string()), ("starter_code", pa.string()),
            ("samples", pa.int64()), ("verified_samples", pa.int64()),
            ("pass_rate", pa.float64()), ("label_source", pa.string()),
        ])),
    ]),
}

BUILDERS = {"sharegpt": sharegpt, "openai": openai, "trl_sft": trl_sft,
            "sharegpt_pairs": sharegpt_pairs, "trl_dpo": trl_dpo, "verl": verl}
