"""Tokens not spent: the repetition stop and budget forcing against plain runs, one engine.

    VLLM_CPU_KVCACHE_SPACE=1 python tools/bench/bench_tokens.py [--problems 200] [--n 4]

One :class:`raydistill.teachers.vllm_engine.VLLMTeacher` (the pipeline's teacher
class, run in this process without Ray) serves ``builtin:tiny-teacher-loops``, the
tiny teacher's recipe that loops on every problem about Tom, Ana or Li (~30-35%); the
same synthetic problems (seed 0) and per-problem seeds go through every mode in turn,
each sample verified by the pipeline's own verifier (``check_sample``). All modes
share ``max_tokens``:

- ``plain``: no stop, no budget (a loop runs to max_tokens and is cut: truncated);
- ``stop``: ``sampling.stop_on_repetition`` (vLLM's ``repetition_detection``);
- ``stop (watch)``: the same, as on a vLLM without ``repetition_detection``: the
  teacher watches the streamed tokens itself;
- ``forced``: ``sampling.think_budget`` with ``answer_budget`` (budget forcing);
- ``stop+forced``: both.

(a) is ``stop`` against ``plain``: completion tokens per verified sample, and
verified samples. (b) is ``forced`` against ``plain`` (plain truncation at the same
max_tokens): verified samples and tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from typing import Any

from raydistill import records
from raydistill.prompts import PromptConfig, build_messages
from raydistill.sources.synthetic import problems
from raydistill.teachers.budgets import vllm_repetition
from raydistill.teachers.config import SamplingConfig, StopOnRepetitionConfig, VLLMTeacherConfig
from raydistill.verifiers.actor import check_sample
from raydistill.verifiers.config import VerifyConfig


def problem_rows(count: int) -> list[dict[str, Any]]:
    """The synthetic problems of seed 0 as the teacher's input rows."""
    rows = []
    for i, p in enumerate(problems(count, 0)):
        row = {"problem_id": f"p{i}", "source": "synthetic", "source_index": i,
               "domain": "math", "problem": p.question, "ground_truth_solution": p.solution,
               "test_cases": None, "starter_code": None, "input_error": None}
        row["messages"] = build_messages(row, PromptConfig())
        rows.append(row)
    return rows


def modes(args: argparse.Namespace) -> dict[str, SamplingConfig]:
    """The sampling section of each mode, the same but for the feature measured."""
    base = SamplingConfig(n=args.n, temperature=1.0, top_p=1.0, max_tokens=args.max_tokens,
                          seed=0, answer_cue=args.answer_cue)
    stop = StopOnRepetitionConfig(enabled=True, ngram=args.ngram, repeats=args.repeats,
                                  window=args.ngram * args.repeats)
    budget = {"think_budget": args.think_budget, "answer_budget": args.answer_budget}
    return {"plain": base, "stop": dataclasses.replace(base, stop_on_repetition=stop),
            "forced": dataclasses.replace(base, **budget),
            "stop+forced": dataclasses.replace(base, stop_on_repetition=stop, **budget)}


async def measure(teacher: Any, rows: list[dict[str, Any]],
                  sampling: SamplingConfig, native: bool = True) -> dict[str, Any]:
    """Generate and verify ``rows`` under ``sampling``: the mode's figures.

    ``native=False``: loops caught by the teacher's own watch, not the engine's.
    """
    from vllm import SamplingParams

    teacher.sampling = sampling
    teacher.repetition = (vllm_repetition(sampling.stop_on_repetition, SamplingParams)
                          if native else {})
    batch = records.table(rows, records.GENERATION)

    started = time.monotonic()
    done = [r async for t in teacher(batch) for r in t.to_pylist()]
    seconds = time.monotonic() - started
    params = dataclasses.asdict(VerifyConfig())
    counts = {"samples": 0, "verified": 0, "completion_tokens": 0, "repetition": 0,
              "truncated": 0, "budget_forced": 0, "unspent_tokens": 0}
    for row in done:
        for sample in row["samples"]:
            verdict = check_sample(row, sample, params)
            counts["samples"] += 1
            counts["verified"] += verdict.status == "pass"
            counts["completion_tokens"] += sample["completion_tokens"]
            counts["repetition"] += verdict.reason == "repetition"
            counts["truncated"] += verdict.reason == "truncated"
            counts["budget_forced"] += bool(sample["budget_forced"])
            counts["unspent_tokens"] += sample["unspent_tokens"]
    counts["tokens_per_verified"] = (counts["completion_tokens"] / counts["verified"]
                                     if counts["verified"] else float("nan"))
    counts["seconds"] = round(seconds, 1)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-teacher-loops")
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--ngram", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--think-budget", type=int, default=96)
    parser.add_argument("--answer-budget", type=int, default=16)
    # The tiny teacher's own answer form ("The answer is \boxed{N}.").
    parser.add_argument("--answer-cue", default="The answer is \\boxed{")
    args = parser.parse_args()

    from raydistill.teachers.vllm_engine import VLLMTeacher

    # conf/local.yaml's engine settings (chunked prefill off: seeded requests need it).
    teacher_cfg = VLLMTeacherConfig(model=args.model, dtype="float32", max_model_len=512,
                                    max_num_seqs=64, engine_kwargs={
                                        "enforce_eager": True, "enable_chunked_prefill": False})
    all_modes = modes(args)
    rows = problem_rows(args.problems)

    async def every_mode() -> dict[str, dict[str, Any]]:
        # The engine is made inside the loop that uses it (as in a Ray actor): an
        # AsyncLLM made outside it and driven by asyncio.run died at its first request.
        teacher = VLLMTeacher(teacher_cfg, all_modes["plain"])
        try:
            results = {name: await measure(teacher, rows, s) for name, s in all_modes.items()}
            results["stop (watch)"] = await measure(teacher, rows, all_modes["stop"],
                                                    native=False)
            return results
        finally:
            teacher.close()

    results = asyncio.run(every_mode())
    plain, stop, forced = results["plain"], results["stop"], results["forced"]
    summary = {
        "args": vars(args),
        "modes": results,
        "a_tokens_per_verified_ratio": stop["tokens_per_verified"] / plain["tokens_per_verified"],
        "a_verified_ratio": stop["verified"] / plain["verified"] if plain["verified"] else None,
        "a_watch_tokens_per_verified_ratio": results["stop (watch)"]["tokens_per_verified"]
        / plain["tokens_per_verified"],
        "b_verified_ratio": forced["verified"] / plain["verified"] if plain["verified"] else None,
        "b_tokens_ratio": forced["completion_tokens"] / plain["completion_tokens"],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
