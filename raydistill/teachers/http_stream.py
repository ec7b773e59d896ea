"""A streamed chat completion read back into one answer, stopping choices that loop.

With ``sampling.stop_on_repetition`` an HTTP teacher asks for ``stream: true``
and reads the server-sent events (``data: {...}`` lines, ``data: [DONE]`` at the
end) as they come. Each choice's text deltas (``content``, and ``reasoning_content``
or ``reasoning`` when the server splits the reasoning off) feed a
:class:`~raydistill.teachers.budgets.RepetitionWatch`; a choice that loops gets
``finish_reason: "repetition"`` and its later deltas are ignored. Once every
choice has finished or looped the client closes the stream, which aborts the
request on the server (vLLM's server cancels a request whose client went away),
so the looping tokens are not generated, and not billed by APIs that bill streamed
tokens.

Token counts: the final ``usage`` event when the server sends it (``stream_options:
include_usage``) and the stream was read to its end; else each choice's count of
content events (vLLM's server sends one per token).

>>> from raydistill.teachers.budgets import RepetitionWatch
>>> s = StreamAnswer(1, lambda: RepetitionWatch(2, 3, 16))
>>> [s.feed({"choices": [{"index": 0, "delta": {"content": t}}]}) for t in ("a b", " b b", " b")]
[False, True, True]
>>> s.payload()["choices"][0]["finish_reason"], s.payload()["choices"][0]["message"]["content"]
('repetition', 'a b b b')
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from raydistill.teachers.budgets import RepetitionWatch

REASONING_FIELDS = ("reasoning_content", "reasoning")


def sse_event(line: str) -> dict[str, Any] | None:
    """The JSON of one server-sent event line, None for other lines and ``[DONE]``.

    >>> sse_event('data: {"choices": []}'), sse_event("data: [DONE]"), sse_event(": ping")
    ({'choices': []}, None, None)
    """
    if not line.startswith("data:"):
        return None
    data = line[len("data:"):].strip()
    if not data or data == "[DONE]":
        return None
    event = json.loads(data)
    return event if isinstance(event, dict) else None


class StreamAnswer:
    """The choices of one streamed request, assembled as they come."""

    def __init__(self, n: int, watch: Callable[[], RepetitionWatch]) -> None:
        self.n = n
        self.text: list[dict[str, str]] = [{"content": "", "reasoning": ""} for _ in range(n)]
        self.reasoning_field = ""
        self.finish: list[str | None] = [None] * n
        self.events = [0] * n
        self.watches = [watch() for _ in range(n)]
        self.usage: dict[str, Any] | None = None

    def feed(self, event: dict[str, Any]) -> bool:
        """Add one event; True when every choice has finished or looped (stop reading)."""
        if event.get("usage"):
            self.usage = event["usage"]
        for choice in event.get("choices") or []:
            i = int(choice.get("index") or 0)
            if i >= self.n or self.finish[i] == "repetition":
                continue
            delta = choice.get("delta") or {}
            parts = [(f, delta.get(f)) for f in (*REASONING_FIELDS, "content")]
            for field, piece in parts:
                if not piece:
                    continue
                if field in REASONING_FIELDS:
                    self.reasoning_field = field
                self.text[i]["content" if field == "content" else "reasoning"] += piece
                self.events[i] += 1
                if self.watches[i].feed(piece):
                    self.finish[i] = "repetition"
                    break
            if self.finish[i] is None and choice.get("finish_reason"):
                self.finish[i] = choice["finish_reason"]
        return all(f is not None for f in self.finish)

    def payload(self) -> dict[str, Any]:
        """The answer shaped like a non-streamed response (``choices``, ``usage``)."""
        choices = []
        for i in range(self.n):
            message: dict[str, Any] = {"role": "assistant", "content": self.text[i]["content"]}
            if self.text[i]["reasoning"]:
                message[self.reasoning_field or "reasoning_content"] = self.text[i]["reasoning"]
            choices.append({"index": i, "finish_reason": self.finish[i] or "unknown",
                            "message": message, "stream_tokens": self.events[i]})
        usage = self.usage
        if usage is None or "repetition" in self.finish:  # cut short: count what arrived
            usage = {"completion_tokens": sum(self.events),
                     "prompt_tokens": (self.usage or {}).get("prompt_tokens", 0)}
        return {"choices": choices, "usage": usage}
