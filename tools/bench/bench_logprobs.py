"""What asking vLLM for the sampled tokens' log-probabilities costs: tokens/s with and without.

    VLLM_CPU_KVCACHE_SPACE=1 python tools/bench/bench_logprobs.py [--problems 200] [--tokens 384]
        [--rounds 3]

raydistill's vLLM teacher asks every request for ``logprobs=0`` (the sampled
token's log-probability only, ``flat_logprobs`` where vLLM has it) so that each
sample's ``logprob_sum``/``perplexity`` is stored for the exports' pair rules
(raydistill/teachers/vllm_engine.py). One ``vllm.LLM`` with conf/local.yaml's
engine settings and the shipped tiny teacher; the same prompts (raydistill's
chat messages), ``n`` and per-problem seeds; every sample ``--tokens`` long
(``min_tokens``) so the per-token cost is not hidden behind per-request costs.
Runs alternate without / with log-probabilities ``--rounds`` times (one warm-up
generate first), so a change in the machine's load hits both alike; prints each
run's tokens/s and the ratio with/without of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

from raydistill.config import load
from raydistill.prompts import build_messages
from raydistill.sources import read_problems
from raydistill.teachers import request_seed, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from vllm import LLM, SamplingParams, TokensPrompt

    cfg = load(["conf=local", f"source.limit={args.problems}"])
    t, s = cfg.teacher, cfg.sampling
    llm = LLM(model=resolve_model(t.model), dtype=t.dtype, max_model_len=t.max_model_len,
              max_num_seqs=t.max_num_seqs, seed=t.seed,
              enable_prefix_caching=t.enable_prefix_caching, **dict(t.engine_kwargs))
    tokenizer = llm.get_tokenizer()
    problems = list(read_problems(cfg.source))
    prompts = []
    for p in problems:
        ids = tokenizer.apply_chat_template(build_messages(p, cfg.prompt),
                                            add_generation_prompt=True, tokenize=True)
        prompts.append(TokensPrompt(prompt_token_ids=list(ids["input_ids"] if hasattr(
            ids, "keys") else ids)))
    extra = {"logprobs": 0}
    if hasattr(SamplingParams(), "flat_logprobs"):
        extra["flat_logprobs"] = True

    def generate(with_logprobs: bool) -> float:
        params = [SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p,
                                 max_tokens=args.tokens, min_tokens=args.tokens,
                                 seed=request_seed(s.seed, p["problem_id"]),
                                 **(extra if with_logprobs else {}))
                  for p in problems]
        started = time.monotonic()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds = time.monotonic() - started
        tokens = sum(len(c.token_ids) for o in outputs for c in o.outputs)
        if with_logprobs:
            assert all(c.cumulative_logprob is not None for o in outputs for c in o.outputs)
        return tokens / seconds

    generate(False)  # warm-up: compile, caches
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for with_logprobs in (False, True):
            runs[with_logprobs].append(generate(with_logprobs))
            print(f"logprobs={'0' if with_logprobs else 'off'}: "
                  f"{runs[with_logprobs][-1]:.0f} tok/s", flush=True)
    off, on = statistics.median(runs[False]), statistics.median(runs[True])
    print(f"\n{args.problems} problems x n={s.n} x {args.tokens} tokens, {args.rounds} rounds")
    print(f"median tok/s without {off:.0f}, with logprobs=0 {on:.0f}: ratio {on / off:.3f}")


if __name__ == "__main__":
    main()
