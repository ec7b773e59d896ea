"""Pipeline overhead: teacher-stage tokens/s inside raydistill vs plain ``vllm.LLM.generate``.

    VLLM_CPU_KVCACHE_SPACE=1 python tools/bench/bench_overhead.py [--problems 2000] [key=value ...]
    VLLM_CPU_KVCACHE_SPACE=1 python tools/bench/bench_overhead.py --problems 500 \
        --max-tokens 384 --min-tokens 384      # every sample 384 tokens long

The tiny teacher answers in ~30 tokens, so by default the pipeline's fixed cost
per problem (tokenising, Ray Data's hand-offs, verifying, writing) is set against
~10 ms of engine time per problem; ``--min-tokens`` makes every sample as long as
``--max-tokens``, closer to the per-problem engine time of real reasoning traces.

One process, one machine, same model (the shipped tiny teacher), same prompts
(raydistill's own chat messages and template), same sampling parameters and
per-problem seeds, same engine settings (conf/local.yaml). First plain vLLM:
``LLM.generate`` over every prompt at once, timed around the call (engine start
excluded). Then ``raydistill.run`` on a local Ray cluster: tokens/s over the
teacher pool's generation window (first request start to last request end,
engine start excluded), as the run summary reports it.

It also times the math verifier per sample on the run's own answers, and
reports the teacher pool's idle time inside that window (no request in
flight on the engine: starved by the reader or held back by slow verifiers),
computed from the rows' request start times and durations: the back-pressure
the teacher actually felt.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import Counter

import psutil
import pyarrow.dataset as pads

from raydistill.config import load
from raydistill.config.loader import to_dict
from raydistill.prompts import build_messages
from raydistill.sources import read_problems
from raydistill.teachers import request_seed, resolve_model


def idle_seconds(starts: list[float], durations: list[float]) -> tuple[float, float]:
    """(window, idle): the span of all requests and the time inside it with none running."""
    spans = sorted((s, s + d) for s, d in zip(starts, durations, strict=True))
    window = spans[-1][1] - spans[0][0]
    busy, (cur_start, cur_end) = 0.0, spans[0]
    for start, end in spans[1:]:
        if start > cur_end:
            busy += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    busy += cur_end - cur_start
    return window, window - busy


class CpuByProcess(threading.Thread):
    """CPU seconds used by each of this process's descendants (and itself), by process title.

    Sampled every 0.5 s, so a process's CPU is counted up to its last sample:
    where the cores went while raydistill ran (the engine, the teacher actor,
    the verifiers, Ray Data's driver loop, Ray's own daemons).
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                title = " ".join(proc.cmdline())[:70] or proc.name()
                times = proc.cpu_times()
                # The latest title: Ray workers retitle themselves after start.
                self.seen[proc.pid] = (title, times.user + times.system)
            except psutil.Error:
                continue

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()

    def totals(self) -> dict[str, float]:
        """CPU seconds by title, largest first."""
        found: Counter[str] = Counter()
        for title, seconds in self.seen.values():
            found[title] += seconds
        return {title: round(s, 1) for title, s in found.most_common(12)}


def raw_vllm(cfg, problems: list[dict]) -> dict[str, float]:
    from vllm import LLM, SamplingParams, TokensPrompt

    t = cfg.teacher
    llm = LLM(model=resolve_model(t.model), dtype=t.dtype, max_model_len=t.max_model_len,
              max_num_seqs=t.max_num_seqs, seed=t.seed,
              enable_prefix_caching=t.enable_prefix_caching, **dict(t.engine_kwargs))
    tokenizer = llm.get_tokenizer()
    prompts, params = [], []
    for p in problems:
        ids = tokenizer.apply_chat_template(build_messages(p, cfg.prompt),
                                            add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        prompts.append(TokensPrompt(prompt_token_ids=list(ids)))
        s = cfg.sampling
        params.append(SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p,
                                     max_tokens=s.max_tokens, min_tokens=s.min_tokens,
                                     seed=request_seed(s.seed, p["problem_id"])))
    cpu = CpuByProcess()
    cpu.sample()
    started = time.monotonic()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    seconds = time.monotonic() - started
    tokens = sum(len(c.token_ids) for o in outputs for c in o.outputs)
    cpu_before = cpu.totals()
    cpu.sample()
    used = {t: round(s - cpu_before.get(t, 0.0), 1) for t, s in cpu.totals().items()}
    del llm
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "cpu_s_by_process": used}


