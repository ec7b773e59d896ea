"""The evaluation's statistics against values computed by hand (or by brute force)."""

import itertools
import math
import random

import pytest

from raydistill.eval.stats import majority, mean_stderr, paired_bootstrap, pass_at_k


@pytest.mark.parametrize("n, c", [(4, 0), (4, 1), (4, 2), (5, 3), (8, 8), (10, 1)])
def test_pass_at_k_is_the_share_of_k_subsets_holding_a_correct_sample(n, c):
    samples = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(samples, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute)
        assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


def test_pass_at_k_refuses_k_above_n():
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(2, 1, 3)


def test_standard_error_by_hand():
    # Per-problem accuracies 1, 0.5, 0: mean 0.5, sample sd 0.5, se 0.5 / sqrt(3).
    assert mean_stderr([1.0, 0.5, 0.0]) == (0.5, round(0.5 / math.sqrt(3), 4))
    assert mean_stderr([0.25, 0.25]) == (0.25, 0.0)


def test_majority_ties_do_not_depend_on_order():
    groups = [("12", (3, True)), ("7", (3, False)), ("5", (1, True))]
    winners = {majority(dict(order)) for order in itertools.permutations(groups)}
    assert winners == {("12", True)}  # "12" sorts before "7"
    assert majority({"7": (4, False), "12": (3, True)}) == ("7", False)


def test_paired_bootstrap_is_seeded_and_brackets_the_difference():
    rng = random.Random(1)
    a = {f"p{i}": float(rng.random() < 0.4) for i in range(200)}
    b = {p: max(v, float(rng.random() < 0.3)) for p, v in a.items()}
    first, again = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert first == again
    assert first["problems"] == 200
    assert first["low"] <= first["diff"] <= first["high"]
    assert first["low"] > 0  # b never does worse on a problem and often better
    # Only problems both evaluated are paired.
    assert paired_bootstrap({"p": 1.0, "q": 0.0}, {"p": 0.0})["problems"] == 1
