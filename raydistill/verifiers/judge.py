"""The LLM judge: a cascade step after the rule verifiers.

Only a sample whose rule verifier said ``fail`` or ``error`` (could not parse),
whose domain is in ``judge.domains`` and that was not truncated goes to the
judge. The judge is a teacher from the registry
(:func:`raydistill.teachers.get_teacher`: a vLLM engine or an OpenAI-compatible
endpoint) asked to compare the final answer with the reference and to reply with
one line of JSON, ``{"equivalent": "yes"|"no", "reason": "..."}``; a reply that
is not that (or a bare leading yes/no) is an ``error``, never a verdict. A prompt
of the user's own says how its verdict reads with ``judge.yes_pattern`` and
``judge.no_pattern`` (regular expressions searched in the reply after its
reasoning; the later match decides, no match is an ``error``).

Every verifier's verdict is recorded per sample (``verdicts``: the rule
verifier's, then the judge's); ``judge.policy`` decides the sample's
``verdict``:

- ``rule_only``: the rule verifier alone (the judge is not run);
- ``rule_or_judge``: pass if the rule verifier or the judge says so; fail if
  the judge says no; error if the judge could not answer (the outcome then
  depends on a verdict nobody gave).

>>> parse_reply('{"equivalent": "yes", "reason": "3/4 is 0.75"}')
Verdict(status='pass', detail='3/4 is 0.75')
>>> parse_reply("No. The reference says 18.").status
'fail'
>>> parse_reply("I think so").status
'error'
>>> parse_reply("两个答案都是18。含义是否一致：是", yes="含义是否一致：是", no="含义是否一致：否")
Verdict(status='pass', detail='matched yes_pattern')
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pyarrow as pa

from raydistill import records, verifiers
from raydistill.reasons import status_of
from raydistill.teachers import get_teacher
from raydistill.verifiers import Verdict
from raydistill.verifiers.config import JudgeConfig
from raydistill.verifiers.maths import gold_answer

logger = logging.getLogger(__name__)

DEFAULT_PROMPT = """You grade an answer to a problem. Compare the final answer with the \
reference answer: they are equivalent if they name the same value or choice, whatever the form.

Problem:
{problem}

Reference answer:
{reference}

Final answer to grade:
{answer}

Reply with one line of JSON: {"equivalent": "yes" or "no", "reason": "<one sentence>"}"""
# Long problems and answers are cut: the judge compares final answers, and the
# prompt must fit small judges' contexts (2k chars ~ 500 tokens each).
MAX_FIELD_CHARS = 2000
_JSON = re.compile(r"\{[^{}]*\}", re.S)
_LEADING = re.compile(r"^\W*(yes|no)\b\W*(.*)", re.I | re.S)


def parse_reply(text: str, yes: str | None = None, no: str | None = None) -> Verdict:
    """The judge's structured yes/no and reason; ``error`` if it gave neither.

    With ``yes`` and ``no`` patterns the verdict is the pattern matched last in
    ``text`` (a reply may quote the other one while it reasons) and nothing else.
    """
    if yes is not None and no is not None:
        return _pattern_verdict(text, yes, no)
    for candidate in reversed(_JSON.findall(text)):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        answer = str(data.get("equivalent", "")).strip().lower()
        if answer in ("yes", "no", "true", "false"):
            reason = str(data.get("reason") or "")[:300]
            return Verdict("pass" if answer in ("yes", "true") else "fail", reason)
    leading = _LEADING.match(text)
    if leading:
        reason = leading.group(2).strip()[:300]
        return Verdict("pass" if leading.group(1).lower() == "yes" else "fail", reason)
    return Verdict("error", f"judge reply not parseable: {text[:120]!r}", "judge_error")


def _pattern_verdict(text: str, yes: str, no: str) -> Verdict:
    last = {name: max((m.end() for m in re.finditer(pattern, text)), default=-1)
            for name, pattern in (("yes", yes), ("no", no))}
    if last["yes"] < 0 and last["no"] < 0:
        return Verdict("error", f"judge reply matches neither yes_pattern nor no_pattern: "
                       f"{text[-120:]!r}", "judge_error")
    if last["yes"] > last["no"]:
        return Verdict("pass", "matched yes_pattern")
    return Verdict("fail", "matched no_pattern")


def needs_judge(problem: dict[str, Any], sample: dict[str, Any], domains: list[str]) -> bool:
    """True for a checked (not truncated) sample the rule verifier failed or could not parse."""
    return (problem["domain"] in domains and sample["response"] is not None
            and bool(sample["think_closed"]) and sample["finish_reason"] != "length"
            and sample["verdict"] in ("fail", "error")
            # Unlabelled or dropped by the gold audit: nothing to judge against.
            and sample.get("reason") not in ("no_label", "suspect_gold"))


def _reference(problem: dict[str, Any], sample: dict[str, Any]) -> str:
    if sample.get("label_source") == "majority" and sample.get("majority_answer"):
        return str(sample["majority_answer"])[-MAX_FIELD_CHARS:]  # labels.policy's label
    gold = problem["ground_truth_solution"] or ""
    if problem["domain"] == "math":
        gold = gold_answer(gold)
    return gold[-MAX_FIELD_CHARS:]


def judge_messages(problem: dict[str, Any], sample: dict[str, Any],
                   template: str | None = None) -> list[dict[str, str]]:
    """The chat message asking the judge about one sample."""
    text = (template or DEFAULT_PROMPT)
    for key, value in (("{problem}", (problem["problem"] or "")[:MAX_FIELD_CHARS]),
                       ("{reference}", _reference(problem, sample)),
                       ("{answer}", (sample["solution"] or "")[-MAX_FIELD_CHARS:])):
        text = text.replace(key, value)
    return [{"role": "user", "content": text}]


def apply_policy(sample: dict[str, Any], judged: Verdict, seconds: float) -> dict[str, Any]:
    """``sample`` with the judge's verdict recorded and its own verdict under rule_or_judge."""
    rule_detail = sample["verdict_detail"] or ""
    entries = list(sample["verdicts"] or []) + [verifiers.entry("judge", judged, seconds)]
    if judged.status == "pass":
        verdict, detail = "pass", f"judge: yes ({judged.detail}); rule: {rule_detail}"
        reason = "pass"
    elif judged.status == "fail":
        verdict, detail = "fail", f"{rule_detail}; judge: no ({judged.detail})"
        # The rule's own failure (no_answer, ...) says more than the judge's "no".
        rule = sample.get("reason")
        reason = rule if rule and status_of(rule) == "fail" else judged.reason
    else:
        verdict, detail = "error", f"judge: {judged.detail}; rule: {rule_detail}"
        reason = judged.reason
    return dict(sample, verdict=verdict, reason=reason, verdict_detail=detail[:1000],
                verdicts=entries)


