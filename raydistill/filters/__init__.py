"""Clean data: problem filters before the teacher, trace filters after the verifiers.

Problems (:mod:`raydistill.filters.problems`, one plan over the staged inputs):
exact duplicates on normalised text (:mod:`.normalize`), near duplicates by
MinHash/LSH (:mod:`.minhash`), benchmark decontamination by word n-grams
(:mod:`.decontam`), code tests checked against reference solutions
(:mod:`.code_tests`). Every removed problem is written to ``URI/removed/`` with
one of :data:`REMOVAL_REASONS`. Traces (:mod:`.traces`): quality filters turning
verified samples into ``filtered:<name>`` failures at publication.
"""

from __future__ import annotations

# Why a problem was removed before generation (the ``reason`` of ``removed/``);
# problems are not samples, so these are not verdict codes of raydistill.reasons.
REMOVAL_REASONS: dict[str, str] = {
    "duplicate": "same normalised text as an earlier problem (detail: the kept problem's id)",
    "near_duplicate": "MinHash-similar to an earlier problem (detail: the kept problem's id)",
    "contaminated": "shares a word n-gram with a benchmark problem (detail: JSON evidence)",
    "broken_tests": "the reference solution fails its tests: none left to trust",
}
