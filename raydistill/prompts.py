"""Turn a problem row into chat messages.

Templates:

- ``r1``: DeepSeek-R1's recommended form, no system prompt, the instruction to
  box the final answer after the problem (code: a ``python`` code block, with
  the starter code shown; multiple choice: ``Answer: X``).
- ``bespoke``: the begin_of_thought / begin_of_solution system prompt used by
  Bespoke-Stratos, OpenThoughts and STILL, with their per-domain prefixes.
- ``custom``: a Jinja ``user_template`` rendered with the problem row's fields,
  with an optional ``system`` prompt.

>>> cfg = PromptConfig()
>>> build_messages({"problem": "What is 2+2?", "domain": "math"}, cfg)[0]["role"]
'user'
>>> template_hash(cfg) == template_hash(PromptConfig())
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jinja2
import pyarrow as pa

from raydistill import records
from raydistill.keys import key

TEMPLATES = ("r1", "bespoke", "custom")


@dataclass
class PromptConfig:
    """The ``prompt`` section: how a problem becomes chat messages."""

    template: str = key("r1", "r1 (DeepSeek-R1's: box the final answer), bespoke (the "
                        "begin_of_thought/begin_of_solution system prompt) or custom.")
    system: str | None = key(None, "System prompt of template custom (null = none).")
    user_template: str | None = key(None, "Jinja template over the problem row's fields "
                                    "(required by template custom).")


def prompt_checks(cfg: PromptConfig) -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the ``prompt`` section."""
    return [
        (cfg.template in TEMPLATES, "prompt.template", "must be one of r1, bespoke, custom"),
        (cfg.template != "custom" or bool(cfg.user_template), "prompt.user_template",
         "is required when prompt.template=custom"),
    ]

R1_MATH_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."

BESPOKE_SYSTEM = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic "
    "long thinking process before providing the final precise and accurate solutions. "
    "Structure your response into two sections: Thought and Solution. In the Thought "
    "section, detail your reasoning as <|begin_of_thought|> {thought with steps separated "
    "by '\\n\\n'} <|end_of_thought|>, analysing the question, exploring, verifying and "
    "revisiting steps. In the Solution section, present the final solution you deem "
    "correct as <|begin_of_solution|> {final, precise and clear solution} "
    "<|end_of_solution|>. Now, try to solve the following question through the above "
    "guidelines:"
)
BESPOKE_MATH_PREFIX = "Return your final response within \\boxed{}. "

# Code and multiple choice ask for the form their verifier reads: the last fenced
# python block (verifiers.code), "Answer: X" or \boxed{X} (verifiers.mcq).
R1_CODE_STDIN_SUFFIX = (
    "\nPlease reason step by step, then give a complete Python 3 program that reads from "
    "standard input and prints to standard output, in a ```python code block."
)
R1_CODE_FUNCTION_SUFFIX = (
    "\nPlease reason step by step, then give the complete Python 3 solution, keeping the "
    "function's name and signature, in a ```python code block."
)
R1_MCQ_SUFFIX = (
    "\nPlease reason step by step, and end your response with \"Answer: X\", where X is the "
    "letter of the correct option."
)
# The code prefixes Bespoke-Stratos and OpenThoughts used for stdin and call-based tests.
BESPOKE_CODE_STDIN_PREFIX = (
    "Generate an executable Python function generated from the given prompt. The function "
    "should take stdin as input and print the output. Simply call the function after the "
    "definition."
)
BESPOKE_CODE_FUNCTION_PREFIX = (
    "Generate an executable Python function generated from the given prompt. Return the "
    "function body without invoking it at the final solution."
)
BESPOKE_MCQ_PREFIX = (
    "Return your final response within \\boxed{} and only include the letter choice "
    "as your final response. "
)

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def build_messages(problem: dict[str, Any], cfg: PromptConfig) -> list[dict[str, str]]:
    """Chat messages asking the teacher to solve ``problem``."""
    text = problem["problem"]
    system = cfg.system
    domain = problem.get("domain") or "math"
    if domain == "code":
        text, function = _code_task(problem)
    if cfg.template == "r1":
        if domain == "code":
            user = text + (R1_CODE_FUNCTION_SUFFIX if function else R1_CODE_STDIN_SUFFIX)
        else:
            user = text + (R1_MCQ_SUFFIX if domain == "mcq" else R1_MATH_SUFFIX)
    elif cfg.template == "bespoke":
        system = system or BESPOKE_SYSTEM
        if domain == "code":
            prefix = BESPOKE_CODE_FUNCTION_PREFIX if function else BESPOKE_CODE_STDIN_PREFIX
            user = prefix + "\n" + text
        else:
            user = (BESPOKE_MCQ_PREFIX if domain == "mcq" else BESPOKE_MATH_PREFIX) + text
    else:
        user = _JINJA.from_string(cfg.user_template or "").render(**problem)
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user}]


def add_prompts(batch: pa.Table, prompt_cfg: PromptConfig) -> pa.Table:
    """The generate plan's first UDF: attach the chat ``messages`` each problem is asked with."""
    rows = records.rows(batch)
    for row in rows:
        row["messages"] = build_messages(row, prompt_cfg)
    return records.table(rows, records.GENERATION)


def _code_task(problem: dict[str, Any]) -> tuple[str, bool]:
    """The problem text with its starter code, and whether the tests call a function."""
    text, starter = problem["problem"], problem.get("starter_code") or ""
    try:
        tests = json.loads(problem.get("test_cases") or "{}")
    except json.JSONDecodeError:
        tests = {}
    keys = ("fn_name", "entry_point", "test_list")
    calls = isinstance(tests, dict) and any(tests.get(k) for k in keys)
    function = bool(starter.strip()) or calls
    # HumanEval's problem is its starter code: not shown twice.
    if starter.strip() and starter.strip() not in text:
        text += f"\n\nStart from this code:\n```python\n{starter.rstrip()}\n```"
    return text, function


def template_hash(cfg: PromptConfig, domains: Iterable[str] = ("math",)) -> str:
    """12 hex digits identifying the prompt text of ``domains``, recorded on every row.

    The math texts alone for math-only runs, so their hash is the same as before
    code and multiple-choice instructions existed.
    """
    parts = [cfg.template, cfg.system or "", cfg.user_template or ""]
    wanted = set(domains)
    if cfg.template == "r1":
        parts.append(R1_MATH_SUFFIX)
        if "code" in wanted:
            parts += [R1_CODE_STDIN_SUFFIX, R1_CODE_FUNCTION_SUFFIX]
        if "mcq" in wanted:
            parts.append(R1_MCQ_SUFFIX)
    elif cfg.template == "bespoke":
        parts += [BESPOKE_SYSTEM, BESPOKE_MATH_PREFIX]
        if "code" in wanted:
            parts += [BESPOKE_CODE_STDIN_PREFIX, BESPOKE_CODE_FUNCTION_PREFIX]
        if "mcq" in wanted:
            parts.append(BESPOKE_MCQ_PREFIX)
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]
