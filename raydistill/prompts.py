"""Turn a problem row into chat messages.

Templates:

- ``r1``: DeepSeek-R1's recommended form, no system prompt, the instruction to
  box the final answer after the problem.
- ``bespoke``: the begin_of_thought / begin_of_solution system prompt used by
  Bespoke-Stratos, OpenThoughts and STILL.
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
from typing import Any

import jinja2

from raydistill.config import PromptConfig

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

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def build_messages(problem: dict[str, Any], cfg: PromptConfig) -> list[dict[str, str]]:
    """Chat messages asking the teacher to solve ``problem``."""
    text = problem["problem"]
    system = cfg.system
    if cfg.template == "r1":
        user = text + R1_MATH_SUFFIX
    elif cfg.template == "bespoke":
        system = system or BESPOKE_SYSTEM
        user = BESPOKE_MATH_PREFIX + text
    else:
        user = _JINJA.from_string(cfg.user_template or "").render(**problem)
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user}]


def template_hash(cfg: PromptConfig) -> str:
    """12 hex digits identifying the prompt text, recorded on every row."""
    parts = [cfg.template, cfg.system or "", cfg.user_template or ""]
    if cfg.template == "r1":
        parts.append(R1_MATH_SUFFIX)
    elif cfg.template == "bespoke":
        parts += [BESPOKE_SYSTEM, BESPOKE_MATH_PREFIX]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]
