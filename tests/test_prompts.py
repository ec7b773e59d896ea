from raydistill.config import PromptConfig
from raydistill.prompts import BESPOKE_SYSTEM, R1_MATH_SUFFIX, build_messages, template_hash

PROBLEM = {"problem": "What is 6 * 7?", "domain": "math", "source": "demo"}


def test_r1_template_is_one_user_message_asking_for_a_boxed_answer():
    messages = build_messages(PROBLEM, PromptConfig(template="r1"))
    assert messages == [{"role": "user", "content": "What is 6 * 7?" + R1_MATH_SUFFIX}]


def test_bespoke_template_has_the_thought_solution_system_prompt():
    messages = build_messages(PROBLEM, PromptConfig(template="bespoke"))
    assert messages[0] == {"role": "system", "content": BESPOKE_SYSTEM}
    assert "<|begin_of_thought|>" in messages[0]["content"]
    assert messages[1]["content"].endswith("What is 6 * 7?")


def test_custom_jinja_template_sees_the_row_fields():
    cfg = PromptConfig(template="custom", system="Be brief.",
                       user_template="[{{ source }}] {{ problem }}")
    assert build_messages(PROBLEM, cfg) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "[demo] What is 6 * 7?"},
    ]


def test_template_hash_changes_with_the_prompt_text():
    hashes = {
        template_hash(PromptConfig(template="r1")),
        template_hash(PromptConfig(template="bespoke")),
        template_hash(PromptConfig(template="custom", user_template="{{ problem }}")),
        template_hash(PromptConfig(template="custom", user_template="Q: {{ problem }}")),
    }
    assert len(hashes) == 4
