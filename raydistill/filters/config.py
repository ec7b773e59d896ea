"""The ``filters:`` section: problem filters before the teacher, trace filters after it.

Kept beside the filters' code (below :mod:`raydistill.config`, which holds one
field of this type). Benchmarks are described like source data sets (same keys
as ``source.datasets`` entries), so a benchmark can be a hub id, a local file or
an ``s3://`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from raydistill.keys import key

BROKEN_TEST_POLICIES = ("remove", "drop_tests")


@dataclass
class BenchmarkConfig:
    """One benchmark problem set, read like a source data set (``source.datasets``)."""

    name: str = key("", "The benchmark's name (removed problems name it).")
    format: str = key("jsonl", "jsonl, parquet or hf, as source.datasets[].format.")
    path: str = key("", "Local file, s3:// prefix or hub id.")
    split: str = key("test", "Split of an hf benchmark.")
    subset: str = key("", "The hub data set's configuration name.")
    preset: str = key("", "Field mapping, as source.datasets[].preset.")
    question_field: str = key("", "Column holding the problem.")
    answer_field: str = key("", "Column holding the answer.")
    limit: int | None = key(None, "Benchmark problems read at most (null = all).")


@dataclass
class NearDupConfig:
    """Near duplicates: MinHash/LSH candidates, each pair checked (filters/copies.py)."""

    enabled: bool = key(False, "Remove near duplicates (MinHash + LSH, then a word-edit check).")
    shingle_words: int = key(2, "Words per shingle: bigrams keep a copy with 3 words changed at "
                             "Jaccard >= 0.5 on GSM8K-length problems while unrelated ones share "
                             "almost none (median 0.007).")
    num_perm: int = key(64, "Permutations per signature: at least bands x rows.")
    threshold: float = key(0.5, "Jaccard of shingle sets where bands = rows = 0 put the "
                           "S-curve (datasketch's optimum), and the cutoff of "
                           "filters.decontam.near.")
    bands: int = key(20, "LSH bands: 20 bands of 3 rows make a pair at Jaccard 0.5 a "
                     "candidate with probability 0.93, at 0.6 0.99, at 0.1 0.02; 0 and 0 = "
                     "datasketch's optimum for threshold.")
    rows: int = key(3, "Rows per LSH band (0 = datasketch's optimum).")
    verify_pairs: bool = key(True, "Check each candidate pair (word edits, numbers); false: "
                             "every candidate is a copy.")
    max_edits: int = key(3, "Word insertions, deletions or substitutions a copy may have...")
    max_edit_fraction: float = key(0.1, "...or this share of the longer problem's words, if "
                                   "more.")
    seed: int = key(1, "Seed of the MinHash permutations (a rerun removes the same rows).")


@dataclass
class DecontamConfig:
    """Removal of problems that overlap a benchmark."""

    enabled: bool = key(False, "Remove problems sharing a word n-gram with a benchmark problem.")
    ngram: int = key(13, "Word n-gram length: 13 as NeMo-Curator and datatrove use, 8 as "
                     "open-r1.")
    near: bool = key(False, "Also remove a problem whose MinHash similarity to a benchmark "
                     "problem reaches filters.near.threshold (catches rewordings sharing no "
                     "n-gram, at the cost of a signature per problem).")
    benchmarks: list[BenchmarkConfig] = key(factory=list, doc="The benchmarks to decontaminate "
                                            "against.")


@dataclass
class CodeTestsConfig:
    """Reference solutions run against each code problem's tests before generation."""

    enabled: bool = key(False, "Run each code problem's reference solutions against its tests.")
    on_broken: str = key("drop_tests", "remove: a problem with any broken test is removed "
                         "(reason broken_tests); drop_tests: its broken tests are dropped, "
                         "removed only if none is left.")


@dataclass
class TraceFiltersConfig:
    """Long chain-of-thought quality filters on verified samples (0 / null = off)."""

    enabled: bool = key(True, "Run the trace filters on verified samples.")
    max_final_answers: int = key(1, "Distinct \\boxed{} answers allowed after the thinking: a "
                                 "solution stating two answers was not checked as one.")
    repeat_ngram: int = key(10, "Word n-grams counted for repetition.")
    max_repeated_ngram_fraction: float = key(0.5, "Share of those n-grams that may be repeats.")
    max_paragraph_repeats: int = key(3, "Times one paragraph (>= 8 words) may occur.")
    max_foreign_script_fraction: float = key(0.2, "Share of letters outside the problem's "
                                             "scripts (plus Latin and Greek).")
    min_tokens: int | None = key(None, "Completion tokens at least (null = no bound).")
    max_tokens: int | None = key(None, "Completion tokens at most (null = no bound).")


@dataclass
class FiltersConfig:
    """Problem filters (exact, near, decontam, code_tests) and trace filters."""

    exact: bool = key(False, "Remove exact duplicates on normalised text (case, spacing, "
                      "punctuation, LaTeX spacing).")
    near: NearDupConfig = key(factory=NearDupConfig, doc="Near-duplicate removal.")
    decontam: DecontamConfig = key(factory=DecontamConfig, doc="Benchmark decontamination.")
    code_tests: CodeTestsConfig = key(factory=CodeTestsConfig, doc="Code problems' tests "
                                      "checked against reference solutions.")
    traces: TraceFiltersConfig = key(factory=TraceFiltersConfig, doc="Trace quality filters "
                                     "after the verifiers.")

    @property
    def problems_enabled(self) -> bool:
        """True when any problem filter runs."""
        return (self.exact or self.near.enabled or self.decontam.enabled
                or self.code_tests.enabled)


def filter_checks(f: FiltersConfig) -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the ``filters:`` section."""
    return [
        (0 < f.near.threshold <= 1, "filters.near.threshold", "must be in (0, 1]"),
        (f.near.num_perm >= 8, "filters.near.num_perm", "must be >= 8"),
        (f.near.bands * f.near.rows <= f.near.num_perm, "filters.near.bands",
         "bands x rows must be <= num_perm"),
        (f.near.shingle_words >= 1, "filters.near.shingle_words", "must be >= 1"),
        (f.near.max_edits >= 0, "filters.near.max_edits", "must be >= 0"),
        (0 <= f.near.max_edit_fraction < 1, "filters.near.max_edit_fraction",
         "must be in [0, 1)"),
        (f.decontam.ngram >= 1, "filters.decontam.ngram", "must be >= 1"),
        (all(b.name and b.path for b in f.decontam.benchmarks), "filters.decontam.benchmarks",
         "each needs a name and a path"),
        (f.code_tests.on_broken in BROKEN_TEST_POLICIES, "filters.code_tests.on_broken",
         f"must be one of {BROKEN_TEST_POLICIES}"),
    ]
