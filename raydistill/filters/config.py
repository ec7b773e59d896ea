"""The ``filters:`` section: problem filters before the teacher, trace filters after it.

Kept apart from :mod:`raydistill.config` (which holds one field of this type) so
the filters' keys live beside their code. Benchmarks are described like source
data sets (same keys as ``source.datasets`` entries), so a benchmark can be a hub
id, a local file or an ``s3://`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BROKEN_TEST_POLICIES = ("remove", "drop_tests")


@dataclass
class BenchmarkConfig:
    """One benchmark problem set, read like a source data set (``source.datasets``)."""

    name: str = ""
    format: str = "jsonl"
    path: str = ""
    split: str = "test"
    subset: str = ""
    preset: str = ""
    question_field: str = ""
    answer_field: str = ""
    limit: int | None = None


@dataclass
class NearDupConfig:
    """Near duplicates: MinHash/LSH candidates, each pair checked (filters/copies.py)."""

    enabled: bool = False
    # Word shingles: bigrams keep a copy with 3 words changed at Jaccard >= 0.5 on
    # GSM8K-length problems while unrelated ones share almost none (median 0.007).
    shingle_words: int = 2
    # Permutations per signature: at least bands x rows.
    num_perm: int = 64
    # Jaccard of shingle sets where bands = rows = 0 put the S-curve (datasketch's
    # optimum), and the cutoff of filters.decontam.near.
    threshold: float = 0.5
    # 20 bands of 3 rows: a pair at Jaccard 0.5 is a candidate with probability
    # 0.93, at 0.6 0.99, at 0.1 0.02; 0 and 0 = datasketch's optimum for threshold.
    bands: int = 20
    rows: int = 3
    # Check each candidate pair (word edits, numbers); false: every candidate is a copy.
    verify_pairs: bool = True
    # Word insertions, deletions or substitutions a copy may have...
    max_edits: int = 3
    # ...or this share of the longer problem's words, if more.
    max_edit_fraction: float = 0.1
    # Seed of the MinHash permutations (a rerun removes the same rows).
    seed: int = 1


@dataclass
class DecontamConfig:
    """Removal of problems that overlap a benchmark."""

    enabled: bool = False
    # Word n-gram length: 13 as NeMo-Curator and datatrove use, 8 as open-r1.
    ngram: int = 13
    # Also remove a problem whose MinHash similarity to a benchmark problem reaches
    # filters.near.threshold (shingles, permutations, bands and seed of filters.near):
    # catches rewordings that share no n-gram, at the cost of a signature per problem.
    near: bool = False
    benchmarks: list[BenchmarkConfig] = field(default_factory=list)


@dataclass
class CodeTestsConfig:
    """Reference solutions run against each code problem's tests before generation."""

    enabled: bool = False
    # remove: a problem with any broken test is removed (reason broken_tests);
    # drop_tests: its broken tests are dropped, removed only if none is left.
    on_broken: str = "drop_tests"


@dataclass
class TraceFiltersConfig:
    """Long chain-of-thought quality filters on verified samples (0 / null = off)."""

    enabled: bool = True
    # Distinct \\boxed{} answers allowed after the thinking: a solution that
    # states two different answers was not checked as one answer.
    max_final_answers: int = 1
    # Word n-grams counted for repetition, and the share of them that may be repeats.
    repeat_ngram: int = 10
    max_repeated_ngram_fraction: float = 0.5
    # Times one paragraph (>= 8 words) may occur.
    max_paragraph_repeats: int = 3
    # Share of letters outside the problem's scripts (plus Latin and Greek).
    max_foreign_script_fraction: float = 0.2
    # Completion length bounds in tokens (null = no bound).
    min_tokens: int | None = None
    max_tokens: int | None = None


@dataclass
class FiltersConfig:
    """Problem filters (exact, near, decontam, code_tests) and trace filters."""

    # Exact duplicates on normalised text (case, spacing, punctuation, LaTeX spacing).
    exact: bool = False
    near: NearDupConfig = field(default_factory=NearDupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    code_tests: CodeTestsConfig = field(default_factory=CodeTestsConfig)
    traces: TraceFiltersConfig = field(default_factory=TraceFiltersConfig)

    @property
    def problems_enabled(self) -> bool:
        """True when any problem filter runs."""
        return (self.exact or self.near.enabled or self.decontam.enabled
                or self.code_tests.enabled)
