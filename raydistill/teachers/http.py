"""The ``openai`` teacher: any OpenAI-compatible chat-completions endpoint.

DeepSeek's API (``deepseek-reasoner``), OpenAI-compatible gateways and a
``vllm serve`` you already run all speak ``POST {base_url}/chat/completions``.
Each Ray Data actor keeps one ``httpx.AsyncClient`` and at most
``teacher.max_concurrency`` requests in flight; the requests- and tokens-per-
minute limits of the config are shared evenly between the replicas.

What can go wrong, and what happens:

- 429, 5xx, connection errors, timeouts (``teacher.timeout_s`` per request),
  empty bodies (DeepSeek answers 200 with an empty body under load),
  unparseable JSON, a body without ``choices``: retried with exponential back-off
  and jitter (:class:`~raydistill.teachers.rate_limits.RetryPolicy`), ``Retry-After``
  honoured, up to ``teacher.max_retries`` retries and ``teacher.retry_deadline_s``
  per request;
- other 4xx (bad request, bad key): not retried;
- a request that fails for good: the problem keeps an error with the reason
  (``teacher_error``, or one ``error`` sample among the ``n`` when only some of
  its fanned-out requests failed). Nothing raises out of the actor, nothing is
  dropped.

``n`` samples: with ``teacher.use_n`` one request asks for all ``n``; a server
that returns fewer choices (or ``use_n: false``, for APIs without ``n``) gets one
request per missing sample, each with its own seed. The reasoning comes from
``reasoning_content`` or ``reasoning`` when the server splits it off, else from
inline ``<think>`` (:func:`raydistill.parsing.normalize`).

The API key is read from the environment variable named by ``teacher.api_key_env``
(in the driver, handed to the actors as a :class:`~raydistill.teachers.rate_limits.Secret`)
and is only ever put in the ``Authorization`` header: error texts are redacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import httpx

from raydistill.errors import ConfigError
from raydistill.observe.metrics import TeacherMetrics
from raydistill.parsing import THINK_OPEN, failed_sample, full_text, logprob_stats, make_sample
from raydistill.teachers.base import StreamingTeacher, no_completion, request_seed, seed_key
from raydistill.teachers.budgets import (
    RepetitionWatch,
    after_budget,
    context_refusal,
    forced_suffix,
    unspent,
)
from raydistill.teachers.http_stream import StreamAnswer, sse_event
from raydistill.teachers.rate_limits import RateLimiter, RetryPolicy, Secret, parse_retry_after

if TYPE_CHECKING:
    from raydistill.teachers.config import HTTPTeacherConfig, SamplingConfig

logger = logging.getLogger(__name__)

# Characters per token for the tokens-per-minute reservation before the server
# reports real usage (~4 for English BPE; the estimate is corrected afterwards).
CHARS_PER_TOKEN = 4
# Keep this much of an error body in a reason: enough for the server's message.
ERROR_BODY_CHARS = 300
# Transport errors raised before a request reached the server (nothing listening).
NOT_REACHED = (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.ProxyError)


class RequestFailed(Exception):
    """A request that failed for good (retries exhausted or not retryable)."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def read_api_key(teacher: HTTPTeacherConfig) -> Secret | None:
    """The API key named by ``teacher.api_key_env``, or None when no key is configured.

    Raises :class:`~raydistill.errors.ConfigError` naming the variable (never a
    value) when it is unset.
    """
    name = teacher.api_key_env
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"config key 'teacher.api_key_env': environment variable {name} "
                          "is not set")
    return Secret(value)


def choice_logprobs(choice: dict[str, Any]) -> dict[str, Any] | None:
    """Log-probability statistics of one choice, when the server returned them.

    OpenAI-compatible servers (``vllm serve``, OpenAI) return
    ``choice.logprobs.content[i].logprob`` when the request asks ``logprobs: true``
    (``teacher.request_fields``); DeepSeek's reasoner has none (and refuses the field).

    >>> choice_logprobs({"logprobs": {"content": [{"logprob": -1.0}, {"logprob": -3.0}]}})
    ... # doctest: +ELLIPSIS
    {'logprob_sum': -4.0, 'logprob_mean': -2.0, 'perplexity': 7.38..., 'logprobs_mode': 'api'}
    >>> choice_logprobs({"message": {"content": "4"}}) is None
    True
    """
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    values = [t.get("logprob") for t in content if isinstance(t, dict)]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if not numbers or len(numbers) != len(values):
        return None
    return logprob_stats(sum(numbers), len(numbers), "api")


