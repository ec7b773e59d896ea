r"""Answers grouped by the verifier's own equivalence: the votes behind maj@n and majority labels.

A sample's vote is the final answer its domain's verifier reads (math: the answer
after the last ``</think>`` as :func:`~raydistill.verifiers.math_answers.final_answer`
finds it; multiple choice: the letter). Two answers are one vote when the verifier
would call them the same value (math: the math child's comparison, on its hard
deadline, so ``1/2`` and ``0.5`` are one group; multiple choice: the same letter).
Code has no answer to vote on: its samples cast no vote.

Groups are built in the sorted order of the answers' texts, each answer joining the
first group whose representative it equals, so the groups and their names (the
first answer in sort order) do not depend on the order samples came back in.

>>> votes = [("math", "\\boxed{0.5}", True), ("math", "\\boxed{1/2}", True),
...          ("math", "\\boxed{3}", False)]
>>> answers = [vote_of(d, s) for d, s, _ in votes]
>>> answers
['0.5', '1/2', '3']
>>> same = lambda a, b: float(eval(a)) == float(eval(b))  # a stand-in for the verifier
>>> group_votes(answers, [c for *_, c in votes], same)
{'0.5': (2, True), '3': (1, False)}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from raydistill.verifiers.math_answers import final_answer
from raydistill.verifiers.mcq import letter

# Seconds for one equivalence check of two answers in the math child (a check of two
# short answers takes milliseconds; the deadline is only for math-verify's hangs).
SAME_TIMEOUT_S = 5.0


def vote_of(domain: str, solution: str | None) -> str | None:
    """The answer a sample votes for, or None (no answer, truncated, or a code domain).

    >>> vote_of("mcq", "so Answer: C"), vote_of("code", "```python\\nprint(1)\\n```")
    ('C', None)
    """
    if not solution:
        return None
    if domain == "math":
        answer = final_answer(solution)
        return answer.strip() if answer and answer.strip() else None
    if domain == "mcq":
        return letter(solution)
    return None


def same_math(a: str, b: str) -> bool:
    """Whether the math verifier calls two final answers the same value (``a`` as the gold)."""
    from raydistill.verifiers.math_child import checker

    status, _, _ = checker().check(a, "\\boxed{" + b + "}", SAME_TIMEOUT_S)
    return status == "pass"


def equivalence(domain: str) -> Callable[[str, str], bool]:
    """The equivalence of two votes in ``domain``."""
    return same_math if domain == "math" else str.__eq__


def group_votes(answers: Sequence[str | None], correct: Sequence[bool],
                same: Callable[[str, str], bool]) -> dict[str, tuple[int, bool]]:
    """``{group name: (votes, correct)}`` over the samples' answers (None: no vote).

    A group is correct when any of its samples was verified correct.
    """
    groups: dict[str, list[int | bool]] = {}
    for answer, ok in sorted(((a, c) for a, c in zip(answers, correct, strict=True)
                              if a is not None), key=lambda pair: (pair[0], not pair[1])):
        home = answer if answer in groups else next(
            (name for name in groups if same(name, answer)), None)
        if home is None:
            groups[answer] = [0, False]
            home = answer
        groups[home][0] = int(groups[home][0]) + 1
        groups[home][1] = bool(groups[home][1]) or ok
    return {name: (int(v), bool(c)) for name, (v, c) in groups.items()}
