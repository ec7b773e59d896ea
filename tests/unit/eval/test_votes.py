"""Votes grouped by the verifiers' own equivalence (the real math child)."""

import itertools

from raydistill.verifiers.votes import equivalence, group_votes, vote_of


def test_equivalent_math_answers_are_one_group_whatever_the_order():
    samples = [(r"\boxed{\frac{1}{2}}", True), ("The answer is 0.5", True),
               (r"\boxed{3}", False), (r"\boxed{1/2}", True), (r"\boxed{3.0}", False)]
    results = set()
    for order in itertools.permutations(samples):
        answers = [vote_of("math", s) for s, _ in order]
        groups = group_votes(answers, [ok for _, ok in order], equivalence("math"))
        results.add(tuple(sorted(groups.items())))
    assert len(results) == 1
    (groups,) = results
    assert sorted(votes for _, (votes, _) in groups) == [2, 3]
    assert dict(groups)[min(dict(groups))] in ((3, True), (2, False))


def test_no_answer_and_code_cast_no_vote():
    assert vote_of("math", "") is None
    assert vote_of("math", r"so \boxed{12") is None  # an unterminated box
    assert vote_of("code", "```python\nprint(1)\n```") is None
    assert vote_of("mcq", "Answer: B") == "B"
    assert group_votes([None, "B", "B", "C"], [False, True, True, False],
                       equivalence("mcq")) == {"B": (2, True), "C": (1, False)}
