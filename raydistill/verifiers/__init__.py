"""Verifiers: pure functions ``(record, params) -> Verdict``, picked by domain.

A verifier never imports Ray, vLLM or S3 code; :mod:`raydistill.verifiers.actor`
wraps them for the pipeline. Three outcomes, never collapsed into two: ``pass``,
``fail`` (the answer is wrong) and ``error`` (we could not tell: bad gold, a
crashed checker, a sandbox failure). An error is never counted as a pass or a fail.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raydistill.reasons import DEFAULT_FOR_STATUS, Status, is_known, status_of


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one sample.

    ``reason`` is a code of :mod:`raydistill.reasons`; left empty it is the
    status's default (``wrong_answer`` for a fail, ``verifier_error`` for an error).

    >>> Verdict("fail", "expected 18, got 17").passed
    False
    >>> Verdict("fail", "expected 18, got 17").reason
    'wrong_answer'
    >>> Verdict("fail", "no \\boxed{} answer", "no_answer").reason
    'no_answer'
    """

    status: Status
    detail: str = ""
    reason: str = field(default="", repr=False)
    # Infrastructure errors (a failed sandbox) retried before this verdict.
    retries: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.reason:
            object.__setattr__(self, "reason", DEFAULT_FOR_STATUS[self.status])
        elif not is_known(self.reason) or status_of(self.reason) != self.status:
            raise ValueError(f"reason {self.reason!r} does not go with status {self.status!r}")

    @property
    def passed(self) -> bool:
        """True only for a checked, correct answer."""
        return self.status == "pass"


def entry(verifier: str, verdict: Verdict, seconds: float) -> dict[str, Any]:
    """One ``records.VERDICT`` record: who decided what, and how long it took.

    >>> entry("math", Verdict("pass", "18 == 18"), 0.002)["status"]
    'pass'
    """
    return {"verifier": verifier, "status": verdict.status, "reason": verdict.reason,
            "detail": verdict.detail, "seconds": seconds, "retries": verdict.retries}


VerifierFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Verdict]

_REGISTRY: dict[str, VerifierFn] = {}


def register(domain: str) -> Callable[[VerifierFn], VerifierFn]:
    """Register ``fn`` as the verifier for ``domain``; a second one fails loudly."""

    def decorate(fn: VerifierFn) -> VerifierFn:
        if domain in _REGISTRY:
            raise ValueError(f"verifier for domain {domain!r} registered twice")
        _REGISTRY[domain] = fn
        return fn

    return decorate


# The built-in domains and the module whose ``@register`` defines each. A module
# is imported the first time its domain is asked for: checking a config's domain
# names loads none of them (the code verifier's sandbox, math-verify's sympy).
BUILTIN: dict[str, str] = {
    "code": "raydistill.verifiers.code",
    "math": "raydistill.verifiers.maths",
    "mcq": "raydistill.verifiers.mcq",
}


def get(domain: str) -> VerifierFn:
    """Return the verifier for ``domain`` or fail, listing the known domains."""
    if domain not in _REGISTRY and domain in BUILTIN:
        importlib.import_module(BUILTIN[domain])
    try:
        return _REGISTRY[domain]
    except KeyError:
        raise KeyError(f"no verifier for domain {domain!r}; known: "
                       f"{', '.join(known_domains())}") from None


def known_domains() -> list[str]:
    """Names of every domain: the built-in ones and any registered since."""
    return sorted(set(BUILTIN) | set(_REGISTRY))