class HTTPTeacher(StreamingTeacher):
    """An OpenAI-compatible chat-completions client inside a Ray Data actor."""

    def __init__(self, teacher: HTTPTeacherConfig, sampling: SamplingConfig,
                 api_key: Secret | None = None, sample_offset: int = 0) -> None:
        """``sample_offset``: the first sample's index (adaptive sampling's later waves)."""
        if api_key is None:
            api_key = read_api_key(teacher)
        self.key = api_key
        self.url = teacher.base_url.rstrip("/") + "/chat/completions"
        self.model = teacher.model
        self.request_fields = dict(teacher.request_fields)
        self.use_n = teacher.use_n
        self.sampling, self.sample_offset = sampling, sample_offset
        headers = {"Authorization": f"Bearer {api_key.reveal()}"} if api_key else {}
        concurrency = teacher.max_concurrency
        self.timeout_s = teacher.timeout_s
        self.client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(teacher.timeout_s),
            limits=httpx.Limits(max_connections=concurrency),
        )
        self.slots = asyncio.Semaphore(concurrency)
        replicas = teacher.max_replicas or teacher.replicas
        rpm, tpm = teacher.requests_per_minute, teacher.tokens_per_minute
        self.limiter = RateLimiter(rpm / replicas if rpm else None,
                                   tpm / replicas if tpm else None)
        self.policy = RetryPolicy(teacher.max_retries, teacher.backoff_base_s,
                                  teacher.backoff_max_s, teacher.retry_deadline_s)
        self.retries = 0
        # Requests the server took (answered with any status, or dropped after
        # reading): a connection refused after some means the server went away.
        self.reached = 0
        self.metrics = TeacherMetrics(self.model, (teacher.price_input_per_million,
                                      teacher.price_output_per_million))
        logger.info("HTTP teacher ready: %s, model %s, %d requests at once",
                    self.url, self.model, concurrency)

    def _redact(self, text: str) -> str:
        return self.key.redact(text) if self.key else text

    def _body(self, messages: list[dict[str, str]], n: int, seed: int | None,
              max_tokens: int) -> dict[str, Any]:
        s = self.sampling
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "temperature": s.temperature, "top_p": s.top_p,
                                "max_tokens": max_tokens}
        if n > 1 or self.use_n:
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        if s.min_tokens:  # vLLM servers take it; other APIs may refuse it
            body["min_tokens"] = min(s.min_tokens, max_tokens)
        if s.stop_on_repetition.enabled:  # read as it comes, to abort a loop
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(self.request_fields)
        return body

    async def _read_stream(self, body: dict[str, Any]) -> httpx.Response | dict[str, Any]:
        """A streamed request: the assembled payload, or the error response to handle."""
        rep = self.sampling.stop_on_repetition
        answer = StreamAnswer(body.get("n", 1),
                              lambda: RepetitionWatch(rep.ngram, rep.repeats, rep.window))
        async with self.client.stream("POST", self.url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return response
            async for line in response.aiter_lines():
                event = sse_event(line)
                if event is not None and answer.feed(event):
                    break  # every choice finished or looped: closing aborts the rest
        return answer.payload()

    async def _post_once(self, body: dict[str, Any], estimate: int) -> dict[str, Any]:
        waiting = time.monotonic()
        async with self.slots:
            # Reserve the rate budget only once a slot is free: requests queued for
            # a slot must not hold tokens they cannot spend yet.
            await self.limiter.acquire(estimate)
            self.metrics.waited(time.monotonic() - waiting)
            try:
                # httpx's timeout bounds each read; wait_for bounds the whole request,
                # so a server that drips bytes cannot hold a slot for ever.
                sent = (self._read_stream(body) if body.get("stream")
                        else self.client.post(self.url, json=body))
                response = await asyncio.wait_for(sent, self.timeout_s)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise _Retryable(f"timeout ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise _Retryable(self._gone(exc)) from None
            except json.JSONDecodeError:
                raise _Retryable("unparseable stream event") from None
        self.reached += 1
        if isinstance(response, dict):  # a stream, assembled
            self.limiter.settle(estimate, response["usage"].get("completion_tokens"))
            return response
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise _Retryable(f"HTTP {status}", retry_after)
        if status >= 400:
            raise RequestFailed(f"HTTP {status}: {response.text[:ERROR_BODY_CHARS]}")
        if not response.content.strip():
            raise _Retryable(f"empty body (HTTP {status})")
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Retryable(f"unparseable body (HTTP {status})") from None
        if not isinstance(payload, dict) or not payload.get("choices"):
            raise _Retryable(f"no choices in body (HTTP {status})")
        usage = payload.get("usage") or {}
        self.limiter.settle(estimate, usage.get("total_tokens"))
        return payload

    def _gone(self, exc: httpx.TransportError) -> str:
        """The reason of a connection error, saying when the server went away.

        A connection dropped after the request was sent (vLLM's server exiting
        because its engine died mid-request) was reached; a refused connection
        after earlier requests were reached means the server is no longer there.
        """
        error = f"connection error ({type(exc).__name__}: {exc})"
        if not isinstance(exc, NOT_REACHED):
            self.reached += 1
            return (f"the server closed the connection without answering (its engine "
                    f"may have died, or it stopped): {error}")
        if not self.reached:
            return error
        return (f"the server went away (its engine died or it stopped) after "
                f"{self.reached} request(s) reached it: {error}")

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; :class:`RequestFailed` with the reason when it gives up."""
        chars = sum(len(m["content"]) for m in body["messages"])
        estimate = chars // CHARS_PER_TOKEN + body["max_tokens"] * body.get("n", 1)
        started = time.monotonic()
        for attempt in range(self.policy.max_retries + 1):
            try:
                return await self._post_once(body, estimate)
            except _Retryable as exc:
                reason, retry_after = str(exc), exc.retry_after
            except RequestFailed as exc:
                raise RequestFailed(self._redact(str(exc))) from None
            if attempt == self.policy.max_retries:
                break
            wait = self.policy.delay(attempt, retry_after)
            if time.monotonic() - started + wait > self.policy.deadline_s:
                reason += f"; retry deadline {self.policy.deadline_s:g}s reached"
                break
            self.retries += 1
            logger.warning("request failed (%s); retry %d in %.2fs",
                           self._redact(reason), attempt + 1, wait)
            await asyncio.sleep(wait)
        raise RequestFailed(self._redact(f"{reason} after {attempt + 1} attempts"))

    async def _post_fitting(self, body: dict[str, Any]) -> dict[str, Any]:
        """:meth:`_post`; under ``on_overflow: shrink`` a context refusal is asked again, fitted.

        The server's refusal names its context and the prompt's tokens; the new
        ``max_tokens`` is what they leave, refused below ``sampling.overflow_floor``.
        """
        s = self.sampling
        try:
            return await self._post(body)
        except RequestFailed as exc:
            found = context_refusal(str(exc)) if s.on_overflow == "shrink" else None
            if found is None:
                raise
            room = found[0] - found[1]
            if room < s.overflow_floor or room >= body["max_tokens"]:
                raise RequestFailed(f"{exc} (room {room}, sampling.overflow_floor "
                                    f"{s.overflow_floor})") from None
            return {**await self._post({**body, "max_tokens": room}), "max_tokens_used": room}

    async def _ask(self, messages: list[dict[str, str]], n: int, seed_key: str,
                   max_tokens: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """``n`` samples from one request: (samples, prompt tokens billed).

        Each sample says the request's ``max_tokens_used`` (taken off in :meth:`_complete`).

        With ``sampling.think_budget`` the request stops at the budget and each
        sample cut there is finished by a second request (:meth:`_finish`).
        """
        s = self.sampling
        full = s.max_tokens if max_tokens is None else max_tokens
        first = min(s.think_budget, full) if s.think_budget else full
        body = self._body(messages, n, request_seed(s.seed, seed_key), first)
        payload = await self._post_fitting(body)
        # Shrunk to fit the context: the whole sample gets what the context leaves.
        used = min(full, payload.get("max_tokens_used", full))
        choices = payload["choices"][:n]
        usage = payload.get("usage") or {}
        # Usage covers the whole request: its completion tokens are shared out
        # over the choices (exactly, so the run's sum is the billed sum).
        total = int(usage.get("completion_tokens") or 0)
        shares = [total // len(choices) + (i < total % len(choices)) for i in range(len(choices))]
        samples = []
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        for i, (choice, tokens) in enumerate(zip(choices, shares, strict=True)):
            message = choice.get("message") or {}
            content = message.get("content")
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            finish, forced = choice.get("finish_reason"), False
            if s.think_budget:
                content, reasoning, finish, forced, more = await self._finish(
                    messages, content, reasoning, finish, tokens, f"{seed_key}/{i}+", used)
                tokens += more[0]
                prompt_tokens += more[1]
            sample = make_sample(content, finish, tokens, reasoning,
                                 logprobs=None if s.think_budget else choice_logprobs(choice),
                                 budget_forced=forced)
            sample["unspent_tokens"] = unspent(sample, used)
            samples.append({**sample, "max_tokens_used": used})
        return samples, prompt_tokens

    async def _finish(self, messages: list[dict[str, str]], content: str | None,
                      reasoning: str | None, finish: str | None, tokens: int, key: str,
                      max_tokens: int) -> tuple[str | None, str | None, str | None, bool,
                                                tuple[int, int]]:
        """A sample of the think-budget request, finished by a second request.

        The second request continues the assistant's text (``continue_final_message``,
        vLLM's server; ``teacher.request_fields`` can add what another API needs):
        after ``</think>`` and the answer cue within ``answer_budget`` when the cut
        fell inside the reasoning, else up to ``max_tokens`` in all. Returns the
        new content, reasoning, finish reason, whether forced, and (completion,
        prompt) tokens of the second request.
        """
        s = self.sampling
        step = after_budget(content or "", finish, reasoning)
        budget = s.answer_budget if step == "force" else max_tokens - tokens
        if step == "done" or budget < 1:
            return content, reasoning, finish, False, (0, 0)
        forced = step == "force"
        if forced and reasoning:  # the server split the reasoning off: reopen it inline
            prefix = f"{THINK_OPEN}\n{reasoning}{forced_suffix(s.answer_cue)}"
        else:
            prefix = full_text(content, reasoning) + (forced_suffix(s.answer_cue) if forced
                                                      else "")
        continued = [*messages, {"role": "assistant", "content": prefix}]
        body = self._body(continued, 1, request_seed(s.seed, key), budget)
        body.update({"continue_final_message": True, "add_generation_prompt": False})
        body.pop("n", None)
        payload = await self._post(body)
        choice = payload["choices"][0]
        message = choice.get("message") or {}
        rest = (message.get("reasoning_content") or message.get("reasoning") or "") + (
            message.get("content") or "")
        usage = payload.get("usage") or {}
        return (prefix + rest, None, choice.get("finish_reason"), forced,
                (int(usage.get("completion_tokens") or 0), int(usage.get("prompt_tokens") or 0)))

    async def _complete(self, messages: list[dict[str, str]], key: str) -> dict[str, Any]:
        """``n`` samples of ``messages`` (see :meth:`StreamingTeacher.complete`).

        One request asking for ``n`` (``use_n``); the samples it did not return
        are asked one request each, with their own seeds.
        """
        out, n, pid = no_completion(), self.sampling.n, key
        # Adaptive sampling's later waves start at sample `offset` (seeds and indices).
        offset = self.sample_offset
        out["generated_at"] = time.time()
        started = time.monotonic()
        samples: list[dict[str, Any]] = []
        errors: list[str] = []
        if self.use_n:
            try:
                samples, out["prompt_tokens"] = await self._ask(messages, n,
                                                                seed_key(pid, offset))
            except RequestFailed as exc:
                errors.append(str(exc))
        missing = 0 if errors else n - len(samples)
        if missing:  # fan out: one request per sample, each with its own seed
            first = len(samples)
            results = await asyncio.gather(
                *(self._ask(messages, 1, f"{pid}/{offset + i}")
                  for i in range(first, first + missing)),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, RequestFailed):
                    errors.append(str(result))
                    samples.append(failed_sample(str(result)))
                elif isinstance(result, BaseException):
                    raise result
                else:
                    samples += result[0]
                    out["prompt_tokens"] += result[1]
        out["generation_seconds"] = time.monotonic() - started
        used = [s.pop("max_tokens_used", None) for s in samples]
        out["max_tokens_used"] = min((u for u in used if u is not None), default=None)
        if errors and not any(s["response"] is not None for s in samples):
            out["teacher_error"] = errors[0]
            samples = []
        elif errors:
            logger.warning("%s: %d of %d samples failed: %s", pid, len(errors), n, errors[0])
        out["samples"] = samples
        return out

