"""Correct programs written the way real data sets write them pass; wrong ones still fail.

One class per habit that made correct APPS/TACO, LeetCodeDataset, HumanEval and
MBPP solutions fail (issue 23, item 7): each has passing programs, and wrong or
hostile programs of the same shape that must not pass. Real bubblewrap sandbox.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from raydistill.verifiers import Verdict
from raydistill.verifiers.code import Suite, verify_code, wants_prelude

LIMITS = {"cpu_s": 1.0, "wall_s": 2.0, "total_wall_s": 10.0, "memory_mb": 256,
          "max_output_bytes": 1 << 16}


def check(code: str, tests: dict[str, object], starter: str = "") -> Verdict:
    code = textwrap.dedent(code).strip("\n") if code.startswith("\n") else code
    record = {"solution": f"Here it is.\n```python\n{code}\n```\n",
              "test_cases": json.dumps(tests), "starter_code": starter}
    return verify_code(record, {"code": LIMITS})


def passes(verdict: Verdict) -> bool:
    assert verdict.status in ("pass", "fail"), verdict  # never an error
    return verdict.passed


# ---- call-based programs keep a stdin reader under `if __name__ == "__main__":` ----

DOUBLE_CALL = {"fn_name": "double", "inputs": [[2], [5]], "outputs": [4, 10]}
MAIN_BLOCK = """
    def double(x):
        return {body}

    if __name__ == "__main__":
        n = int(input())
        print(double(n))
"""


@pytest.mark.parametrize("body, right", [("x * 2", True), ("x + 2", False)])
def test_a_main_block_does_not_run_in_call_based_tests(body, right):
    assert passes(check(MAIN_BLOCK.format(body=body), DOUBLE_CALL)) is right


@pytest.mark.parametrize("tests", [
    {"test_list": ["assert double(2) == 4"]},
    {"test": "def check(candidate):\n    assert candidate(2) == 4\n", "entry_point": "double"},
])
def test_a_main_block_does_not_run_in_assert_tests(tests):
    assert passes(check(MAIN_BLOCK.format(body="x * 2"), tests))
    assert not passes(check(MAIN_BLOCK.format(body="x * 3"), tests))


def test_a_script_still_runs_its_main_block():
    program = "if __name__ == '__main__':\n    print(int(input()) * 2)"
    assert passes(check(program, {"inputs": ["2\n"], "outputs": ["4\n"]}))


# ---- LeetCode programs use the names LeetCode imports for them ------------------

LEETCODE = """
    class Solution:
        def topTwo(self, nums: List[int], k: int) -> List[int]:
            seen = defaultdict(int, Counter(nums))
            heap: List[int] = []
            for x in sorted(seen):
                heappush(heap, (-seen[x], x))
            order = deque(heappop(heap)[1] for _ in range(k))
            total = list(accumulate(order))[-1]
            assert total == sum(order) and bisect_left([1, 3], 2) == 1 and inf > 10 ** 9
            assert gcd(12, 18) == 6 and pow(3, 4, 5) == 1  # the builtin pow, not math's

            @lru_cache(None)
            def keep(i: int) -> Optional[int]:
                return order[i]
            return [keep(i) {op} for i in range(k)]
"""
TOP_TWO = {"fn_name": "topTwo", "inputs": [[[1, 1, 1, 2, 2, 3], 2]], "outputs": [[1, 2]]}


@pytest.mark.parametrize("op, right", [("+ 0", True), ("* 2", False)])
def test_leetcode_prelude_in_call_based_tests(op, right):
    assert passes(check(LEETCODE.format(op=op), TOP_TWO)) is right


@pytest.mark.parametrize("op, right", [("+ 0", True), ("* 2", False)])
@pytest.mark.parametrize("starter", [
    "",
    "class Solution:\n    def topTwo(self, nums: List[int], k: int) -> List[int]:\n        ",
    "from typing import *\nfrom collections import *\ninf = float('inf')\n",
])
def test_leetcode_dataset_format(op, right, starter):
    tests = {"test": "def check(candidate):\n    assert candidate(nums = [1,1,1,2,2,3], k = 2)"
                     " == [1, 2]\n", "entry_point": "Solution().topTwo"}
    assert passes(check(LEETCODE.format(op=op), tests, starter)) is right


def test_a_method_named_like_a_prelude_name_is_the_programs():
    program = "class Solution:\n    def permutations(self, n):\n        return n + 1"
    tests = {"fn_name": "permutations", "inputs": [[1]], "outputs": [2]}
    assert passes(check(program, tests))


REVERSE = """
    class Solution:
        def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:
            previous = None
            while head{stop}:
                head.next, previous, head = previous, head, head.next
            return previous
