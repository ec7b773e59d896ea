"""One normalised trace record, whatever the backend wrote.

Teachers return their reasoning in one of these shapes, all mapped onto the same
``reasoning`` / ``solution`` / ``think_closed``:

- inline ``<think>…</think>answer`` (R1 and its distills, QwQ, the tiny teacher);
- only ``…</think>answer``: R1-distill chat templates put ``<think>`` in the prompt;
- a separate ``reasoning_content`` (DeepSeek's API, ``vllm serve`` with a
  reasoning parser) or ``reasoning`` (newer vLLM, OpenRouter) field next to the
  answer ``content``;
- ``<|begin_of_thought|>…<|end_of_thought|> <|begin_of_solution|>…<|end_of_solution|>``
  (the Bespoke / OpenThoughts / STILL system prompt).

The answer is only what follows the *last* close of the reasoning: a number found
inside the reasoning is not an answer. Reasoning that is never closed means the
trace was truncated (``think_closed=False``); with ``finish_reason="length"`` it
is marked truncated and never verified as correct.

>>> split_response("<think>\\n2 + 2 = 4\\n</think>\\n\\\\boxed{4}")
Trace(reasoning='2 + 2 = 4', solution='\\\\boxed{4}', think_closed=True)
>>> split_response("<think>still thinking").think_closed
False
>>> normalize("\\\\boxed{4}", "2 + 2 = 4", "stop").reasoning
'2 + 2 = 4'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
THOUGHT_OPEN = "<|begin_of_thought|>"
THOUGHT_CLOSE = "<|end_of_thought|>"
SOLUTION_OPEN = "<|begin_of_solution|>"
SOLUTION_CLOSE = "<|end_of_solution|>"


@dataclass(frozen=True)
class Trace:
    """A response split into its reasoning and its final solution text."""

    reasoning: str
    solution: str
    think_closed: bool


def _solution_body(text: str) -> str:
    """The inside of ``<|begin_of_solution|>…<|end_of_solution|>`` if tagged, else ``text``."""
    if SOLUTION_OPEN in text:
        text = text.rsplit(SOLUTION_OPEN, 1)[1]
        text = text.split(SOLUTION_CLOSE, 1)[0]
    return text.strip()


def _thought_body(text: str) -> str:
    """Reasoning without begin/end_of_thought tags a model wrote inside ``<think>``."""
    return text.replace(THOUGHT_OPEN, "").replace(THOUGHT_CLOSE, "").strip()


def split_response(text: str) -> Trace:
    """Split inline reasoning from the answer.

    - closed (``<think>…</think>answer``, or only ``…</think>answer`` when the chat
      template already opened the tag): reasoning before, solution after;
    - ``<|begin_of_thought|>…<|end_of_thought|>`` then the solution, itself inside
      ``<|begin_of_solution|>…<|end_of_solution|>`` when tagged;
    - opened but never closed: all reasoning, empty solution, ``think_closed=False``;
    - no tags at all: no reasoning, the whole text is the solution.
    """
    if THINK_CLOSE in text:
        reasoning, _, solution = text.rpartition(THINK_CLOSE)
        start = reasoning.find(THINK_OPEN)
        if start != -1:
            reasoning = reasoning[start + len(THINK_OPEN) :]
        return Trace(_thought_body(reasoning), _solution_body(solution), True)
    if THINK_OPEN in text:
        reasoning = text.split(THINK_OPEN, 1)[1]
        return Trace(_thought_body(reasoning), "", False)
    if THOUGHT_CLOSE in text:
        reasoning, _, solution = text.rpartition(THOUGHT_CLOSE)
        reasoning = reasoning.split(THOUGHT_OPEN, 1)[-1]
        return Trace(reasoning.strip(), _solution_body(solution), True)
    if THOUGHT_OPEN in text:
        return Trace(text.split(THOUGHT_OPEN, 1)[1].strip(), "", False)
    return Trace("", _solution_body(text), True)


def normalize(content: str | None, reasoning: str | None, finish_reason: str | None) -> Trace:
    """The trace of an API answer: ``content`` plus a separate ``reasoning`` field, if any.

    Without a separate field (``None`` or empty) the content is split inline. With
    one, the content is the answer; an answer that is still empty when the
    response stopped at ``max_tokens`` means the cut fell inside the reasoning.
    """
    content = content or ""
    if not reasoning:
        return split_response(content)
    if THINK_CLOSE in content or THOUGHT_CLOSE in content:
        # A server that split off only part of the reasoning (the parser missed
        # a second block): what comes after the last close is still the answer.
        inline = split_response(content)
        return Trace(_thought_body(reasoning + "\n" + inline.reasoning), inline.solution, True)
    closed = bool(content.strip()) or finish_reason != "length"
    return Trace(_thought_body(reasoning), _solution_body(content), closed)


def full_text(content: str | None, reasoning: str | None) -> str:
    """The whole response as one text: separate reasoning is put back inside ``<think>``.

    >>> full_text("4", "2+2")
    '<think>\\n2+2\\n</think>\\n\\n4'
    """
    if not reasoning:
        return content or ""
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{content or ''}"


NO_LOGPROBS: dict[str, Any] = {"logprob_sum": None, "logprob_mean": None, "perplexity": None,
                               "logprobs_mode": None}


def logprob_stats(total: float | None, tokens: int, mode: str) -> dict[str, Any]:
    """The ``records.LOGPROB_STATS`` of a sample: sum, mean per token, perplexity.

    >>> logprob_stats(-4.0, 2, "vllm:raw_logprobs")["perplexity"] == math.exp(2.0)
    True
    >>> logprob_stats(None, 3, "api")["logprob_sum"] is None
    True
    """
    if total is None or tokens <= 0 or not math.isfinite(total):
        return dict(NO_LOGPROBS)
    mean = total / tokens
    return {"logprob_sum": total, "logprob_mean": mean,
            "perplexity": math.exp(min(-mean, 700.0)), "logprobs_mode": mode}


def make_sample(
    content: str | None,
    finish_reason: str | None,
    completion_tokens: int,
    reasoning: str | None = None,
    opened_in_prompt: bool = False,
    logprobs: dict[str, Any] | None = None,
    budget_forced: bool = False,
) -> dict[str, Any]:
    """One ``records.SAMPLE`` entry, the same fields for every backend.

    ``opened_in_prompt``: the chat template ended the prompt with ``<think>`` (R1
    distills), so the text starts inside the reasoning; the tag is put back, and a
    trace cut before its ``</think>`` is marked unclosed like any other.
    ``logprobs``: :func:`logprob_stats` of the sample, None when the backend gave none.
    ``budget_forced``: its reasoning was closed at ``sampling.think_budget``.
    """
    if opened_in_prompt and not reasoning and content is not None:
        content = f"{THINK_OPEN}\n{content}"
    trace = normalize(content, reasoning, finish_reason)
    return {
        "response": full_text(content, reasoning),
        "reasoning": trace.reasoning,
        "solution": trace.solution,
        "finish_reason": finish_reason or "unknown",
        "think_closed": trace.think_closed,
        "completion_tokens": completion_tokens,
        "verdict": None,
        "reason": None,
        "verdict_detail": None,
        **(logprobs or NO_LOGPROBS),
        "budget_forced": budget_forced,
        "unspent_tokens": 0,
    }


def truncation(sample: dict[str, Any]) -> str | None:
    """Why a sample is a truncated trace (never verified as correct), or None.

    >>> truncation({"think_closed": False, "finish_reason": "stop"})
    'reasoning never closed'
    >>> truncation({"think_closed": True, "finish_reason": "length"})
    'hit max_tokens'
    """
    if not sample["think_closed"]:
        return "reasoning never closed"
    if sample["finish_reason"] == "length":
        return "hit max_tokens"
    return None


def repetition(sample: dict[str, Any]) -> str | None:
    """Why a sample was stopped as a loop (never checked as an answer), or None.

    >>> repetition({"finish_reason": "repetition", "completion_tokens": 59})
    'stopped looping after 59 tokens'
    """
    if sample["finish_reason"] != "repetition":
        return None
    return f"stopped looping after {sample['completion_tokens']} tokens"


def failed_sample(reason: str) -> dict[str, Any]:
    """A sample the teacher could not produce (one of ``n`` fanned-out requests failed).

    It stays in the record with no response and an ``error`` verdict carrying the
    reason, so a partial failure is neither dropped nor counted as generated.
    """
    return {
        "response": None,
        "reasoning": None,
        "solution": None,
        "finish_reason": "error",
        "think_closed": False,
        "completion_tokens": 0,
        "verdict": "error",
        "reason": "teacher_error",
        "verdict_detail": f"teacher: {reason}",
        **NO_LOGPROBS,
        "budget_forced": False,
        "unspent_tokens": 0,
    }
