"""The numbers of an evaluation, as the papers and harnesses users compare against define them.

- ``avg@n``: the mean accuracy over every sample of every problem, with the standard
  error of that mean taken over problems (a problem's n samples are not independent
  draws of the benchmark, its problems are): ``stdev(per-problem accuracy) / sqrt(P)``.
- ``pass@k``: the unbiased estimator of the Codex paper, ``1 - C(n-c, k) / C(n, k)``
  per problem with ``c`` of ``n`` samples correct, averaged over problems.
- ``maj@n``: a problem counts when its most frequent answer (answers grouped by the
  verifier's own equivalence, :mod:`raydistill.verifiers.votes`) is a correct one;
  ties go to the group whose canonical answer sorts first, so the result does not
  depend on the order the samples came back in.
- a paired bootstrap of the difference between two models over the problems both
  evaluated: resample problems with replacement, a seeded generator, the 2.5th and
  97.5th percentiles of the resampled mean differences.

>>> round(pass_at_k(4, 1, 1), 4), round(pass_at_k(4, 1, 2), 4), pass_at_k(4, 0, 4)
(0.25, 0.5, 0.0)
>>> mean_stderr([1.0, 0.0, 1.0, 0.0])
(0.5, 0.2887)
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of ``k`` of ``n`` samples (``c`` correct) is correct.

    >>> pass_at_k(10, 10, 1), pass_at_k(10, 0, 1), round(pass_at_k(10, 3, 5), 4)
    (1.0, 0.0, 0.9167)
    """
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 < k <= n and 0 <= c <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k / i): the Codex paper's numerically stable form.
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """The mean of per-problem values and its standard error, both rounded to 4 places.

    >>> mean_stderr([0.5])
    (0.5, 0.0)
    >>> mean_stderr([])
    (0.0, 0.0)
    """
    if not values:
        return 0.0, 0.0
    mean = statistics.fmean(values)
    stderr = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return round(mean, 4), round(stderr, 4)


def majority(groups: Mapping[str, tuple[int, bool]]) -> tuple[str | None, bool]:
    """The winning answer of ``{canonical answer: (votes, correct)}`` and whether it is correct.

    The most votes wins; among equals the answer that sorts first, whatever order the
    groups were built in.

    >>> majority({"7": (2, False), "12": (2, True), "3": (1, False)})
    ('12', True)
    >>> majority({"b": (1, True), "a": (1, False)})
    ('a', False)
    >>> majority({})
    (None, False)
    """
    if not groups:
        return None, False
    answer = min(groups, key=lambda a: (-groups[a][0], a))
    return answer, groups[answer][1]


def paired_bootstrap(a: Mapping[str, float], b: Mapping[str, float], iterations: int = 2000,
                     seed: int = 0) -> dict[str, float | int]:
    """The mean of ``b - a`` over the problems in both, with a 95% bootstrap interval.

    ``a`` and ``b`` map a problem id to that model's accuracy on it. Problems are
    resampled with replacement ``iterations`` times with a seeded generator, so the
    same inputs give the same interval.

    >>> same = {"p1": 1.0, "p2": 0.0, "p3": 1.0}
    >>> paired_bootstrap(same, same)
    {'problems': 3, 'diff': 0.0, 'low': 0.0, 'high': 0.0}
    >>> better = paired_bootstrap({"p1": 0.0, "p2": 0.0}, {"p1": 1.0, "p2": 1.0})
    >>> better["diff"], better["low"], better["high"]
    (1.0, 1.0, 1.0)
    """
    shared = sorted(set(a) & set(b))
    if not shared:
        return {"problems": 0, "diff": 0.0, "low": 0.0, "high": 0.0}
    diffs = [b[p] - a[p] for p in shared]
    rng = random.Random(seed)
    size = len(diffs)
    means = sorted(statistics.fmean(rng.choices(diffs, k=size)) for _ in range(iterations))
    low = means[int(0.025 * (iterations - 1))]
    high = means[int(math.ceil(0.975 * (iterations - 1)))]
    return {"problems": size, "diff": round(statistics.fmean(diffs), 4),
            "low": round(low, 4), "high": round(high, 4)}
