r"""verl's ``custom_reward_function``: score a rollout with raydistill's own verifiers.

Point verl's trainer at it (``reward.custom_reward_function`` in verl 0.9.1)::

    reward.custom_reward_function.path=pkg://raydistill.export.verl_reward
    reward.custom_reward_function.name=compute_score

It scores every row of a verl export, including the ones verl's
``default_compute_score`` cannot (``data_source: raydistill/<domain>``: assert
tests, a domain of your own), with the same rules as the run that made the data:
the answer is read only after the reasoning (a ``<think>`` never closed fails),
math through math-verify in a child process on a hard deadline, code in the
bubblewrap sandbox (``raydistill.sandbox``; it needs ``bwrap`` on the node),
multiple choice by its letter. The verify section's defaults apply
(``raydistill.config.VerifyConfig``); pass ``verify`` in
``reward.custom_reward_function.reward_kwargs`` to change them.

Scores: 1.0 pass, 0.0 fail. An ``error`` verdict (a sandbox failure, a checker
that hung, a bad gold) is neither: by default it raises :class:`RewardError`,
naming the reason, because a reward of 0 would teach the policy that a right
answer was wrong. ``reward_kwargs.error_score: 0.0`` scores it instead (then
``verdict`` and ``reason`` in verl's reward logs show which rows were errors).

>>> compute_score("lighteval/MATH", "<think>7 * 8</think> $\\boxed{56}$", "56")["score"]
1.0
>>> compute_score("lighteval/MATH", "<think>7 * 8 is 54", "56")["reason"]
'truncated'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from raydistill.export.config import DataSourcesConfig
from raydistill.export.verl_rows import CUSTOM, from_verl_tests
from raydistill.parsing import split_response
from raydistill.verifiers.actor import check_sample
from raydistill.verifiers.config import VerifyConfig

# The default data_source of each domain (DataSourcesConfig), for rows without extra_info.domain.
_DOMAIN_OF = {source: domain for domain, source in asdict(DataSourcesConfig()).items()}


class RewardError(RuntimeError):
    """A rollout raydistill could not score (an ``error`` verdict), with its reason."""


def domain_of(data_source: str, extra_info: Mapping[str, Any] | None) -> str:
    """The verifier domain of a row: ``extra_info["domain"]`` (every raydistill export has it).

    Else read from the data_source: ``raydistill/<domain>`` or a default name.

    >>> domain_of("apps", None), domain_of("raydistill/code", {}), domain_of("x", {"domain": "mcq"})
    ('code', 'code', 'mcq')
    """
    if extra_info and extra_info.get("domain"):
        return str(extra_info["domain"])
    if data_source.startswith(CUSTOM):
        return data_source[len(CUSTOM):]
    if data_source in _DOMAIN_OF:
        return _DOMAIN_OF[data_source]
    raise RewardError(f"data_source {data_source!r} names no raydistill domain and the row has "
                      "no extra_info.domain: is it a raydistill verl export?")


def _test_cases(domain: str, ground_truth: str) -> str | None:
    if domain != "code":
        return None
    try:
        tests = json.loads(ground_truth)
    except json.JSONDecodeError:
        return ground_truth  # the code verifier reports bad tests as an error verdict
    return json.dumps(from_verl_tests(tests)) if isinstance(tests, dict) else ground_truth


def compute_score(data_source: str, solution_str: str, ground_truth: str,
                  extra_info: Mapping[str, Any] | None = None, *,
                  error_score: float | None = None,
                  verify: Mapping[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Score one rollout: ``{"score", "acc", "verdict", "reason"}`` (verl logs the extra keys).

    ``solution_str``: the decoded response; ``ground_truth``: the row's
    ``reward_model.ground_truth``. verl's other keyword arguments are ignored.
    """
    domain = domain_of(data_source, extra_info)
    trace = split_response(solution_str)
    problem = {
        "problem_id": str((extra_info or {}).get("problem_id") or ""),
        "domain": domain,
        "problem": (extra_info or {}).get("question"),
        "ground_truth_solution": ground_truth,
        "test_cases": _test_cases(domain, ground_truth),
        "starter_code": (extra_info or {}).get("starter_code"),
    }
    sample = {"response": solution_str, "reasoning": trace.reasoning,
              "solution": trace.solution, "think_closed": trace.think_closed,
              "finish_reason": "stop", "verdict_detail": None, "reason": None}
    params = {**asdict(VerifyConfig()), **(verify or {})}
    verdict = check_sample(problem, sample, params)
    if verdict.status == "error":
        if error_score is None:
            raise RewardError(f"{verdict.reason}: {verdict.detail} (set "
                              "reward_kwargs.error_score to score such rows instead)")
        score = float(error_score)
    else:
        score = 1.0 if verdict.passed else 0.0
    return {"score": score, "acc": verdict.passed, "verdict": verdict.status,
            "reason": verdict.reason}
