"""Benchmarks are data: a source, a prompt template and the verifier of its domain.

:data:`BUILTIN` names the benchmarks users compare on. The first three ship with the
project and run on this machine: ``synthetic_heldout`` (generated arithmetic with the
seed the tiny models never trained on), ``gsm8k_test`` (all 1,319 GSM8K test problems,
``data/gsm8k/test.jsonl``, MIT) and ``humaneval`` (``data/humaneval/test.jsonl``, MIT).
The others are hub ids, for users whose machines reach the Hugging Face hub.

:func:`check_benchmarks` reads the first problems of every benchmark before any work
starts: one that cannot be read, has no verifier for its domain, or whose problems
carry no gold answer (no tests for code) fails naming it.

>>> spec = resolve(BenchmarkSpec(name="gsm8k_test", limit=5), None)
>>> spec.dataset.path, spec.dataset.preset, spec.dataset.domain, spec.dataset.limit
('data/gsm8k/test.jsonl', 'gsm8k', 'math', 5)
>>> resolve(BenchmarkSpec(name="mine"), None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
raydistill.errors.ConfigError: benchmark 'mine' is not built in: give its format and path ...
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from raydistill import verifiers
from raydistill.errors import ConfigError
from raydistill.eval.config import BenchmarkSpec
from raydistill.prompts import PromptConfig
from raydistill.sources import presets, read_dataset
from raydistill.sources.config import DatasetConfig

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")

BUILTIN: dict[str, BenchmarkSpec] = {
    spec.name: spec for spec in [
        # 200 generated problems with seed 0: the tiny teacher's held-out seed
        # (tools/assets/train_tiny_teacher.py), and the loop's heldout split.
        BenchmarkSpec(name="synthetic_heldout", format="synthetic_arithmetic", domain="math",
                      limit=200, seed=0),
        BenchmarkSpec(name="gsm8k_test", format="jsonl", path="data/gsm8k/test.jsonl",
                      preset="gsm8k"),
        BenchmarkSpec(name="humaneval", format="jsonl", path="data/humaneval/test.jsonl",
                      preset="humaneval"),
        BenchmarkSpec(name="math500", format="hf", path="HuggingFaceH4/MATH-500", split="test",
                      preset="math", answer_field="answer"),
        BenchmarkSpec(name="aime2024", format="hf", path="HuggingFaceH4/aime_2024",
                      split="train", question_field="problem", answer_field="answer",
                      domain="math"),
        BenchmarkSpec(name="aime2025", format="hf", path="yentinglin/aime_2025", split="train",
                      question_field="problem", answer_field="answer", domain="math"),
        BenchmarkSpec(name="gpqa_diamond", format="hf", path="Idavidrein/gpqa",
                      subset="gpqa_diamond", split="train", preset="gpqa"),
        BenchmarkSpec(name="mmlu", format="hf", path="cais/mmlu", subset="all", split="test",
                      preset="mcq"),
        BenchmarkSpec(name="livecodebench", format="hf",
                      path="livecodebench/code_generation_lite", split="test",
                      preset="livecodebench"),
        *(BenchmarkSpec(name=f"mgsm_{lang}", format="hf", path="juletxara/mgsm", subset=lang,
                        split="test", question_field="question", answer_field="answer_number",
                        domain="math") for lang in MGSM_LANGUAGES),
    ]
}


@dataclass(frozen=True)
class Benchmark:
    """A benchmark ready to read: its data set (named after it) and its prompt."""

    name: str
    dataset: DatasetConfig
    prompt: PromptConfig


def resolve(spec: BenchmarkSpec, limit: int | None, prompt: PromptConfig | None = None
            ) -> Benchmark:
    """``spec`` with the built-in benchmark's values where it leaves a field empty."""
    base = BUILTIN.get(spec.name)
    if base is None and not (spec.format and (spec.path or spec.format == "synthetic_arithmetic")):
        raise ConfigError(f"benchmark {spec.name!r} is not built in: give its format and path "
                          f"(built in: {', '.join(sorted(BUILTIN))})")
    merged = {f.name: getattr(spec, f.name) or (getattr(base, f.name) if base else
                                                 getattr(spec, f.name))
              for f in dataclasses.fields(BenchmarkSpec)}
    caps = [c for c in (merged["limit"], limit) if c is not None]
    dataset = DatasetConfig(
        name=spec.name, format=merged["format"], path=merged["path"],
        split=merged["split"] or "test", subset=merged["subset"], preset=merged["preset"],
        question_field=merged["question_field"], answer_field=merged["answer_field"],
        domain=merged["domain"] or presets.domain_of(merged["preset"]),
        limit=min(caps) if caps else None, seed=merged["seed"] or 0)
    base_prompt = prompt or PromptConfig()
    template = merged["template"] or base_prompt.template
    custom = template == "custom"
    return Benchmark(spec.name, dataset, PromptConfig(
        template=template, system=base_prompt.system,
        user_template=(merged["user_template"] or base_prompt.user_template) if custom
        else None))


# Problems read from each benchmark before any work: enough to see a field mapping
# or a gold that is missing, few enough that a 15k-problem benchmark costs no time.
PREFLIGHT_ROWS = 5


def check_benchmarks(benchmarks: list[Benchmark], endpoint: str | None) -> None:
    """Fail naming the benchmark that cannot be read, verified, or has no gold."""
    domains = verifiers.known_domains()
    for b in benchmarks:
        where = f"benchmark {b.name!r}"
        if b.dataset.domain not in domains:
            raise ConfigError(f"{where}: no verifier for domain {b.dataset.domain!r} "
                              f"(verifiers: {', '.join(domains)})")
        if b.dataset.preset and b.dataset.preset not in presets.PRESETS:
            raise ConfigError(f"{where}: unknown preset {b.dataset.preset!r}")
        try:
            rows = list(itertools.islice(read_dataset(b.dataset, PREFLIGHT_ROWS, endpoint),
                                         PREFLIGHT_ROWS))
        except Exception as exc:  # noqa: BLE001 - any reader failure is this benchmark's
            raise ConfigError(f"{where} cannot be read ({b.dataset.format} "
                              f"{b.dataset.path}): {type(exc).__name__}: {exc}") from None
        if not rows:
            raise ConfigError(f"{where} has no problems ({b.dataset.path})")
        usable = [r for r in rows if r["input_error"] is None]
        answer_field = b.dataset.answer_field or presets.get(b.dataset.preset).answer
        if not usable and all(repr(answer_field) in r["input_error"] for r in rows):
            raise ConfigError(f"{where} has no gold answers: {rows[0]['input_error']}")
        if not usable:
            raise ConfigError(f"{where}: its first problems cannot be used: "
                              f"{rows[0]['input_error']}")
        gold = "test_cases" if b.dataset.domain == "code" else "ground_truth_solution"
        if not any((r.get(gold) or "").strip() for r in usable):
            raise ConfigError(f"{where} has no gold answers (field {gold!r} is empty in its "
                              f"first {len(usable)} problems)")
