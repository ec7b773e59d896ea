"""Near duplicates: MinHash signatures, LSH band buckets, colliding pairs, clusters.

The hashing is datasketch's (``MinHash.bulk``: seeded universal hashing of the
shingles, vectorised in numpy). What is ours is what datasketch's in-memory
``MinHashLSH`` cannot do across a cluster: each band of a signature becomes one
``(bucket, ordinal)`` row; the rows are hash-shuffled by bucket
(``repartition(keys=["bucket"])``) so each bucket lands whole in one block, and
each block is sorted to find buckets with more than one member. A colliding
bucket gives the edges ``member -> representative`` (its smallest ordinal); the
edges, far fewer than the problems, are joined into clusters by a union-find on
the driver (:func:`clusters`). The exact-duplicate key rides along as one more
bucket, so exact and near duplicates are found in the same shuffle.

An ordinal is ``dataset position << 40 | source_index``: the input order, so the
kept representative of a cluster is its first problem, whatever the block layout,
and a rerun keeps and removes the same rows.

>>> sig = signatures(["the cat sat on the mat today", "the cat sat on the mat today"], 3, 16, 1)
>>> bool((sig[0] == sig[1]).all()), sig.shape
(True, (2, 16))
>>> clusters([(3, 1), (5, 3), (9, 8)])
{3: 1, 5: 1, 9: 8}
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from raydistill.filters.normalize import words

ORDINAL_SHIFT = 40

BUCKETS = pa.schema([("bucket", pa.int64()), ("ordinal", pa.int64()), ("exact", pa.int64())])
EDGES = pa.schema([("member", pa.int64()), ("rep", pa.int64()), ("member_exact", pa.int64()),
                   ("rep_exact", pa.int64()), ("band", pa.bool_())])

# Odd 64-bit multipliers that fold a band's rows into one bucket key (wrapping).
_MIX = np.random.default_rng(20260101).integers(1, 2**63, size=512, dtype=np.uint64) | np.uint64(1)


def ordinal(dataset_position: int, source_index: int) -> int:
    """The input-order key of a problem."""
    return (dataset_position << ORDINAL_SHIFT) | source_index


def shingles(text: str, size: int) -> list[bytes]:
    """Word ``size``-grams of the normalised text (the whole text if shorter)."""
    ws = words(text)
    if len(ws) <= size:
        return [" ".join(ws).encode()]
    return [" ".join(ws[i:i + size]).encode() for i in range(len(ws) - size + 1)]


def signatures(texts: Iterable[str], shingle_words: int, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures, one row of ``num_perm`` uint64 values per text."""
    sets = [shingles(t, shingle_words) for t in texts]
    if not sets:
        return np.zeros((0, num_perm), dtype=np.uint64)
    hashes = MinHash.bulk(sets, num_perm=num_perm, seed=seed)
    return np.stack([np.asarray(h.hashvalues, dtype=np.uint64) for h in hashes])


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


def collisions(batch: pa.Table) -> pa.Table:
    """Edges ``member -> rep`` of every bucket in ``batch`` with two or more members.

    Exact-key buckets are negative-tagged by the caller through ``exact``: an edge
    whose two ends share the exact key is an exact duplicate. ``band`` is False
    for the exact bucket (nothing to verify there).
    """
    bucket = batch.column("bucket").to_numpy()
    if len(bucket) == 0:
        return EDGES.empty_table()
    ords = batch.column("ordinal").to_numpy()
    exact = batch.column("exact").to_numpy()
    order = np.lexsort((ords, bucket))
    bucket, ords, exact = bucket[order], ords[order], exact[order]
    starts = np.r_[True, bucket[1:] != bucket[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    rep_pos = first[group]
    # A problem shares a bucket with itself when two of its bands fold alike; drop.
    keep = (~starts) & (ords != ords[rep_pos])
    member, rep = ords[keep], ords[rep_pos[keep]]
    member_exact, rep_exact = exact[keep], exact[rep_pos[keep]]
    is_band = bucket[keep] != member_exact
    return pa.table([member, rep, member_exact, rep_exact, is_band], schema=EDGES)


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
