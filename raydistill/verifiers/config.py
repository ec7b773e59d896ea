"""The ``verify`` and ``judge`` sections: the CPU verifier pool and the LLM judge."""

from __future__ import annotations

import re
from dataclasses import dataclass

from raydistill import verifiers
from raydistill.keys import key
from raydistill.teachers.config import (
    SamplingConfig,
    TeacherConfig,
    VLLMTeacherConfig,
    sampling_checks,
    teacher_checks,
)
from raydistill.verifiers.code_config import CodeSandboxConfig, sandbox_checks

JUDGE_POLICIES = ("rule_only", "rule_or_judge")


@dataclass
class VerifyConfig:
    """The CPU verifier pool."""

    replicas: int = key(2, "Verifier actors.", perf=True)
    num_cpus: float = key(1.0, "Logical CPUs per verifier actor (fractional fits small "
                          "machines).", perf=True)
    batch_size: int = key(16, "Problems per verifier batch.", perf=True)
    math_timeout_s: float = key(5.0, "Hard deadline of one math check, seconds: its checker "
                                "child is killed and respawned, the sample gets error. A check "
                                "takes ~1 ms, so 5 s trips only on inputs that hang math-verify.")
    code: CodeSandboxConfig = key(factory=CodeSandboxConfig, doc="The code verifier's sandbox "
                                  "(raydistill/sandbox states what it protects against).")


def _judge_sampling() -> SamplingConfig:
    return SamplingConfig(n=1, temperature=0.0, top_p=1.0, max_tokens=256, seed=0)


@dataclass
class JudgeConfig:
    """The LLM judge: a cascade step after the rule verifiers (raydistill.verifiers.judge)."""

    policy: str = key("rule_only", "rule_only: the rule verifiers decide; rule_or_judge: a pass "
                      "from either counts (the judge is asked only when the rule fails or "
                      "cannot parse).")
    domains: list[str] = key(factory=lambda: ["math", "mcq"], doc="Domains the judge may "
                             "rescue (code is decided by its tests alone).")
    prompt: str | None = key(None, "The judge's prompt, {problem}, {reference} and {answer} "
                             "filled in (null = verifiers/judge.py's).")
    yes_pattern: str | None = key(None, "With a prompt of your own: a regular expression "
                                  "whose match in the reply means equivalent (e.g. "
                                  "\"含义是否一致：是\"); set with no_pattern. null = the "
                                  "default JSON reply.")
    no_pattern: str | None = key(None, "The regular expression whose match means not "
                                 "equivalent. When both match, the later match decides; "
                                 "when neither does, the sample is judge_error.")
    teacher: TeacherConfig = key(factory=lambda: VLLMTeacherConfig(model=""), doc="The judge "
                                 "model: the keys of `teacher` (a vLLM pool or name: openai).")
    sampling: SamplingConfig = key(factory=_judge_sampling, doc="The judge's decoding (default "
                                   "greedy, n: 1, 256 tokens).")


def verdict_pattern_checks(judge: JudgeConfig) -> list[tuple[bool, str, str]]:
    """``judge.yes_pattern`` and ``judge.no_pattern``: both or neither, each a valid regex."""
    checks = [((judge.yes_pattern is None) == (judge.no_pattern is None), "judge.yes_pattern",
               "and judge.no_pattern must be set together (or both null)")]
    for name in ("yes_pattern", "no_pattern"):
        pattern = getattr(judge, name)
        if pattern is None:
            continue
        try:
            error = "" if re.compile(pattern).pattern else "must not be empty"
        except re.error as e:
            error = f"is not a regular expression: {e}"
        checks.append((not error, f"judge.{name}", error))
    return checks


def verify_checks(v: VerifyConfig, judge: JudgeConfig) -> list[tuple[bool, str, str]]:
    """Checks of the ``verify`` and ``judge`` sections (shared with the verify-only command)."""
    domains = verifiers.known_domains()
    checks = [
        (v.replicas >= 1, "verify.replicas", "must be >= 1"),
        (v.num_cpus > 0, "verify.num_cpus", "must be > 0"),
        (v.math_timeout_s > 0, "verify.math_timeout_s", "must be > 0"),
        (v.batch_size >= 1, "verify.batch_size", "must be >= 1"),
        (judge.policy in JUDGE_POLICIES, "judge.policy", f"must be one of {JUDGE_POLICIES}"),
        (all(d in domains for d in judge.domains), "judge.domains", f"must be among {domains}"),
        *verdict_pattern_checks(judge),
        *sandbox_checks(v.code),
    ]
    if judge.policy != "rule_only":
        checks += [
            (bool(judge.teacher.model), "judge.teacher.model", "must be set for a judge policy"),
            (judge.sampling.n == 1, "judge.sampling.n", "must be 1 (one verdict per sample)"),
            *teacher_checks(judge.teacher, "judge.teacher"),
            *sampling_checks(judge.sampling, "judge.sampling"),
        ]
    return checks
