"""The ``eval`` config section: which benchmarks, and the protocol that makes a number.

Kept beside the evaluation code; :class:`raydistill.config.Config` holds it as ``eval``.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from raydistill.keys import key


@dataclass
class BenchmarkSpec:
    """One benchmark: a built-in name, or a data set read like ``source.datasets``'s.

    Fields left empty take the built-in benchmark's value of the same ``name``
    (:data:`raydistill.eval.benchmarks.BUILTIN`); a name that is not built in must
    give at least ``format`` and ``path``.
    """

    name: str = key(MISSING, "A built-in benchmark (synthetic_heldout, gsm8k_test, humaneval, "
                    "math500, aime2024, aime2025, gpqa_diamond, mgsm_<lang>, mmlu, "
                    "livecodebench) or a name of your own; also the rows' source column.")
    format: str = key("", "jsonl, parquet, hf or synthetic_arithmetic (\"\" = the built-in "
                      "benchmark's).")
    path: str = key("", "A local or s3:// file or folder, or a hub id for format hf.")
    split: str = key("", "The hub data set's split (\"\" = the built-in's, else test).")
    subset: str = key("", "The hub data set's configuration name (MGSM's language, "
                      "gpqa_diamond).")
    preset: str = key("", "A field mapping of raydistill.sources.presets (gsm8k, math, "
                      "humaneval, gpqa, mcq, livecodebench, ...).")
    question_field: str = key("", "The question's field when there is no preset.")
    answer_field: str = key("", "The gold answer's field when there is no preset.")
    domain: str = key("", "Verifier domain: math, code or mcq (\"\" = the preset's).")
    limit: int | None = key(None, "Problems read at most (null = all; eval.limit caps every "
                            "benchmark too).")
    seed: int | None = key(None, "Seed of generated problems (synthetic_arithmetic); null = "
                           "the built-in's, else 0.")
    template: str = key("", "Prompt template (r1, bespoke, custom; \"\" = prompt.template). "
                        "Benchmarks with another template are generated in runs of their own.")
    user_template: str = key("", "With template custom: the Jinja user template (e.g. a "
                             "direct-answer prompt).")


@dataclass
class EvalConfig:
    """Benchmarks to evaluate the teacher model on, and the sampling protocol."""

    benchmarks: list[BenchmarkSpec] = key(factory=list, doc="The benchmarks, each a built-in "
                                          "name or a data set (raydistill eval).")
    n: int = key(1, "Samples per problem and seed: avg@n averages them, maj@n votes over them.")
    temperature: float = key(0.6, "Sampling temperature (DeepSeek-R1's recommended 0.6).")
    top_p: float = key(0.95, "Nucleus sampling cut-off (DeepSeek-R1's recommended 0.95).")
    max_tokens: int = key(32768, "Tokens per answer at most (Evalchemy: 32k).")
    seeds: list[int] = key(factory=lambda: [0], doc="One run per seed, n samples per problem "
                           "each: n x len(seeds) samples in all (Evalchemy repeats AIME).")
    k: list[int] = key(factory=lambda: [1], doc="pass@k for each k (each at most n x "
                       "len(seeds)).")
    greedy: bool = key(False, "Also one greedy answer per problem (greedy_pass@1).")
    limit: int | None = key(None, "Problems per benchmark at most (null = every problem).")
    train_runs: list[str] = key(factory=list, doc="Finished training runs (output URIs) whose "
                                "problems are checked for overlap with the benchmarks.")
    contamination_ngram: int = key(13, "Word n-gram length of that check (13, as "
                                   "filters.decontam and the GPT-3 paper).")


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
