"""Presets of code and multiple-choice data sets: rows shaped like the public releases.

The rows below copy the field names and value shapes of codeparrot/apps, BAAI/TACO,
openai_humaneval, mbpp, cais/mmlu, TIGER-Lab/MMLU-Pro, allenai/ai2_arc,
allenai/sciq and Idavidrein/gpqa (trimmed texts). The last tests run preset-mapped
rows through the real code verifier (real sandbox) and the mcq verifier.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raydistill import verifiers
from raydistill.config import ConfigError, load
from raydistill.sources import read_dataset, to_problem
from raydistill.sources.config import DatasetConfig
from raydistill.sources.presets import PRESETS, domain_of

APPS_STDIN = {
    "problem_id": 4012, "difficulty": "introductory", "url": "https://codeforces.com/problemset/problem/1/A",
    "question": "You are given two integers $a$ and $b$. Print $a+b$.\n\n-----Input-----\n\n"
                "The only line contains $a$ and $b$ ($1 \\le a, b \\le 10^9$).",
    "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a + b)\n"]),
    "input_output": json.dumps({"inputs": ["1 2\n", "1000000000 1000000000\n"],
                                "outputs": ["3\n", "2000000000\n"]}),
    "starter_code": "",
}
TACO_CALL = {
    "question": "Write a function that returns the sum of the two lowest positive numbers "
                "given an array of minimum 4 positive integers.",
    "solutions": json.dumps(["def sum_two_smallest_numbers(numbers):\n"
                             "    return sum(sorted(numbers)[:2])\n"]),
    "starter_code": "def sum_two_smallest_numbers(numbers):\n\t",
    "input_output": json.dumps({"fn_name": "sum_two_smallest_numbers",
                                "inputs": [[[5, 8, 12, 18, 22]], [[7, 15, 12, 18, 22]]],
                                "outputs": [[13], [19]]}),
    "difficulty": "EASY", "source": "codewars", "skill_types": "[]", "time_limit": None,
}
HUMANEVAL = {
    "task_id": "HumanEval/53",
    "prompt": "\n\ndef add(x: int, y: int):\n    \"\"\"Add two numbers x and y\n"
              "    >>> add(2, 3)\n    5\n    \"\"\"\n",
    "canonical_solution": "    return x + y\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate(0, 1) == 1\n"
            "    assert candidate(5, 7) == 12\n",
    "entry_point": "add",
}
MBPP = {
    "task_id": 2, "text": "Write a function to find the shared elements from the given two lists.",
    "code": "def similar_elements(a, b):\n  return tuple(set(a) & set(b))",
    "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                  "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))"],
    "test_setup_code": "", "challenge_test_list": [],
}
MMLU = {"question": "Find the degree for the given field extension Q(sqrt(2)) over Q.",
        "subject": "abstract_algebra", "choices": ["0", "2", "1", "3"], "answer": 1}
MMLU_PRO = {"question_id": 70, "question": "Which organelle makes ATP?",
            "options": ["Nucleus", "Ribosome", "Golgi", "Mitochondrion", "Lysosome"],
            "answer": "D", "answer_index": 3, "category": "biology"}
ARC = {"id": "Mercury_7175875", "question": "Which of these is a renewable resource?",
       "choices": {"text": ["coal", "oil", "wind", "natural gas"], "label": ["A", "B", "C", "D"]},
       "answerKey": "C"}
ARC_NUMBERED = {**ARC, "choices": {"text": ["coal", "wind", "oil"], "label": ["1", "2", "3"]},
                "answerKey": "2"}
SCIQ = {"question": "What type of organism is commonly used in preparation of foods such as "
                    "cheese and yogurt?",
        "distractor3": "viruses", "distractor1": "protozoa", "distractor2": "gymnosperms",
        "correct_answer": "mesophilic organisms", "support": "Mesophiles grow best ..."}
GPQA = {"Question": "Which particle mediates the electromagnetic force?",
        "Correct Answer": "photon", "Incorrect Answer 1": "gluon",
        "Incorrect Answer 2": "W boson", "Incorrect Answer 3": "graviton"}


def mapped(raw: dict, preset: str) -> dict:
    return to_problem(raw, DatasetConfig(name=preset, preset=preset), 0)


def test_apps_stdin_row_becomes_the_code_verifiers_tests():
    row = mapped(APPS_STDIN, "apps")
    assert row["input_error"] is None and row["domain"] == "code"
    assert row["problem"] == APPS_STDIN["question"]
    assert json.loads(row["test_cases"]) == json.loads(APPS_STDIN["input_output"])
    assert row["starter_code"] == ""
    assert row["ground_truth_solution"].startswith("a, b = map(int")


def test_taco_call_based_row_keeps_fn_name_and_starter_code():
    row = mapped(TACO_CALL, "taco")
    assert row["input_error"] is None and row["domain"] == "code"
    assert json.loads(row["test_cases"])["fn_name"] == "sum_two_smallest_numbers"
    assert row["starter_code"] == TACO_CALL["starter_code"]


def test_taco_null_fn_name_is_a_stdin_problem():
    raw = {**TACO_CALL, "starter_code": "", "input_output": json.dumps(
        {"fn_name": None, "inputs": ["1\n"], "outputs": ["1\n"]})}
    assert json.loads(mapped(raw, "taco")["test_cases"]) == {"inputs": ["1\n"], "outputs": ["1\n"]}


def test_humaneval_prompt_is_problem_and_starter_code():
    row = mapped(HUMANEVAL, "humaneval")
    assert row["input_error"] is None and row["domain"] == "code"
    assert row["problem"] == row["starter_code"] == HUMANEVAL["prompt"]
    assert json.loads(row["test_cases"]) == {"test": HUMANEVAL["test"], "entry_point": "add"}


def test_mbpp_problem_lists_the_tests_that_name_the_function():
    row = mapped(MBPP, "mbpp")
    assert row["input_error"] is None and row["domain"] == "code"
    assert row["problem"].startswith(MBPP["text"]) and "similar_elements((3, 4" in row["problem"]
    assert json.loads(row["test_cases"]) == {"test_list": MBPP["test_list"], "test_setup_code": ""}


@pytest.mark.parametrize("raw, preset, gold, first_option", [
    (MMLU, "mcq", "B", "A) 0"),
    ({**MMLU, "answer": "c"}, "mcq", "C", "A) 0"),
    (MMLU_PRO, "mmlu_pro", "D", "A) Nucleus"),
    (ARC, "arc", "C", "A) coal"),
    (ARC_NUMBERED, "arc", "B", "A) coal"),
])
def test_multiple_choice_lists_options_and_gold_is_the_letter(raw, preset, gold, first_option):
    row = mapped(raw, preset)
    assert row["input_error"] is None and row["domain"] == "mcq"
    assert row["ground_truth_solution"] == gold
    assert row["problem"].startswith(raw["question"] + "\n\n" + first_option + "\n")


@pytest.mark.parametrize("raw, preset, correct", [
    (SCIQ, "sciq", "mesophilic organisms"), (GPQA, "gpqa", "photon")])
def test_shuffled_options_are_stable_and_gold_names_the_correct_one(raw, preset, correct):
    row = mapped(raw, preset)
    assert row["input_error"] is None and row["domain"] == "mcq"
    options = dict(line.split(") ", 1) for line in row["problem"].split("\n\n")[-1].splitlines())
    assert len(options) == 4 and options[row["ground_truth_solution"]] == correct
    assert mapped(raw, preset) == row


def test_shuffling_does_not_always_put_the_gold_first():
    golds = {mapped({**SCIQ, "question": f"Question {i}?"}, "sciq")["ground_truth_solution"]
             for i in range(20)}
    assert len(golds) >= 3


@pytest.mark.parametrize("raw, preset, reason", [
    ({**APPS_STDIN, "input_output": ""}, "apps", "empty field 'input_output'"),
    ({**APPS_STDIN, "input_output": None}, "apps", "missing field 'input_output'"),
    ({**APPS_STDIN, "input_output": "{\"inputs\": [\"1"}, "apps",
     "field 'input_output' is not JSON"),
    ({**APPS_STDIN, "input_output": "[1, 2]"}, "apps", "field 'input_output' is not a JSON object"),
    ({**APPS_STDIN, "input_output": json.dumps({"inputs": ["1"], "outputs": []})}, "apps",
     "bad tests: 1 inputs but 0 outputs"),
    ({**TACO_CALL, "input_output": json.dumps({"fn_name": "f", "inputs": [1], "outputs": [1]})},
     "taco", "bad tests: call-based inputs must be argument lists"),
    ({**APPS_STDIN, "question": "  "}, "apps", "empty field 'question'"),
    ({**HUMANEVAL, "entry_point": ""}, "humaneval", "empty field 'entry_point'"),
    ({**MBPP, "test_list": []}, "mbpp", "field 'test_list' is not a non-empty list of asserts"),
    ({**MMLU, "answer": 4}, "mcq", "answer 4 names none of the 4 options"),
    ({**MMLU, "answer": "E"}, "mcq", "answer 'E' names none of the 4 options"),
    ({**MMLU, "choices": ["only one"]}, "mcq", "1 options; need 2 to 10"),
    ({**MMLU, "choices": "0, 2, 1, 3"}, "mcq", "field 'choices' is not a list of options"),
    ({**MMLU, "choices": ["0", "", "1"]}, "mcq", "option '' is not text"),
    ({**SCIQ, "distractor2": None}, "sciq", "missing field 'distractor2'"),
])
def test_malformed_rows_are_kept_with_their_reason(raw, preset, reason):
    row = mapped(raw, preset)
    assert row["input_error"].startswith(reason), row["input_error"]
    assert row["problem_id"] and row["domain"] == PRESETS[preset].domain
    assert row["test_cases"] == ""


def test_jsonl_file_of_apps_rows_keeps_bad_rows(tmp_path):
    path = tmp_path / "apps.jsonl"
    rows = [APPS_STDIN, {**APPS_STDIN, "question": "other", "input_output": ""}, TACO_CALL]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = list(read_dataset(DatasetConfig(name="apps", format="jsonl", path=str(path),
                                          preset="apps"), None))
    assert [r["input_error"] for r in out] == [None, "empty field 'input_output'", None]
    assert [r["problem"] for r in out] == [APPS_STDIN["question"], "other", TACO_CALL["question"]]
    assert len({r["problem_id"] for r in out}) == 3


def test_parquet_file_with_nested_arc_choices(tmp_path):
    bad = {**ARC, "question": "No key?", "answerKey": "E"}
    pq.write_table(pa.Table.from_pylist([ARC, ARC_NUMBERED | {"question": "Renewable?"}, bad]),
                   tmp_path / "arc.parquet")
    out = list(read_dataset(DatasetConfig(name="arc", format="parquet", path=str(tmp_path),
                                          preset="arc"), None))
    assert [r["ground_truth_solution"] for r in out[:2]] == ["C", "B"]
    assert out[2]["input_error"] == "answer 'E' names none of the 4 options"


def test_preset_sets_the_domain_unless_the_config_says_otherwise():
    assert domain_of("apps") == domain_of("mbpp") == "code"
    assert domain_of("sciq") == "mcq" and domain_of("gsm8k") == domain_of("") == "math"
    ds = "source.datasets=[{name: a, format: jsonl, path: x.jsonl, preset: apps}]"
    assert load(["conf=local", ds]).source.datasets[0].domain == "code"
    ds = "source.datasets=[{name: a, format: jsonl, path: x.jsonl, preset: sciq, domain: math}]"
    assert load(["conf=local", ds]).source.datasets[0].domain == "math"


def test_unknown_preset_fails_before_work_naming_the_key():
    ds = "source.datasets=[{name: a, format: jsonl, path: x.jsonl, preset: appz}]"
    with pytest.raises(ConfigError, match=r"source.datasets\[0\].preset.*apps"):
        load(["conf=local", ds])


# Real verifiers on preset-mapped rows: the mapping gives them what they need.
LIMITS = {"cpu_s": 2.0, "wall_s": 4.0, "total_wall_s": 20.0, "memory_mb": 256}


def verdict(row: dict, solution: str) -> str:
    record = {**row, "solution": solution}
    got = verifiers.get(row["domain"])(record, {"code": LIMITS})
    return f"{got.status}: {got.detail}"


@pytest.mark.parametrize("raw, preset, right, wrong", [
    (APPS_STDIN, "apps", "a, b = map(int, input().split())\nprint(a + b)",
     "a, b = map(int, input().split())\nprint(a * b)"),
    (TACO_CALL, "taco", TACO_CALL["starter_code"] + "return sum(sorted(numbers)[:2])",
     "def sum_two_smallest_numbers(numbers):\n    return sum(numbers[:2])"),
    (HUMANEVAL, "humaneval", "def add(x: int, y: int):\n    return x + y",
     "def add(x: int, y: int):\n    return x - y"),
    (MBPP, "mbpp", MBPP["code"], "def similar_elements(a, b):\n  return tuple(a)"),
])
def test_code_rows_pass_a_right_program_and_fail_a_wrong_one(raw, preset, right, wrong):
    row = mapped(raw, preset)
    assert verdict(row, f"The solution:\n```python\n{right}\n```\n").startswith("pass: accepted")
    wrong_verdict = verdict(row, f"The solution:\n```python\n{wrong}\n```\n")
    assert wrong_verdict.startswith("fail: wrong answer"), wrong_verdict


@pytest.mark.parametrize("raw, preset", [(MMLU, "mcq"), (ARC_NUMBERED, "arc"), (SCIQ, "sciq")])
def test_mcq_rows_pass_the_gold_letter_and_fail_another(raw, preset):
    row = mapped(raw, preset)
    gold = row["ground_truth_solution"]
    other = "A" if gold != "A" else "B"
    assert verdict(row, f"Checking each option.\nAnswer: {gold}") == f"pass: {gold} == {gold}"
    assert verdict(row, f"\\boxed{{{other}}}") == f"fail: {other} != {gold}"


def test_input_output_already_parsed_is_accepted():
    raw = {**APPS_STDIN, "input_output": json.loads(APPS_STDIN["input_output"])}
    assert mapped(raw, "apps")["test_cases"] == mapped(APPS_STDIN, "apps")["test_cases"]
