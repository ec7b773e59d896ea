"""The Arrow schemas of the rows that flow between stages.

Every stage returns Arrow tables with these exact types, so Parquet never gets
pickled-object columns and a stage that drops or renames a field fails at once.

- ``PROBLEM``: one row per problem, written by the source stage.
- ``GENERATION``: one row per problem after the teacher and the verifiers, with
  the ``n`` samples as a list column (one row per id keeps the plan compatible
  with Ray Data's row-level checkpointing).
- ``OUTPUT``: one row per sample, what users read in ``all/`` and ``verified/``;
  ``WAVE_OUTPUT`` the same plus ``wave`` in runs with adaptive sampling.
- ``VERIFY_ADDED``: the columns the verify-only command adds to a user's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

PROBLEM = pa.schema(
    [
        ("problem_id", pa.string()),
        ("source", pa.string()),
        ("source_index", pa.int64()),
        ("domain", pa.string()),
        ("problem", pa.string()),
        ("ground_truth_solution", pa.string()),
        ("test_cases", pa.string()),
        ("starter_code", pa.string()),
        # Why the row cannot be used ("missing field 'question'"); null when fine.
        # Its samples' reason code is input_error (raydistill.reasons).
        ("input_error", pa.string()),
    ]
)

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])

# One verifier's verdict on a sample: the rule verifier of its domain ("math",
# "code", "mcq") and, under judge.policy=rule_or_judge, the "judge"; how long it
# took and how many times it was retried after an infrastructure error.
VERDICT = pa.struct(
    [
        ("verifier", pa.string()),
        ("status", pa.string()),
        # A code of raydistill.reasons ("wrong_answer", "timeout", ...).
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("seconds", pa.float64()),
        ("retries", pa.int64()),
    ]
)

# The sampled tokens' log-probabilities summarised once per sample, so a pair rule
# (lowest perplexity, ...) can be applied later without generating again. Null
# when the backend gives none (DeepSeek's reasoner, a server not asked for them).
# ``logprobs_mode``: what the numbers are, e.g. "vllm:raw_logprobs" (vLLM V1's
# default: before temperature and top-p) or "api" (the server's own).
# The label a sample was checked against (raydistill.verifiers.labels): where it
# came from ("gold", "majority", "none"), whether a confident majority disagrees with
# the gold, and the problem's majority answer and its share (null without one).
LABEL = [
    ("label_source", pa.string()),
    ("suspect_gold", pa.bool_()),
    ("majority_answer", pa.string()),
    ("majority_share", pa.float64()),
]

LOGPROB_STATS = [
    ("logprob_sum", pa.float64()),
    ("logprob_mean", pa.float64()),
    ("perplexity", pa.float64()),
    ("logprobs_mode", pa.string()),
]

SAMPLE = pa.struct(
    [
        ("response", pa.string()),
        ("reasoning", pa.string()),
        ("solution", pa.string()),
        ("finish_reason", pa.string()),
        ("think_closed", pa.bool_()),
        ("completion_tokens", pa.int64()),
        ("verdict", pa.string()),
        # Why: a code of raydistill.reasons ("wrong_answer", "teacher_error", ...).
        ("reason", pa.string()),
        ("verdict_detail", pa.string()),
        ("verdicts", pa.list_(VERDICT)),
    ]
    + LABEL
    + LOGPROB_STATS
    + [
        # sampling.think_budget: the reasoning hit its budget and was closed for it.
        ("budget_forced", pa.bool_()),
        # finish_reason "repetition": max_tokens_used minus the tokens generated.
        ("unspent_tokens", pa.int64()),
    ]
)

GENERATION = pa.schema(
    list(PROBLEM)
    + [
        pa.field("messages", pa.list_(MESSAGE)),
        pa.field("prompt_tokens", pa.int64()),
        # Why the teacher produced no samples for this problem; null when fine.
        # Its row's reason code is teacher_error (raydistill.reasons).
        pa.field("teacher_error", pa.string()),
        # Wall-clock start (Unix seconds) and duration of the problem's request.
        pa.field("generated_at", pa.float64()),
        pa.field("generation_seconds", pa.float64()),
        # The request's max_tokens: sampling.max_tokens, or less under on_overflow=shrink.
        pa.field("max_tokens_used", pa.int64()),
        pa.field("samples", pa.list_(SAMPLE)),
    ]
)

PROVENANCE = [
    # The model that wrote the sample, and its teacher's name in the config:
    # "teacher", or a section of `teachers` (escalation: sampling.waves entries).
    ("teacher", pa.string()),
    ("teacher_name", pa.string()),
    ("temperature", pa.float64()),
    ("top_p", pa.float64()),
    ("max_tokens", pa.int64()),
    ("n", pa.int64()),
    ("seed", pa.int64()),
    ("template_hash", pa.string()),
    ("raydistill_version", pa.string()),
]

OUTPUT = pa.schema(
    [
        ("problem_id", pa.string()),
        ("sample_idx", pa.int64()),
        ("source", pa.string()),
        ("source_index", pa.int64()),
        ("domain", pa.string()),
        ("problem", pa.string()),
        ("ground_truth_solution", pa.string()),
        ("test_cases", pa.string()),
        ("starter_code", pa.string()),
        ("response", pa.string()),
        ("reasoning", pa.string()),
        ("solution", pa.string()),
        ("finish_reason", pa.string()),
        ("think_closed", pa.bool_()),
        ("verified", pa.bool_()),
        ("verdict", pa.string()),
        # A code of raydistill.reasons; verdict_detail is the same in words.
        ("reason", pa.string()),
        ("verdict_detail", pa.string()),
        ("verdicts", pa.list_(VERDICT)),
    ]
    + LABEL
    + [
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("generated_at", pa.float64()),
        ("generation_seconds", pa.float64()),
        # sampling.max_tokens, or less when on_overflow=shrink fitted it to the context.
        ("max_tokens_used", pa.int64()),
        # The reasoning reached sampling.think_budget and was closed with the answer cue.
        ("budget_forced", pa.bool_()),
        # Stopped for repetition: the tokens of max_tokens_used it did not spend.
        ("unspent_tokens", pa.int64()),
    ]
    + PROVENANCE
    + [
        # The exact chat messages sent to the teacher: exports never rebuild a prompt.
        ("messages", pa.list_(MESSAGE)),
    ]
    + LOGPROB_STATS
)

# Runs with adaptive sampling (sampling.waves) only: the wave (0, 1, ...) that
# generated the sample; a fixed-n run's rows keep exactly ``OUTPUT``.
WAVE_OUTPUT = pa.schema(list(OUTPUT) + [("wave", pa.int64())])


def output_schema(adaptive: bool) -> pa.Schema:
    """The schema of ``all/`` and ``verified/``: with ``wave`` under adaptive sampling."""
    return WAVE_OUTPUT if adaptive else OUTPUT


VERIFY_ADDED = pa.schema(
    [
        ("verified", pa.bool_()),
        ("verdict", pa.string()),
        ("reason", pa.string()),
        ("verdict_detail", pa.string()),
        ("verdicts", pa.list_(VERDICT)),
    ]
)


def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build a table with exactly ``schema``, whatever extra keys the rows carry."""
    names = schema.names
    return pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows], schema=schema)