"""
LINKED = {"test": "def check(candidate):\n"
                  "    assert is_same_list(candidate(head = list_node([1, 2, 3])),"
                  " list_node([3, 2, 1]))\n"
                  "    assert candidate(head = list_node([])) is None\n",
          "entry_point": "Solution().reverseList"}


def test_linked_lists_cross_by_value_and_the_trusted_helper_compares():
    assert passes(check(REVERSE.format(stop=""), LINKED))
    assert not passes(check(REVERSE.format(stop=" and head.next"), LINKED))


def test_redefining_the_comparison_helper_does_not_forge_a_pass():
    forged = """
        def is_same_list(a, b):
            return True
        class Solution:
            def reverseList(self, head):
                return head
    """
    assert not passes(check(forged, LINKED))


# ---- return values that are not JSON data ------------------------------------------


@pytest.mark.parametrize("returned, expected, right", [
    ("complex(1, 2)", "(1+2j)", True),
    ("complex(1, -2)", "(1+2j)", False),
    ("complex(3, 0)", 3, True),
    ("type(x)", "<class 'int'>", True),
    ("type(str(x))", "<class 'int'>", False),
    ("((x, x), {1: (x,)})", [[[5, 5], {"1": [5]}]], True),
    ("((x, x), {1: (x + 1,)})", [[[5, 5], {"1": [5]}]], False),
])
def test_values_outside_json_in_call_based_tests(returned, expected, right):
    tests = {"fn_name": "f", "inputs": [[5]], "outputs": [expected]}
    assert passes(check(f"def f(x):\n    return {returned}", tests)) is right


POLAR = "import cmath\ndef polar_rect(x, y):\n    return (cmath.polar(complex(x, y)), {second})"
POLAR_TEST = ["assert polar_rect(3, 4) == ((5.0, 0.9272952180016122), "
              "(-2+2.4492935982947064e-16j))"]


@pytest.mark.parametrize("second, right", [("cmath.rect(2, cmath.pi)", True),
                                           ("complex(-2, 0)", False)])
def test_complex_and_type_results_in_assert_tests(second, right):
    assert passes(check(POLAR.format(second=second), {"test_list": POLAR_TEST})) is right
    kinds = {"test_list": ["assert kind(1) == int", "assert kind('a') is str"]}
    assert passes(check("def kind(x):\n    return type(x)", kinds))
    assert not passes(check("def kind(x):\n    return int", kinds))


@pytest.mark.parametrize("test", [
    "assert f(1) == 42", "assert not f(1) != 42", "assert f(1) == (1+2j)",
    "assert [f(1)] == [42]", "assert f(1) in [42]",
])
def test_a_program_object_never_equals_a_test_value(test):
    hostile = """
        class Liar:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = object.__hash__
        class ComplexLiar(complex):
            def __eq__(self, other):
                return True
        def f(x):
            return ComplexLiar(0) if "j" in {test!r} else Liar()
    """
    assert not passes(check(hostile.format(test=test), {"test_list": [test]}))
    liar = ("class Liar(complex):\n    __eq__ = lambda self, other: True\n"
            "def f(x):\n    return Liar(0)")
    assert not passes(check(liar, {"fn_name": "f", "inputs": [[1]], "outputs": ["(1+2j)"]}))


# ---- assert tests that build the program's own objects -----------------------------

PAIRS = """
    class Pair(object):
        def __init__(self, a, b):
            self.a = a
            self.b = b

    def max_chain_length(arr, n):
        best, end = 0, float("-inf")
        for pair in sorted(arr, key=lambda p: p.b):
            if pair.a > end:
                best, end = best + 1, pair.b
        return {result}
"""
PAIR_TESTS = {"test_list": [
    "assert max_chain_length([Pair(5, 24), Pair(15, 25), Pair(27, 40), Pair(50, 60)], 4) == 3",
    "assert max_chain_length([Pair(1, 2), Pair(3, 4), Pair(5, 6), Pair(7, 8)], 4) == 4",
]}


@pytest.mark.parametrize("result, right", [("best", True), ("n", False)])
def test_tests_build_objects_of_the_programs_classes(result, right):
    assert passes(check(PAIRS.format(result=result), PAIR_TESTS)) is right


POINTS = """
    from dataclasses import dataclass
    from functools import lru_cache

    @dataclass(frozen=True)
    class Point:
        x: int
        y: int

    def add(p, q):
        return Point(p.x + q.x, p.y + q.y{extra})

    @lru_cache(maxsize=None)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def evens(n):
        return (i for i in range(0, n, 2))
