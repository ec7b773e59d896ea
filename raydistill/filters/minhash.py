"""Near-duplicate candidates: MinHash signatures, LSH band buckets, pairs, clusters.

MinHash here finds *candidates*; :mod:`raydistill.filters.copies` decides which
candidates are copies. So the band S-curve sits low (default 20 bands of 3 rows:
a pair at Jaccard 0.5 of word-bigram sets is a candidate with probability 0.93,
at 0.6 0.99, at 0.1 0.02), and precision comes from the check, not from the
banding. Copies of a GSM8K problem with 3 words replaced keep Jaccard >= 0.5 of
word bigrams in 99.5% of cases, with 3 words inserted >= 0.62; two unrelated
GSM8K problems sit at a median 0.007 (docs/near_duplicates.md has the figures).

Signatures are computed in numpy for a whole batch: each distinct word of the
batch is hashed once (blake2b, stable across processes), word n-grams fold the
words' hashes, and each of ``num_perm`` seeded multiply-add permutations of the
64-bit shingle hashes keeps its minimum per text (``np.minimum.reduceat``).

Across a cluster, each band of a signature becomes one ``(bucket, ordinal)``
row; a :class:`~raydistill.stages.Stage` with a ``shuffle`` hash-partitions the
rows by bucket so each bucket lands whole in one block, and :func:`pairs` lists,
per bucket, each member with the earlier members (at most
:data:`PAIRS_PER_MEMBER`). The exact-duplicate key rides along as one more
bucket, so exact and near duplicates are found in the same shuffle. Verified
pairs are joined into clusters by a union-find on the driver (:func:`clusters`).

An ordinal is ``dataset position << 40 | source_index``: the input order, so the
kept representative of a cluster is its first problem, whatever the block layout,
and a rerun keeps and removes the same rows.

>>> sig = signatures(["the cat sat on the mat today", "The cat sat on the mat, today!"], 2, 16, 1)
>>> bool((sig[0] == sig[1]).all()), sig.shape
(True, (2, 16))
>>> pairs(pa.table({"bucket": [7, 7, 7, 9], "ordinal": [30, 10, 20, 40]}), 8).to_pylist()
[{'member': 20, 'other': 10}, {'member': 30, 'other': 10}, {'member': 30, 'other': 20}]
>>> clusters([(3, 1), (5, 3), (9, 8)])
{3: 1, 5: 1, 9: 8}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
from datasketch.lsh import _optimal_param

from raydistill.filters.normalize import words

ORDINAL_SHIFT = 40
# Pairs listed per bucket member: its earlier members, the first ones first. A
# copy's bucket holds its original and other copies; a bucket of hundreds is
# shared boilerplate (templated problems), where listing every pair would be
# quadratic. A copy shares ~bands x P(band) buckets with its original, so one
# crowded bucket costs little recall.
PAIRS_PER_MEMBER = 16

BUCKETS = pa.schema([("bucket", pa.int64()), ("ordinal", pa.int64())])
PAIRS = pa.schema([("member", pa.int64()), ("other", pa.int64())])

# Odd 64-bit multipliers that fold a band's rows into one bucket key (wrapping).
_MIX = np.random.default_rng(20260101).integers(1, 2**63, size=512, dtype=np.uint64) | np.uint64(1)
# Stands for the missing words of a text shorter than one shingle.
_PAD = np.uint64(0x5BD1E9955BD1E995)
# Texts hashed per numpy pass: ~45 shingles x 64 permutations x 8 bytes x 512 texts = 12 MB.
_CHUNK = 512


def ordinal(dataset_position: int, source_index: int) -> int:
    """The input-order key of a problem."""
    return (dataset_position << ORDINAL_SHIFT) | source_index


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def shingle_hashes(texts: Iterable[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of each normalised text's word ``size``-grams, and where each text starts.

    A text shorter than ``size`` words is one shingle.

    >>> hashes, starts = shingle_hashes(["a b c", "A, b!", "a b"], 2)
    >>> starts.tolist(), bool(hashes[0] == hashes[2] == hashes[3])
    ([0, 2, 3], True)
    """
    code: dict[str, int] = {}
    flat: list[int] = []
    lengths = []
    for text in texts:
        ws = words(text)
        flat.extend(code.setdefault(w, len(code)) for w in ws)
        lengths.append(len(ws))
    vocab = np.array([int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(),
                                     "little") for w in code], dtype=np.uint64)
    lens = np.array(lengths, dtype=np.int64)
    count = np.maximum(lens - size + 1, 1)  # shingles per text
    # Each text's words, then size - 1 pads, so no shingle runs into the next text.
    padded = lens + size - 1
    base = np.concatenate(([0], np.cumsum(padded)[:-1])).astype(np.int64)
    seq = np.full(int(padded.sum()), _PAD, dtype=np.uint64)
    word_pos = np.repeat(base, lens) + (np.arange(len(flat)) - np.repeat(
        np.concatenate(([0], np.cumsum(lens)[:-1])), lens))
    seq[word_pos] = vocab[np.array(flat, dtype=np.int64)] if flat else seq[word_pos]
    starts = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
    first = np.repeat(base, count) + (np.arange(int(count.sum())) - np.repeat(starts, count))
    hashes = np.zeros(len(first), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(size):
            hashes = _mix64(hashes * np.uint64(0x9E3779B97F4A7C15) + seq[first + k])
    return hashes, starts


def signatures(texts: Iterable[str], shingle_words: int, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures, one row of ``num_perm`` uint64 values per text."""
    texts = list(texts)
    rng = np.random.default_rng(seed)
    mul = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    add = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    out = np.zeros((len(texts), num_perm), dtype=np.uint64)
    for at in range(0, len(texts), _CHUNK):
        hashes, starts = shingle_hashes(texts[at:at + _CHUNK], shingle_words)
        with np.errstate(over="ignore"):
            permuted = hashes[:, None] * mul[None, :] + add[None, :]
        out[at:at + len(starts)] = np.minimum.reduceat(permuted, starts, axis=0)
    return out


def band_params(threshold: float, num_perm: int, bands: int = 0, rows: int = 0) -> tuple[int, int]:
    """``(bands, rows)``: given, or datasketch's optimum for ``threshold``.

    >>> band_params(0.7, 128)
    (14, 9)
    """
    if bands and rows:
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm {num_perm}")
        return bands, rows
    found: tuple[int, int] = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return found


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One int64 bucket key per (text, band): the band's values folded, the band mixed in."""
    n = sig.shape[0]
    cut = sig[:, : bands * rows].reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        folded = (cut * _MIX[:rows]).sum(axis=2, dtype=np.uint64)
        folded ^= _MIX[rows: rows + bands] * np.uint64(0x9E3779B97F4A7C15)
    return folded.view(np.int64)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal signature values: the estimate of the shingle sets' Jaccard."""
    return float(np.mean(a == b))


def pairs(batch: pa.Table, per_member: int = PAIRS_PER_MEMBER) -> pa.Table:
    """``(member, other)``: each bucket member with up to ``per_member`` earlier members.

    ``other < member``; ``batch`` holds whole buckets.
    """
    bucket = batch.column("bucket").to_numpy()
    if len(bucket) == 0:
        return PAIRS.empty_table()
    ords = batch.column("ordinal").to_numpy()
    order = np.lexsort((ords, bucket))
    bucket, ords = bucket[order], ords[order]
    starts = np.r_[True, bucket[1:] != bucket[:-1]]
    first = np.flatnonzero(starts)[np.cumsum(starts) - 1]  # each row's bucket start
    rank = np.arange(len(bucket)) - first
    members, others = [], []
    for k in range(min(per_member, int(rank.max()))):
        has = rank > k
        members.append(ords[has])
        others.append(ords[first[has] + k])
    if not members:
        return PAIRS.empty_table()
    member, other = np.concatenate(members), np.concatenate(others)
    # A problem shares a bucket with itself when two of its bands fold alike; drop.
    keep = member != other
    found = np.unique(np.stack([member[keep], other[keep]], axis=1), axis=0)
    return pa.table([found[:, 0], found[:, 1]], schema=PAIRS)


def clusters(edges: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Union-find over ``(a, b)`` pairs: every non-root member -> its cluster's smallest ordinal.

    Written here rather than taken from scipy: the pairs are few (duplicates x
    bands), ordinals are sparse 64-bit keys, and the smallest member as root is
    what makes the kept problem the first in input order.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            low, high = min(ra, rb), max(ra, rb)
            parent[high] = low
            parent.setdefault(low, low)
    return {x: find(x) for x in parent if find(x) != x}
