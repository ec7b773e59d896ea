"""Split a teacher response into reasoning and answer.

One normalised record whatever the backend. The answer is only what follows
the *last* ``</think>``: a number found inside the reasoning is not an answer.
A ``<think>`` that is never closed means the trace was truncated; it is marked
and never verified as correct.

>>> split_response("<think>\\n2 + 2 = 4\\n</think>\\n\\\\boxed{4}")
Trace(reasoning='2 + 2 = 4', solution='\\\\boxed{4}', think_closed=True)
>>> split_response("<think>still thinking").think_closed
False
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class Trace:
    """A response split into its reasoning and its final solution text."""

    reasoning: str
    solution: str
    think_closed: bool


def split_response(text: str) -> Trace:
    """Split ``text`` at the last ``</think>``.

    - closed (``<think>…</think>answer``, or only ``…</think>answer`` when the chat
      template already opened the tag): reasoning before, solution after;
    - opened but never closed: all reasoning, empty solution, ``think_closed=False``;
    - no tags at all: no reasoning, the whole text is the solution.
    """
    if THINK_CLOSE in text:
        reasoning, _, solution = text.rpartition(THINK_CLOSE)
        start = reasoning.find(THINK_OPEN)
        if start != -1:
            reasoning = reasoning[start + len(THINK_OPEN) :]
        return Trace(reasoning.strip(), solution.strip(), True)
    if THINK_OPEN in text:
        reasoning = text.split(THINK_OPEN, 1)[1]
        return Trace(reasoning.strip(), "", False)
    return Trace("", text.strip(), True)