"""
POINT_TESTS = {"test_list": [
    "assert add(Point(1, 2), Point(3, 4)) == Point(4, 6)",
    "assert add(Point(1, 2), Point(3, 4)).y == 6",
    "assert fib(20) == 6765",
    "assert list(evens(7)) == [0, 2, 4, 6] and evens(3) != [0, 2]",
]}


@pytest.mark.parametrize("extra, right", [("", True), (" + 1", False)])
def test_program_objects_compare_with_each_other_and_answer_requests(extra, right):
    assert passes(check(POINTS.format(extra=extra), POINT_TESTS)) is right


# ---- HumanEval runs the prompt, then the completion ----------------------------------

PROMPT = '''from typing import List
import math


def bump(x: int) -> int:
    return x + 1


def bumped_roots(xs: List[int]) -> List[int]:
    """Each square root, rounded down, plus one."""
'''
HUMANEVAL = {"test": "def check(candidate):\n    assert candidate([4, 9, 15]) == [3, 4, 4]\n",
             "entry_point": "bumped_roots"}


@pytest.mark.parametrize("completion, right", [
    ("def bumped_roots(xs: List[int]) -> List[int]:\n    return [bump(math.isqrt(x)) for x in xs]",
     True),
    ("    return [bump(math.isqrt(x)) for x in xs]\n", True),  # a body: HumanEval's own form
    (PROMPT + "    return [bump(math.isqrt(x)) for x in xs]\n", True),  # the prompt repeated
    ("def bumped_roots(xs: List[int]) -> List[int]:\n    return [bump(x // 3) for x in xs]", False),
])
def test_humaneval_completions_use_the_prompts_imports_and_helpers(completion, right):
    assert passes(check(completion, HUMANEVAL, PROMPT)) is right


# ---- a program that never ends is a time limit, in every assert style -----------------


@pytest.mark.parametrize("program", ["def f(x):\n    while True:\n        pass",
                                     "while True:\n    pass\ndef f(x):\n    return x"])
@pytest.mark.parametrize("tests", [
    {"test": "def check(candidate):\n    assert candidate(1) == 1\n", "entry_point": "f"},
    {"test_list": ["assert f(1) == 1"]},
])
def test_an_endless_loop_is_a_time_limit(program, tests):
    verdict = check(program, tests)
    assert verdict.status == "fail" and verdict.reason == "timeout", verdict
    assert verdict.detail.startswith("time limit on test 1/1"), verdict


@pytest.mark.parametrize("attack", [
    "os._exit(0)",  # the candidate dies mid-call
    "os.write(3, b'\\x00\\x00\\x00\\x05garbage') or time.sleep(5)",  # a reply not a message
    "body = b'[]\\n{\"value\": [\"stop\"], \"attrs\": []}'\n"
    "    os.write(3, struct.pack('>I', len(body)) + body)",  # "end of iteration" to a call
    "return 'x' * (1 << 17)",  # over the output limit
])
def test_what_the_candidate_does_to_its_socket_fails_even_a_catch_all_test(attack):
    program = f"import os, struct, time\ndef f(x):\n    {attack}\n"
    for catch in ("except Exception", "except BaseException"):
        tests = {"test": f"def check(candidate):\n    try:\n        assert candidate(1) == 2\n"
                         f"    {catch}:\n        pass\n", "entry_point": "f"}
        assert not passes(check(program, tests)), (attack, catch)
    early_end = {"test_list": ["assert all(map(lambda x: f(x) == 2, [1, 2]))"]}
    assert not passes(check(program, early_end)), attack


@pytest.mark.parametrize("program, suite, wanted", [
    ("def f(x):\n    return x", Suite("call", [], [], fn_name="f"), False),  # its imports saved
    ("def f(x):\n    return Counter(x)", Suite("call", [], [], fn_name="f"), True),
    ("def f(x: List[int]):\n    return x", Suite("call", [], [], fn_name="f"), True),
    ("class Solution:\n    def f(self, x):\n        return inf",
     Suite("assert", [], [], entry_point="Solution().f"), True),
    ("def f(x):\n    return Counter(x)", Suite("assert", [], [], entry_point="f"), False),
    ("def f(x):\n    return Counter(x)", Suite("stdio", [], []), False),
])
def test_the_prelude_is_loaded_for_leetcode_programs_that_use_it(program, suite, wanted):
    assert wants_prelude(suite, program) is wanted
