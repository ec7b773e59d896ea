from raydistill.prompts import (
    BESPOKE_SYSTEM,
    R1_MATH_SUFFIX,
    PromptConfig,
    build_messages,
    template_hash,
)

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


def test_math_only_template_hash_is_the_one_runs_recorded_before_other_domains():
    # Hashes of r1 / bespoke before code and multiple-choice instructions existed:
    # a math run resumed after the upgrade keeps its provenance.
    assert template_hash(PromptConfig(template="r1")) == "bc1191bfb944"
    assert template_hash(PromptConfig(template="bespoke"), ["math"]) == "123dc94ae883"
    for template in ("r1", "bespoke"):
        cfg = PromptConfig(template=template)
        assert len({template_hash(cfg), template_hash(cfg, ["math", "code"]),
                    template_hash(cfg, ["math", "mcq"])}) == 3


CODE_STDIN = {"problem": "Print a+b.", "domain": "code", "starter_code": "",
              "test_cases": '{"inputs": ["1 2\\n"], "outputs": ["3\\n"]}'}
CODE_CALL = {"problem": "Sum the two lowest numbers.", "domain": "code",
             "starter_code": "def sum_two(numbers):\n\t",
             "test_cases": '{"fn_name": "sum_two", "inputs": [[[1, 2]]], "outputs": [3]}'}
MCQ = {"problem": "Which is a gas?\n\nA) iron\nB) neon", "domain": "mcq"}


def test_r1_code_prompts_ask_for_a_python_block_and_show_the_starter_code():
    stdin = build_messages(CODE_STDIN, PromptConfig(template="r1"))[0]["content"]
    assert stdin.startswith("Print a+b.\n") and "```python" in stdin and "standard input" in stdin
    call = build_messages(CODE_CALL, PromptConfig(template="r1"))[0]["content"]
    assert "```python\ndef sum_two(numbers):\n```" in call and "signature" in call
    assert "\\boxed" not in stdin + call


def test_humaneval_starter_code_is_not_shown_twice():
    prompt = "def add(x, y):\n    \"\"\"Add.\"\"\"\n"
    row = {"problem": prompt, "domain": "code", "starter_code": prompt,
           "test_cases": '{"test": "def check(c): pass", "entry_point": "add"}'}
    content = build_messages(row, PromptConfig(template="r1"))[0]["content"]
    assert content.count("def add") == 1 and "signature" in content


def test_mcq_prompts_ask_for_the_letter():
    r1 = build_messages(MCQ, PromptConfig(template="r1"))[0]["content"]
    assert r1.startswith(MCQ["problem"]) and '"Answer: X"' in r1
    bespoke = build_messages(MCQ, PromptConfig(template="bespoke"))[1]["content"]
    assert "letter" in bespoke and bespoke.endswith(MCQ["problem"])


def test_bespoke_code_prompt_uses_the_openthoughts_prefixes():
    stdin = build_messages(CODE_STDIN, PromptConfig(template="bespoke"))[1]["content"]
    call = build_messages(CODE_CALL, PromptConfig(template="bespoke"))[1]["content"]
    assert "take stdin as input" in stdin and "without invoking it" in call
