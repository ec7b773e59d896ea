"""Labels users can trust: majority labels where gold is missing, and an audit of the gold.

A problem's samples are verified against its *label*. The ``labels`` section says
where the label comes from (``policy``):

- ``gold`` (default): the data set's gold answer, as always; a problem without one
  is checked against nothing (its samples get the verifier's ``verifier_error``).
- ``majority``: the majority answer of the problem's own samples, whatever the gold
  says (the gold is hidden from labelling; it is still audited).
- ``gold_or_majority``: the gold where there is one, else the majority.

The majority is taken over the *answered* samples of one verifier pass (a sample
with a final answer the verifier reads; truncated and teacher-error samples cast no
vote), answers grouped by the verifier's own equivalence
(:mod:`raydistill.verifiers.votes`: ``1/2`` and ``0.5`` are one vote). It labels the
problem when its group holds at least ``min_share`` of at least ``min_votes``
answered samples and no other group has as many votes (a tie is no majority). Below
that bar the samples fail with reason ``no_label``, never pass. Under adaptive
sampling each wave is one verifier pass: a wave's majority is taken over that wave's
samples alone (earlier waves' answers are not in the row the verifier sees), so the
bar applies to the wave's own ``n``.

The audit: where a *confident* majority (``audit_share`` of at least
``audit_votes`` answered samples) disagrees with the gold (the verifier, given the
gold, fails the majority answer), the problem is ``suspect_gold``; ``on_suspect``
says what then: ``keep`` (verified against the gold, flagged), ``drop`` (its samples
fail with reason ``suspect_gold``) or ``relabel`` (verified against the majority).
A gold the verifier cannot read (an ``error``) is not called suspect.

Code has tests, not answers: its samples cast no vote, so the policy does not touch
it (verified against its tests, ``label_source: gold``; ``none`` without tests).

This module is pure (no Ray): the section, its checks and the decision.

>>> cfg = LabelsConfig(policy="gold_or_majority", min_share=0.5, min_votes=3)
>>> majority = Majority("42", votes=3, answered=4)
>>> decide(cfg, has_gold=False, majority=majority, gold_agrees=lambda: None)
Label(check='majority', answer='42', suspect=False)
>>> decide(cfg, has_gold=False, majority=Majority("42", 1, 2), gold_agrees=lambda: None).check
'no_label'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from raydistill.keys import key
from raydistill.verifiers.votes import group_votes

POLICIES = ("gold", "majority", "gold_or_majority")
ON_SUSPECT = ("keep", "drop", "relabel")
# The domains whose samples vote (verifiers.votes.vote_of reads an answer).
VOTING_DOMAINS = ("math", "mcq")


@dataclass
class LabelsConfig:
    """Where a problem's label comes from, and the audit of its gold."""

    policy: str = key("gold", "gold: the data set's gold answer; majority: the majority answer "
                      "of the problem's samples; gold_or_majority: the gold where there is "
                      "one, else the majority. Code is unaffected (it has tests, not answers).")
    min_share: float = key(0.5, "Share of the answered samples the majority must hold to "
                           "label a problem (a tie for the top is no majority).")
    min_votes: int = key(3, "Answered samples needed before a majority may label a problem "
                         "(2 of 2 agreeing answers of a random model are common).")
    audit_share: float = key(0.75, "Share of the answered samples a majority must hold to be "
                             "confident: a confident majority disagreeing with the gold makes "
                             "the problem suspect_gold.")
    audit_votes: int = key(4, "Answered samples a confident majority needs.")
    on_suspect: str = key("keep", "What a suspect gold does: keep (verified against the gold, "
                          "flagged), drop (its samples fail with reason suspect_gold), relabel "
                          "(verified against the majority).")


def labels_checks(c: LabelsConfig) -> list[tuple[bool, str, str]]:
    """Checks of the ``labels`` section: (ok, key, what is wrong)."""
    return [
        (c.policy in POLICIES, "labels.policy", f"must be one of {POLICIES}"),
        (0 < c.min_share <= 1, "labels.min_share", "must be in (0, 1]"),
        (c.min_votes >= 1, "labels.min_votes", "must be >= 1"),
        (0 < c.audit_share <= 1, "labels.audit_share", "must be in (0, 1]"),
        (c.audit_votes >= 1, "labels.audit_votes", "must be >= 1"),
        (c.on_suspect in ON_SUSPECT, "labels.on_suspect", f"must be one of {ON_SUSPECT}"),
    ]