def rows(batch: pa.Table | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of a batch as dicts (Ray Data hands Arrow tables or column dicts)."""
    if isinstance(batch, pa.Table):
        return batch.to_pylist()
    columns = {k: list(v) for k, v in batch.items()}
    count = len(next(iter(columns.values()), []))
    return [{k: v[i] for k, v in columns.items()} for i in range(count)]


# One row per problem in ``<output.uri>/problems/`` (raydistill.output.problems): the
# problem itself (so a selection from it is a source, raydistill.sources.select) and
# what its samples say about it.
ANSWER_COUNT = pa.struct([("answer", pa.string()), ("count", pa.int64())])
PROBLEM_PROFILE = pa.schema(
    [f for f in PROBLEM if f.name != "input_error"]  # all/ keeps it as reason input_error
    + [
        # Samples with a response; of them verified; of them with an error verdict.
        ("samples", pa.int64()),
        ("verified", pa.int64()),
        ("errors", pa.int64()),
        # verified / samples (the verl export's pass rate); null without samples.
        ("pass_rate", pa.float64()),
        # Samples that cast a vote (an answer read, not truncated, no error verdict).
        ("answered", pa.int64()),
        # The distinct final answers, grouped by the verifier's equivalence, most votes first.
        ("answers", pa.list_(ANSWER_COUNT)),
        ("majority_answer", pa.string()),
        ("majority_share", pa.float64()),
        # The majority is equivalent to the gold; null without a majority or a gold.
        ("gold_agrees", pa.bool_()),
        ("suspect_gold", pa.bool_()),
        # gold | majority | none: where the label the samples were checked against came from.
        ("label_source", pa.string()),
        ("mean_completion_tokens", pa.float64()),
        ("median_completion_tokens", pa.float64()),
        ("truncated_share", pa.float64()),
        # Adaptive sampling: the first wave with a verified sample; null otherwise or unsolved.
        ("first_solved_wave", pa.int64()),
    ]
)
