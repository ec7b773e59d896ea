"""Rate limits, retry back-off and key hiding for the HTTP teacher (asyncio, no Ray).

- :class:`TokenBucket`: a requests-per-minute or tokens-per-minute allowance,
  refilled continuously, with a short burst so that a pool starting up does not
  spend a whole minute's allowance in its first second.
- :class:`RetryPolicy`: exponential back-off with jitter, a per-request attempt
  limit and a deadline, and the server's ``Retry-After`` honoured.
- :class:`Secret`: an API key that never shows in ``repr``/``str`` (logs, Ray's
  task arguments shown in errors), and :meth:`Secret.redact` for text that a
  server may have echoed it into.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass


class TokenBucket:
    """``per_minute`` units a minute, at most ``burst_s`` seconds' worth at once.

    ``take(n)`` waits until ``n`` units are there; ``give_back(n)`` returns units
    reserved but not used (a response shorter than its ``max_tokens`` estimate).
    """

    def __init__(self, per_minute: float, burst_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.clock = clock
        self.updated = clock()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def take(self, amount: float) -> None:
        """Wait for ``amount`` units (a request larger than the burst waits for a full bucket)."""
        amount = min(amount, self.capacity)
        async with self.lock:  # first come, first served: no starvation of big requests
            self._refill()
            while self.level < amount:
                await asyncio.sleep((amount - self.level) / self.rate)
                self._refill()
            self.level -= amount

    def give_back(self, amount: float) -> None:
        """Return unused units (never above the burst)."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute together; ``None`` means no limit."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None,
                 burst_s: float = 1.0) -> None:
        self.requests = TokenBucket(requests_per_minute, burst_s) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute, burst_s) if tokens_per_minute else None

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait until one more request of about ``estimated_tokens`` tokens is allowed."""
        if self.requests is not None:
            await self.requests.take(1)
        if self.tokens is not None:
            await self.tokens.take(estimated_tokens)

    def settle(self, estimated_tokens: int, used_tokens: int | None) -> None:
        """Correct the token reservation once the server has reported its usage."""
        if self.tokens is not None and used_tokens is not None:
            self.tokens.give_back(max(0, estimated_tokens - used_tokens))


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed request again, and after how long.

    The delay before retry ``k`` (0-based) is ``min(max_s, base_s * 2**k)``, with
    "equal jitter": half of it fixed, half random, so replicas that failed
    together do not come back together, yet the wait never drops below half the
    back-off. A server's ``Retry-After`` is a floor.

    >>> policy = RetryPolicy(max_retries=3, base_s=1.0, max_s=5.0, deadline_s=60.0)
    >>> [0.5 <= policy.delay(0) <= 1.0, 2.0 <= policy.delay(2) <= 4.0, policy.delay(9) <= 5.0]
    [True, True, True]
    >>> policy.delay(0, retry_after=7.0) >= 7.0
    True
    """

    max_retries: int
    base_s: float
    max_s: float
    deadline_s: float

    def delay(self, retry: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0 = the first retry)."""
        backoff = min(self.max_s, self.base_s * 2.0**retry)
        jittered = backoff / 2 + (rng or random).uniform(0, backoff / 2)
        return max(jittered, retry_after or 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (HTTP dates are ignored).

    >>> parse_retry_after("2"), parse_retry_after(None), parse_retry_after("Wed, 21 Oct")
    (2.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Secret:
    """A value that is never printed.

    >>> key = Secret("sk-123")
    >>> str(key), repr(key), key.reveal()
    ('***', 'Secret(***)', 'sk-123')
    >>> key.redact("bad key sk-123")
    'bad key ***'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that sends it (the HTTP header)."""
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the value replaced by ``***``."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret(***)"

    def __str__(self) -> str:
        return "***"