@dataclass(frozen=True)
class Majority:
    """The top group of a problem's votes: its answer (None: no votes or a tie) and size."""

    answer: str | None
    votes: int
    answered: int

    @property
    def share(self) -> float | None:
        """The top group's share of the answered samples (None without a majority)."""
        return self.votes / self.answered if self.answer is not None and self.answered else None

    def holds(self, share: float, votes: int) -> bool:
        """Whether it holds at least ``share`` of at least ``votes`` answered samples.

        >>> Majority("7", 3, 4).holds(0.75, 4), Majority("7", 3, 4).holds(0.8, 4)
        (True, False)
        """
        return self.answer is not None and self.answered >= votes and \
            self.votes >= share * self.answered


def majority_of(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> Majority:
    """The majority of the samples' votes (None: no vote), grouped by ``same``.

    >>> majority_of(["0.5", "1/2", "3", None], lambda a, b: eval(a) == eval(b))
    Majority(answer='0.5', votes=2, answered=3)
    >>> majority_of(["1", "2"], str.__eq__).answer is None  # a tie
    True
    """
    groups = group_votes(answers, [False] * len(answers), same)
    answered = sum(votes for votes, _ in groups.values())
    ranked = sorted(groups.items(), key=lambda item: (-item[1][0], item[0]))
    if not ranked or (len(ranked) > 1 and ranked[1][1][0] == ranked[0][1][0]):
        return Majority(None, ranked[0][1][0] if ranked else 0, answered)
    return Majority(ranked[0][0], ranked[0][1][0], answered)


@dataclass(frozen=True)
class Label:
    """How a problem's samples are checked.

    ``check``: ``gold`` (the row's gold, as always), ``majority`` (against ``answer``),
    ``no_label`` (they fail: no label) or ``suspect_gold`` (they fail: dropped by the
    audit). ``suspect``: a confident majority disagrees with the gold.
    """

    check: str
    answer: str | None = None
    suspect: bool = False

    def source(self, has_gold: bool) -> str:
        """The rows' ``label_source``: ``gold``, ``majority`` or ``none``.

        >>> Label("gold").source(True), Label("gold").source(False), Label("no_label").source(True)
        ('gold', 'none', 'none')
        """
        if self.check == "majority":
            return "majority"
        return "gold" if has_gold and self.check in ("gold", "suspect_gold") else "none"


def decide(cfg: LabelsConfig, has_gold: bool, majority: Majority,
           gold_agrees: Callable[[], bool | None]) -> Label:
    """The label of one problem of a voting domain.

    ``gold_agrees`` is asked (only when there is a gold and a confident majority)
    whether the majority answer passes against the gold: True, False, or None when
    the verifier cannot tell (an unreadable gold).

    >>> cfg = LabelsConfig(on_suspect="relabel")
    >>> decide(cfg, True, Majority("5", 4, 4), lambda: False)
    Label(check='majority', answer='5', suspect=True)
    >>> decide(cfg, True, Majority("5", 4, 4), lambda: True)
    Label(check='gold', answer=None, suspect=False)
    """
    confident = has_gold and majority.holds(cfg.audit_share, cfg.audit_votes)
    suspect = confident and gold_agrees() is False
    if cfg.policy == "majority" or (cfg.policy == "gold_or_majority" and not has_gold):
        if majority.holds(cfg.min_share, cfg.min_votes):
            return Label("majority", majority.answer, suspect)
        return Label("no_label", None, suspect)
    if suspect and cfg.on_suspect == "relabel":
        return Label("majority", majority.answer, True)
    if suspect and cfg.on_suspect == "drop":
        return Label("suspect_gold", None, True)
    return Label("gold", None, suspect)


def as_gold(domain: str, answer: str) -> str:
    r"""A majority answer written as a gold its domain's verifier reads.

    >>> as_gold("math", "\\frac{1}{2}"), as_gold("mcq", "C")
    ('\\boxed{\\frac{1}{2}}', 'C')
    """
    return "\\boxed{" + answer + "}" if domain == "math" else answer


def as_solution(domain: str, answer: str) -> str:
    """A majority answer written as a response's final answer, to check it against the gold.

    >>> as_solution("mcq", "B")
    'Answer: B'
    """
    return "\\boxed{" + answer + "}" if domain == "math" else f"Answer: {answer}"
