r"""Field mappings of known data sets: how one raw row becomes a problem's fields.

A preset names the verifier domain of its rows and maps a raw row onto
``problem``, ``ground_truth_solution``, ``test_cases`` and ``starter_code``, the
fields :mod:`raydistill.verifiers` reads. The field names are those of the public
releases on the Hugging Face hub:

- math (``gsm8k``, ``numinamath``, ``math``): question and answer text.
- ``apps`` (codeparrot/apps), ``taco`` (BAAI/TACO): ``question``,
  ``input_output`` (a JSON string: ``inputs``/``outputs``, plus ``fn_name`` when
  the tests call a function) and ``starter_code``; ``test_cases`` is
  ``input_output`` as the code verifier reads it (checked with the verifier's own
  parser). Rows with an empty or unreadable ``input_output`` become input errors.
- ``humaneval`` (openai_humaneval): ``prompt`` (also the starter code), ``test``,
  ``entry_point``; gold is ``canonical_solution``.
- ``livecodebench`` (livecodebench/code_generation_lite): ``question_content``,
  ``starter_code`` and the public tests (stdin, or functional calls of
  ``metadata.func_name`` with one JSON argument per input line).
- ``mbpp`` (mbpp, config full): ``text``, ``test_list``, ``test_setup_code``; the
  problem lists the tests, as in the MBPP paper, since they name the function.
- multiple choice, the problem lists the options as ``A) ...`` and gold is the
  letter: ``mcq`` (MMLU: ``question``, ``choices``, ``answer`` as 0-based index or
  letter), ``mmlu_pro`` (``options``, ``answer`` letter), ``arc`` (ai2_arc:
  ``choices`` ``{text, label}``, ``answerKey``), ``sciq`` (``correct_answer``,
  ``distractor1..3``) and ``gpqa`` (``Question``, ``Correct Answer``,
  ``Incorrect Answer 1..3``). SciQ and GPQA keep the right answer in one field, so
  their options are shuffled with a seed taken from the question: the same row
  always gets the same letters, and the gold is not always ``A``.
- ``raydistill``: a problem list ``raydistill select`` wrote (or any rows with
  raydistill's own problem fields): ``problem``, ``ground_truth_solution``,
  ``test_cases`` (code: the verifier's JSON, checked again) and ``starter_code``
  as they are; the data set's ``domain`` says which verifier.

A row a preset cannot use raises :class:`RowError`, whose message is the reason
kept on the row.

>>> PRESETS["apps"].domain, PRESETS["sciq"].domain, domain_of("")
('code', 'mcq', 'math')
>>> mapped = PRESETS["mcq"].map({"question": "2+2?", "choices": ["3", "4"], "answer": 1})
>>> mapped["problem"], mapped["ground_truth_solution"]
('2+2?\n\nA) 3\nB) 4', 'B')
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raydistill import verifiers

# MMLU-Pro has ten options (A-J), the most of any public multiple-choice set; the
# mcq verifier reads letters A-J.
LETTERS = string.ascii_uppercase[:10]


class RowError(ValueError):
    """A raw row this preset cannot use; the message is the reason kept on the row."""


# (raw row, question field, answer field) -> the problem's fields; raises RowError.
Mapper = Callable[[Mapping[str, Any], str, str], dict[str, str]]


def text_field(raw: Mapping[str, Any], name: str, required: bool = True) -> str:
    """The text of field ``name``; RowError when missing, empty or not text."""
    value = raw.get(name)
    if value is None:
        if not required:
            return ""
        raise RowError(f"missing field {name!r}")
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError(f"field {name!r} is not valid UTF-8") from None
    if not isinstance(value, str):
        raise RowError(f"field {name!r} is {type(value).__name__}, not text")
    if required and not value.strip():
        raise RowError(f"empty field {name!r}")
    return value


def _fields(problem: str, gold: str = "", tests: str = "", starter: str = "") -> dict[str, str]:
    return {"problem": problem, "ground_truth_solution": gold, "test_cases": tests,
            "starter_code": starter}


def _checked_tests(tests: Mapping[str, Any], starter: str) -> str:
    """``tests`` as JSON, after the code verifier's own parser accepted it."""
    # Through the registry: the code verifier's module (and its sandbox) loads when
    # a code row is converted, not when a config naming presets is loaded.
    parse_tests = importlib.import_module(verifiers.BUILTIN["code"]).parse_tests
    try:
        parse_tests(dict(tests), starter)
    except (ValueError, TypeError) as exc:
        raise RowError(f"bad tests: {exc}") from None
    return json.dumps(tests)


