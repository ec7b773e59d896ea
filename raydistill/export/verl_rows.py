r"""What verl's reward reads from a verl row: a ``data_source`` it routes, and the ground truth.

verl 0.9.1's ``default_compute_score(data_source, solution_str, ground_truth)``
picks a scorer by ``data_source`` and hands it ``reward_model.ground_truth`` as
is. Its scorers want (read in ``verl/utils/reward_score/``):

- ``lighteval/MATH`` (``math_reward``) and ``math_dapo``: the bare final answer
  (``56``, not GSM8K's worked ``8 * 7 = 56\n#### 56``): :func:`verl_ground_truth`
  gives what raydistill's math verifier reads as the gold (``gold_answer``);
  multiple choice gives the gold letter;
- ``apps`` / ``taco`` / ``codecontests`` / ``codeforces`` (``prime_code``): JSON
  ``{"inputs": [...], "outputs": [...]}`` of stdin/stdout texts, or with
  ``"fn_name"`` where each input is the arguments as JSON lines and each output
  a JSON text (not APPS's lists): :func:`to_verl_tests`. Assert tests
  (HumanEval, MBPP) have no such form: those rows keep raydistill's JSON and get
  ``raydistill/code``, which only raydistill's reward
  (:mod:`raydistill.export.verl_reward`) scores.

>>> verl_ground_truth({"domain": "math", "ground_truth_solution": "8 * 7 = 56\n#### 56"})
'56'
>>> verl_data_source({"domain": "math"}, {"math": "lighteval/MATH"})
'lighteval/MATH'
>>> verl_data_source({"domain": "code", "test_cases": '{"test": "...", "entry_point": "f"}'},
...                  {"code": "apps"})
'raydistill/code'
>>> to_verl_tests({"inputs": [[1, [2, 3]]], "outputs": [6], "fn_name": "f"})
{'inputs': ['1\n[2, 3]'], 'outputs': ['6'], 'fn_name': 'f'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from raydistill.verifiers.math_answers import gold_answer
from raydistill.verifiers.mcq import gold_letter

# The data_source of rows only raydistill's reward function scores: CUSTOM + domain.
CUSTOM = "raydistill/"


def _tests(problem: Mapping[str, Any]) -> dict[str, Any] | None:
    """The problem's test cases as a dict, or None (no tests, not JSON, not an object)."""
    try:
        tests = json.loads(problem.get("test_cases") or "null")
    except json.JSONDecodeError:
        return None
    return tests if isinstance(tests, dict) else None


def io_tests(tests: Mapping[str, Any] | None) -> bool:
    """True for input/output tests (APPS, TACO, CodeContests): all verl's code scorer runs.

    >>> io_tests({"inputs": ["1\\n"], "outputs": ["1\\n"]}), io_tests({"test_list": ["assert 1"]})
    (True, False)
    """
    return tests is not None and isinstance(tests.get("inputs"), list) and isinstance(
        tests.get("outputs"), list)


def to_verl_tests(tests: Mapping[str, Any]) -> dict[str, Any]:
    """Input/output tests in prime_code's form: call-based arguments as JSON lines, outputs as JSON.

    stdin/stdout tests are texts in both forms and pass through unchanged.
    """
    if not tests.get("fn_name"):
        return {"inputs": list(tests["inputs"]), "outputs": list(tests["outputs"])}
    return {"inputs": ["\n".join(json.dumps(arg) for arg in args) for args in tests["inputs"]],
            "outputs": [json.dumps(out) for out in tests["outputs"]],
            "fn_name": tests["fn_name"]}


def from_verl_tests(tests: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_verl_tests`: the form raydistill's code verifier reads.

    >>> from_verl_tests(to_verl_tests({"inputs": [[1, "a"]], "outputs": [[2]], "fn_name": "f"}))
    {'inputs': [[1, 'a']], 'outputs': [[2]], 'fn_name': 'f'}
    """
    if not tests.get("fn_name"):
        return dict(tests)
    return {"inputs": [[json.loads(line) for line in text.split("\n")] if text else []
                       for text in tests["inputs"]],
            "outputs": [json.loads(text) for text in tests["outputs"]],
            "fn_name": tests["fn_name"]}


def verl_ground_truth(problem: Mapping[str, Any]) -> str:
    """``reward_model.ground_truth`` of a problem in the form its domain's verl scorer reads."""
    domain, gold = problem.get("domain"), problem.get("ground_truth_solution") or ""
    if domain == "math":
        return gold_answer(gold) if gold.strip() else ""
    if domain == "mcq":
        return gold_letter(gold) or gold
    if domain == "code":
        tests = _tests(problem)
        if io_tests(tests):
            return json.dumps(to_verl_tests(tests or {}))
        return problem.get("test_cases") or ""
    return gold


def verl_data_source(problem: Mapping[str, Any], data_sources: Mapping[str, str]) -> str:
    """The row's ``data_source``: its domain's in ``data_sources``, else ``raydistill/<domain>``.

    Code whose tests are not input/output pairs gets ``raydistill/code``: verl's
    code scorer would score every response of it 0.
    """
    domain = str(problem.get("domain") or "")
    if domain == "code" and not io_tests(_tests(problem)):
        return CUSTOM + domain
    return data_sources.get(domain) or CUSTOM + domain
