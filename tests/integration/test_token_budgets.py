"""The vLLM teacher's repetition stop, budget forcing and overflow shrink on a real engine.

One engine of ``builtin:tiny-teacher-loops``, run in this process through the pipeline's
teacher class without Ray: the subject is what the engine returns, not scheduling. The
model loops on problems about Tom, Ana and Li and answers the others
(``tools/assets/train_tiny_teacher.py --loops``).
"""

import asyncio
import dataclasses

import pytest

from raydistill import records
from raydistill.prompts import PromptConfig, build_messages
from raydistill.sources.synthetic import problems
from raydistill.teachers.budgets import vllm_repetition
from raydistill.teachers.config import SamplingConfig, StopOnRepetitionConfig, VLLMTeacherConfig
from raydistill.verifiers.actor import check_sample
from raydistill.verifiers.config import VerifyConfig

# The names of the problems the looping teacher loops on.
LOOP_NAMES = ("Tom", "Ana", "Li")


def rows(each):
    """``each`` problems the teacher loops on, then ``each`` it answers."""
    chosen = [[], []]
    for p in problems(100, 0):
        group = chosen[p.question.split(" ", 1)[0] not in LOOP_NAMES]
        if len(group) < each:
            group.append(p)
    out = []
    for i, p in enumerate(chosen[0] + chosen[1]):
        question, solution = p.question, p.solution
        row = {"problem_id": f"p{i}", "source": "synthetic", "source_index": i,
               "domain": "math", "problem": question, "ground_truth_solution": solution,
               "input_error": None}
        out.append({**row, "messages": build_messages(row, PromptConfig())})
    return out


async def generate(teacher, sampling, batch_rows, native=True):
    """``native=False``: as on an engine without repetition_detection (the teacher's watch)."""
    from vllm import SamplingParams

    teacher.sampling = sampling
    teacher.repetition = (vllm_repetition(sampling.stop_on_repetition, SamplingParams)
                          if native else {})
    batch = records.table(batch_rows, records.GENERATION)
    return [r async for t in teacher(batch) for r in t.to_pylist()]


@pytest.mark.slow
def test_loops_stop_early_and_budgets_force_an_answer_on_a_real_engine(monkeypatch):
    from raydistill.teachers.vllm_engine import VLLMTeacher

    # The engine runs in this process, not in an actor with the conf's env: 1 GiB KV cache.
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    base = SamplingConfig(n=2, temperature=1.0, top_p=1.0, max_tokens=480, seed=0,
                          on_overflow="shrink", answer_cue="The answer is \\boxed{")
    problem_rows = rows(6)
    looping = {r["problem_id"] for r in problem_rows
               if r["problem"].split(" ", 1)[0] in LOOP_NAMES}
    assert looping and len(looping) < len(problem_rows)
    stop = dataclasses.replace(base, stop_on_repetition=StopOnRepetitionConfig(
        enabled=True, ngram=32, repeats=4, window=128))
    # The tiny teacher thinks ~10-60 tokens on the synthetic problems: most reach 8.
    budget = dataclasses.replace(base, max_tokens=256, think_budget=8, answer_budget=16)

    async def all_three():
        # The engine is made inside the loop that drives it, as in a Ray actor.
        teacher = VLLMTeacher(VLLMTeacherConfig(
            model="builtin:tiny-teacher-loops", dtype="float32", max_model_len=512,
            max_num_seqs=32, engine_kwargs={"enforce_eager": True,
                                            "enable_chunked_prefill": False}), base)
        try:
            return (await generate(teacher, stop, problem_rows),
                    await generate(teacher, budget,
                                   [r for r in problem_rows if r["problem_id"] not in looping]),
                    await generate(teacher, stop, problem_rows, native=False))
        finally:
            teacher.close()

    stopped, forced, watched = asyncio.run(all_three())

    params = dataclasses.asdict(VerifyConfig())
    for row in stopped:
        # shrink: 480 tokens do not fit beside the prompt in a 512-token context
        assert row["max_tokens_used"] == 512 - row["prompt_tokens"] < 480
        for sample in row["samples"]:
            if sample["finish_reason"] == "repetition":
                assert sample["completion_tokens"] < 200
                assert sample["unspent_tokens"] == row["max_tokens_used"] - sample[
                    "completion_tokens"]
                assert check_sample(row, sample, params).reason == "repetition"
    loops = [s for r in stopped if r["problem_id"] in looping for s in r["samples"]]
    # Every loop is caught, no answer is taken for one.
    assert [s["finish_reason"] for s in loops] == ["repetition"] * len(loops)
    others = [s for r in stopped if r["problem_id"] not in looping for s in r["samples"]]
    assert [s["finish_reason"] for s in others] == ["stop"] * len(others)

    # The fallback on the same engine: the same loops caught, the same answers kept.
    for native, fallback in zip(stopped, watched, strict=True):
        assert [s["finish_reason"] for s in fallback["samples"]] == [
            s["finish_reason"] for s in native["samples"]]
        for a, b in zip(native["samples"], fallback["samples"], strict=True):
            if a["finish_reason"] == "stop":
                assert a["response"] == b["response"]
            else:  # stopped where the loop was seen: within one block of the engine's cut
                assert abs(a["completion_tokens"] - b["completion_tokens"]) <= 32
                assert b["unspent_tokens"] == native["max_tokens_used"] - b["completion_tokens"]

    samples = [s for r in forced for s in r["samples"]]
    closed = [s for s in samples if s["budget_forced"]]
    assert len(closed) >= len(samples) // 2
    for sample in closed:
        assert sample["think_closed"] and sample["completion_tokens"] <= 8 + 16
        assert sample["solution"].startswith("The answer is \\boxed{")