class JudgeActor:
    """Runs the judge teacher over the samples of a batch of problems that need it."""

    def __init__(self, judge: JudgeConfig, teacher_kwargs: dict[str, Any]) -> None:
        """``teacher_kwargs``: :func:`raydistill.teachers.constructor_kwargs` of the judge's."""
        self.domains = list(judge.domains)
        self.template = judge.prompt
        self.patterns = judge.yes_pattern, judge.no_pattern
        self.teacher = get_teacher(judge.teacher.name)(**teacher_kwargs)

    async def judge(self, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``problems`` with every sample that needs it judged and the policy applied.

        Each question is one prompt-only call of the judge teacher
        (:meth:`~raydistill.teachers.base.StreamingTeacher.complete`), keyed (and
        seeded) by ``<problem_id>/judge/<sample index>``; all of a batch's at once.
        """
        asked = [(p, s, judge_messages(problem, sample, self.template))
                 for p, problem in enumerate(problems)
                 for s, sample in enumerate(problem["samples"] or [])
                 if needs_judge(problem, sample, self.domains)]
        if not asked:
            return problems
        replies = await asyncio.gather(*(
            self.teacher.complete(messages, f"{problems[p]['problem_id']}/judge/{s}")
            for p, s, messages in asked))
        for (p, s, _), reply in zip(asked, replies, strict=True):
            samples = list(problems[p]["samples"])
            samples[s] = apply_policy(samples[s], *_verdict(reply, *self.patterns))
            problems[p] = dict(problems[p], samples=samples)
        return problems

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        """Judge a batch of ``records.GENERATION`` rows (one row per problem)."""
        yield records.table(await self.judge(records.rows(batch)), records.GENERATION)


def _verdict(reply: dict[str, Any], yes: str | None = None,
             no: str | None = None) -> tuple[Verdict, float]:
    seconds = reply.get("generation_seconds") or 0.0
    if reply.get("teacher_error") or not reply.get("samples"):
        return Verdict("error", f"judge teacher: {reply.get('teacher_error')}",
                       "judge_error"), seconds
    sample = reply["samples"][0]
    if sample["response"] is None:
        return Verdict("error", f"judge {sample['verdict_detail']}", "judge_error"), seconds
    return parse_reply(sample["solution"] or sample["response"], yes, no), seconds
