"""One trace record for every backend: table-driven over the output shapes each one returns.

The shapes are those the backends really send: the tiny teacher and QwQ in vLLM
(inline <think>), `vllm serve --reasoning-parser deepseek_r1` (vLLM 0.32 names the
field `reasoning`; these strings were captured from it), DeepSeek's API
(`reasoning_content`), R1-distill templates that open <think> in the prompt, and
the begin_of_thought / begin_of_solution format of the Bespoke/OpenThoughts prompt.
"""

import pytest

from raydistill.parsing import Trace, make_sample, normalize, split_response
from raydistill.teachers import resolve_model
from raydistill.teachers.vllm_engine import prompt_opens_think

BOXED = "The answer is \\boxed{7}."

# (name, content, reasoning field, finish_reason, opened in prompt) -> (reasoning, solution, closed)
CASES = [
    ("tiny teacher in vLLM: inline think",
     "<think>\n3 + 4 = 7\n</think>\n\nThe answer is \\boxed{7}.", None, "stop", False,
     ("3 + 4 = 7", BOXED, True)),
    ("vllm serve deepseek_r1 parser: `reasoning`",
     "\n\nThe answer is \\boxed{7}.", "\n3 + 4 = 7\n", "stop", False,
     ("3 + 4 = 7", BOXED, True)),
    ("vllm serve: cut inside the reasoning (content null)",
     None, "\n3 + 4 = ", "length", False, ("3 + 4 =", "", False)),
    ("vllm serve: cut inside the answer",
     "\n\nThe answer is", "\n3 + 4 = 7\n", "length", False, ("3 + 4 = 7", "The answer is", True)),
    ("DeepSeek API: reasoning_content",
     "**Final Answer**\n\\boxed{7}", "Okay, Tom has 3 apples. 3 + 4 = 7.", "stop", False,
     ("Okay, Tom has 3 apples. 3 + 4 = 7.", "**Final Answer**\n\\boxed{7}", True)),
    ("DeepSeek API with the bespoke prompt: tags in content",
     "<|begin_of_thought|>\n\n3 + 4\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
     "\\boxed{7}\n\n<|end_of_solution|>", "Okay, let me see.", "stop", False,
     ("Okay, let me see.\n3 + 4", "\\boxed{7}", True)),
    ("R1-distill in vLLM: <think> opened by the chat template",
     "Okay, 3 + 4 = 7.\n</think>\n\n" + BOXED, None, "stop", True,
     ("Okay, 3 + 4 = 7.", BOXED, True)),
    ("R1-distill in vLLM: opened by the template, cut before </think>",
     "Okay, 3 + 4 = ", None, "length", True, ("Okay, 3 + 4 =", "", False)),
    ("R1-distill without knowing the template: no opening tag",
     "Okay, 3 + 4 = 7.\n</think>\n\n" + BOXED, None, "stop", False,
     ("Okay, 3 + 4 = 7.", BOXED, True)),
    ("bespoke prompt: begin_of_thought / begin_of_solution",
     "<|begin_of_thought|>\n\nTom has 3, gets 4.\n\n<|end_of_thought|>\n\n"
     "<|begin_of_solution|>\n\n" + BOXED + "\n\n<|end_of_solution|>", None, "stop", False,
     ("Tom has 3, gets 4.", BOXED, True)),
    ("bespoke prompt: cut inside the thought",
     "<|begin_of_thought|>\n\nTom has 3, ", None, "length", False, ("Tom has 3,", "", False)),
    ("bespoke prompt: cut inside the solution",
     "<|begin_of_thought|>\nx\n<|end_of_thought|>\n<|begin_of_solution|>\nThe ans", None,
     "length", False, ("x", "The ans", True)),
    ("QwQ / R1 inline with several closes: answer after the last",
     "<think>a</think>\\boxed{3}</think>\\boxed{4}", None, "stop", False,
     ("a</think>\\boxed{3}", "\\boxed{4}", True)),
    ("a model that does not think", "The answer is 4.", None, "stop", False,
     ("", "The answer is 4.", True)),
    ("empty", "", None, "stop", False, ("", "", True)),
    ("reasoning field, empty answer, stopped", "", "thinking", "stop", False,
     ("thinking", "", True)),
]


@pytest.mark.parametrize("name, content, reasoning, finish, opened, expected", CASES,
                         ids=[c[0] for c in CASES])
def test_one_record_for_every_backend(name, content, reasoning, finish, opened, expected):
    sample = make_sample(content, finish, 5, reasoning, opened_in_prompt=opened)
    assert (sample["reasoning"], sample["solution"], sample["think_closed"]) == expected
    assert sample["finish_reason"] == finish
    # The response is the whole text, the reasoning inside <think> whatever the backend.
    if reasoning or opened:
        assert sample["response"].startswith("<think>\n")
    # Splitting the stored response again gives the same record (what readers re-derive).
    if reasoning and content and "<|" not in content:
        again = split_response(sample["response"])
        assert (again.reasoning, again.solution) == expected[:2]


def test_split_response_doctest_shapes():
    assert split_response("<think>\nlet me see\n</think>\n\\boxed{4}") == Trace(
        "let me see", "\\boxed{4}", True)
    assert normalize(None, None, "length") == Trace("", "", True)


def test_a_chat_template_that_opens_think_is_detected():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:tiny-teacher"))
    messages = [{"role": "user", "content": "What is 3 + 4?"}]
    plain = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert not prompt_opens_think(tokenizer, tokenizer.encode(plain))
    # The R1-distill template's ending: "<｜Assistant｜><think>\n".
    assert prompt_opens_think(tokenizer, tokenizer.encode(plain + "<think>\n"))