def in_raydistill(args: list[str]) -> dict[str, float]:
    import ray

    from raydistill.output.location import OutputLocation
    from raydistill.pipeline import run

    cfg = load(args)
    cpu = CpuByProcess()
    before = psutil.Process().cpu_times()
    ray.init(address="local", num_cpus=cfg.ray.num_cpus, include_dashboard=False)
    cpu.start()
    try:
        summary = run(cfg, OutputLocation(cfg.output))
    finally:
        cpu.sample()
        cpu.stop.set()
        ray.shutdown()
    driver = psutil.Process().cpu_times()
    rows = pads.dataset(f"{cfg.output.uri}/_work/generations", format="parquet").to_table(
        columns=["generated_at", "generation_seconds"])
    window, idle = idle_seconds(rows["generated_at"].to_pylist(),
                                rows["generation_seconds"].to_pylist())
    return {"tokens": summary["completion_tokens"], "seconds": summary["generation_window_s"],
            "tokens_per_s": summary["completion_tokens_per_s"], "idle_s": idle,
            "window_s": window, "wall_s": summary["timings"]["total_s"],
            "driver_cpu_s": driver.user + driver.system - before.user - before.system,
            "cpu_s_by_process": cpu.totals()}


def verifier_ms(uri: str, params: dict, limit: int = 500) -> float:
    """Milliseconds per sample of the math verifier (the pure function the actors call)."""
    from raydistill.verifiers.actor import check_sample

    rows = pads.dataset(f"{uri}/all", format="parquet").to_table().to_pylist()
    rows = [r for r in rows if r["response"] is not None and r["think_closed"]][:limit]
    check_sample(rows[0], rows[0], params)  # start the checker's child process
    started = time.monotonic()
    for row in rows:
        check_sample(row, row, params)
    return (time.monotonic() - started) * 1000 / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--min-tokens", type=int, default=0,
                        help="no end of sequence before this many tokens (R1-like lengths)")
    parser.add_argument("overrides", nargs="*", help="more key=value config overrides")
    opts = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    out = tempfile.mkdtemp(prefix="raydistill-bench-overhead-")
    args = ["conf=local", f"source.limit={opts.problems}", f"sampling.n={opts.n}",
            f"sampling.max_tokens={opts.max_tokens}", f"sampling.min_tokens={opts.min_tokens}",
            f"output.uri={out}", *opts.overrides]
    cfg = load(args)
    problems = list(read_problems(cfg.source, None))
    raw = raw_vllm(cfg, problems)
    ours = in_raydistill(args)
    result = {"problems": opts.problems, "n": opts.n, "max_tokens": opts.max_tokens,
              "min_tokens": opts.min_tokens,
              "raw_vllm": raw, "raydistill": ours,
              "ratio": ours["tokens_per_s"] / raw["tokens_per_s"],
              "teacher_idle_fraction": ours["idle_s"] / ours["window_s"],
              "math_verifier_ms_per_sample": verifier_ms(out, to_dict(cfg)["verify"]),
              "config": to_dict(cfg)["teacher"]}
    print(json.dumps(result, indent=2))
    print(f"\nraw vLLM      {raw['tokens_per_s']:8.0f} tok/s ({raw['tokens']} tokens)")
    print(f"raydistill    {ours['tokens_per_s']:8.0f} tok/s ({ours['tokens']} tokens)")
    print(f"ratio         {result['ratio']:.2f}")
    print(f"teacher idle  {ours['idle_s']:.1f} s of a {ours['window_s']:.1f} s window "
          f"({result['teacher_idle_fraction']:.1%})")
    print(f"math verifier {result['math_verifier_ms_per_sample']:.1f} ms per sample")


if __name__ == "__main__":
    main()