def _math(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
    return _fields(text_field(raw, question), text_field(raw, answer))


def _apps(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
    problem = text_field(raw, question)
    tests = raw.get("input_output")
    if not isinstance(tests, Mapping):  # the hub's releases store it as a JSON string
        try:
            tests = json.loads(text_field(raw, "input_output"))
        except json.JSONDecodeError as exc:
            raise RowError(f"field 'input_output' is not JSON: {exc}") from None
    if not isinstance(tests, dict):
        raise RowError("field 'input_output' is not a JSON object")
    starter = text_field(raw, "starter_code", required=False)
    # TACO writes "fn_name": null for stdin problems; the verifier treats it as absent.
    tests = {k: v for k, v in tests.items() if v is not None}
    # Reference solutions (a JSON list) are not needed to verify; the first is the gold.
    return _fields(problem, _first_solution(raw.get(answer)), _checked_tests(tests, starter),
                   starter)


def _first_solution(value: Any) -> str:
    try:
        solutions = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return ""
    return solutions[0] if isinstance(solutions, list) and solutions and isinstance(
        solutions[0], str) else ""


def _json_field(raw: Mapping[str, Any], name: str) -> Any:
    value = raw.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError(f"field {name!r} is not JSON: {exc}") from None
    return value


def _livecodebench(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
    """LiveCodeBench's public tests: stdin tests, or calls of ``metadata.func_name``.

    A functional test's input holds one JSON argument per line (LeetCode style, called
    as ``Solution().func_name``). The private tests ship pickled, which is not read.
    """
    problem = text_field(raw, question)
    starter = text_field(raw, "starter_code", required=False)
    cases = _json_field(raw, "public_test_cases")
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
        raise RowError("field 'public_test_cases' is not a list of tests")
    if {c.get("testtype") for c in cases} == {"functional"}:
        name = (_json_field(raw, "metadata") or {}).get("func_name")
        if not name:
            raise RowError("functional tests without metadata.func_name")
        try:
            args = [[json.loads(line) for line in str(c["input"]).splitlines()] for c in cases]
            outputs = [json.loads(str(c["output"])) for c in cases]
        except (KeyError, json.JSONDecodeError) as exc:
            raise RowError(f"functional test is not JSON: {exc}") from None
        tests: dict[str, Any] = {"inputs": args, "outputs": outputs, "fn_name": name}
    else:
        tests = {"inputs": [str(c.get("input", "")) for c in cases],
                 "outputs": [str(c.get("output", "")) for c in cases]}
    return _fields(problem, "", _checked_tests(tests, starter), starter)


def _humaneval(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
    prompt = text_field(raw, question)
    tests = {"test": text_field(raw, "test"), "entry_point": text_field(raw, "entry_point")}
    return _fields(prompt, text_field(raw, answer, required=False),
                   _checked_tests(tests, prompt), prompt)


def _mbpp(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
    text = text_field(raw, question)
    test_list = raw.get("test_list")
    if not isinstance(test_list, list) or not test_list or not all(
            isinstance(t, str) and t.strip() for t in test_list):
        raise RowError("field 'test_list' is not a non-empty list of asserts")
    setup = text_field(raw, "test_setup_code", required=False)
    tests = {"test_list": test_list, "test_setup_code": setup}
    problem = f"{text}\nYour code should pass these tests:\n\n" + "\n".join(test_list)
    return _fields(problem, text_field(raw, answer, required=False), _checked_tests(tests, ""))


def _options_text(question: str, options: list[str]) -> str:
    if not 2 <= len(options) <= len(LETTERS):
        raise RowError(f"{len(options)} options; need 2 to {len(LETTERS)}")
    for option in options:
        if not isinstance(option, str) or not option.strip():
            raise RowError(f"option {option!r} is not text")
    lines = [f"{LETTERS[i]}) {option.strip()}" for i, option in enumerate(options)]
    return question + "\n\n" + "\n".join(lines)


def _gold_letter(answer: Any, count: int, labels: list[str] | None = None) -> str:
    """The gold letter from an index, a letter, or one of ``labels`` (ARC's "1".."4")."""
    if labels is not None and answer in labels:
        answer = labels.index(answer)
    if isinstance(answer, str) and answer.strip().isdigit() and labels is None:
        answer = int(answer.strip())
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < count:
        return LETTERS[answer]
    if isinstance(answer, str) and answer.strip().upper() in LETTERS[:count]:
        return answer.strip().upper()
    raise RowError(f"answer {answer!r} names none of the {count} options")


def _choices(choices_field: str) -> Mapper:
    def mapper(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
        text = text_field(raw, question)
        options: Any = raw.get(choices_field)
        labels = None
        if isinstance(options, Mapping):  # ARC: {"text": [...], "label": ["A", ...]}
            options, labels = options.get("text"), options.get("label")
        if not isinstance(options, list):
            raise RowError(f"field {choices_field!r} is not a list of options")
        return _fields(_options_text(text, options),
                       _gold_letter(raw.get(answer), len(options), labels))
    return mapper


def _shuffled(wrong_fields: tuple[str, ...]) -> Mapper:
    def mapper(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
        text = text_field(raw, question)
        correct = text_field(raw, answer)
        options = [correct] + [text_field(raw, name) for name in wrong_fields]
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        random.Random(seed).shuffle(options)
        return _fields(_options_text(text, options), LETTERS[options.index(correct)])
    return mapper


@dataclass(frozen=True)
class Preset:
    """A data set's verifier domain, default question/answer fields and row mapping."""

    domain: str
    question: str
    answer: str
    mapper: Mapper = field(default=_math)

    def map(self, raw: Mapping[str, Any], question: str = "", answer: str = "") -> dict[str, str]:
        """Problem fields of ``raw``; ``question``/``answer`` override the field names."""
        return self.mapper(raw, question or self.question, answer or self.answer)


def _raydistill(raw: Mapping[str, Any], question: str, answer: str) -> dict[str, str]:
    tests = text_field(raw, "test_cases", required=False)
    starter = text_field(raw, "starter_code", required=False)
    if tests.strip():
        try:
            parsed = json.loads(tests)
        except json.JSONDecodeError as exc:
            raise RowError(f"field 'test_cases' is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise RowError("field 'test_cases' is not a JSON object")
        tests = _checked_tests(parsed, starter)
    return _fields(text_field(raw, question), text_field(raw, answer, required=False),
                   tests, starter)


_DISTRACTORS = ("distractor1", "distractor2", "distractor3")
_GPQA_WRONG = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")

PRESETS: dict[str, Preset] = {
    "gsm8k": Preset("math", "question", "answer"),
    "numinamath": Preset("math", "problem", "solution"),
    "math": Preset("math", "problem", "solution"),
    "apps": Preset("code", "question", "solutions", _apps),
    "taco": Preset("code", "question", "solutions", _apps),
    "humaneval": Preset("code", "prompt", "canonical_solution", _humaneval),
    "mbpp": Preset("code", "text", "code", _mbpp),
    "mcq": Preset("mcq", "question", "answer", _choices("choices")),
    "mmlu_pro": Preset("mcq", "question", "answer", _choices("options")),
    "arc": Preset("mcq", "question", "answerKey", _choices("choices")),
    "sciq": Preset("mcq", "question", "correct_answer", _shuffled(_DISTRACTORS)),
    "gpqa": Preset("mcq", "Question", "Correct Answer", _shuffled(_GPQA_WRONG)),
    "livecodebench": Preset("code", "question_content", "", _livecodebench),
    "raydistill": Preset("math", "problem", "ground_truth_solution", _raydistill),
}

# Without a preset: question/answer text, checked as math unless the domain says otherwise.
NO_PRESET = Preset("math", "question", "answer")


def get(name: str) -> Preset:
    """The preset called ``name`` ("" for none); ValueError listing the known ones."""
    if not name:
        return NO_PRESET
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def domain_of(name: str) -> str:
    """The verifier domain of a preset's rows (math without a preset or for an unknown one)."""
    return PRESETS[name].domain if name in PRESETS else NO_PRESET.domain
