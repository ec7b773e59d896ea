"""The ``eval`` config section: which benchmarks, and the protocol that makes a number.

Kept beside the evaluation code; :class:`raydistill.config.Config` holds it as ``eval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class BenchmarkSpec:
    """One benchmark: a built-in name, or a data set read like ``source.datasets``'s.

    Fields left empty take the built-in benchmark's value of the same ``name``
    (:data:`raydistill.eval.benchmarks.BUILTIN`); a name that is not built in must
    give at least ``format`` and ``path``.
    """

    name: str = MISSING
    # jsonl, parquet or hf ("" = the built-in benchmark's).
    format: str = ""
    # A local or s3:// file or folder, or a hub id for format hf.
    path: str = ""
    split: str = ""
    # The hub data set's configuration name (MGSM's language, GPQA's gpqa_diamond).
    subset: str = ""
    # A field mapping of raydistill.sources.presets (gsm8k, math, humaneval, gpqa, mcq, ...).
    preset: str = ""
    question_field: str = ""
    answer_field: str = ""
    # Verifier domain: math, code or mcq ("" = the preset's).
    domain: str = ""
    # Problems read at most (null = all; eval.limit caps every benchmark too).
    limit: int | None = None
    # Seed of generated problems (format synthetic_arithmetic); null = the built-in's, else 0.
    seed: int | None = None
    # Prompt template (r1, bespoke, custom; "" = the conf's prompt.template). Benchmarks
    # with different templates are generated in separate runs.
    template: str = ""
    # With template custom: the Jinja user template (e.g. a direct-answer prompt).
    user_template: str = ""


@dataclass
class EvalConfig:
    """Benchmarks to evaluate the teacher model on, and the sampling protocol."""

    benchmarks: list[BenchmarkSpec] = field(default_factory=list)
    # Samples per problem and seed: avg@n averages them, maj@n votes over them.
    n: int = 1
    # R1's recommended evaluation decoding (DeepSeek-R1 model card: 0.6 / 0.95).
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    # One run per seed (the runs' per-problem sampling seeds start there): n x len(seeds)
    # samples per problem in all; Evalchemy repeats AIME over several seeds.
    seeds: list[int] = field(default_factory=lambda: [0])
    # pass@k for each k (each at most n x len(seeds)).
    k: list[int] = field(default_factory=lambda: [1])
    # Also one greedy answer per problem (temperature 0): greedy_pass@1.
    greedy: bool = False
    # Problems per benchmark at most (null = every problem).
    limit: int | None = None
    # Finished training runs (output URIs) whose problems are checked for overlap with
    # the benchmarks (word n-grams, as filters.decontam); [] = no check.
    train_runs: list[str] = field(default_factory=list)
    # Word n-gram length of that check (13, as filters.decontam and OpenAI's GPT-3 paper).
    contamination_ngram: int = 13


def eval_checks(e: EvalConfig) -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` for the values of ``eval`` that its types cannot catch."""
    total = e.n * max(len(e.seeds), 1)
    return [
        (bool(e.benchmarks), "eval.benchmarks", "needs at least one benchmark"),
        (e.n >= 1, "eval.n", "must be >= 1"),
        (e.temperature >= 0, "eval.temperature", "must be >= 0"),
        (0 < e.top_p <= 1, "eval.top_p", "must be in (0, 1]"),
        (e.max_tokens >= 1, "eval.max_tokens", "must be >= 1"),
        (bool(e.seeds) and len(set(e.seeds)) == len(e.seeds), "eval.seeds",
         "must list at least one seed, each once"),
        (bool(e.k) and all(1 <= k <= total for k in e.k), "eval.k",
         f"each k must be in [1, n x len(seeds)] = [1, {total}]"),
        (e.limit is None or e.limit >= 1, "eval.limit", "must be >= 1 or null"),
        (len({b.name for b in e.benchmarks}) == len(e.benchmarks), "eval.benchmarks",
         "names must be unique"),
        (e.contamination_ngram >= 1, "eval.contamination_ngram", "must be >= 1"),
    ]
