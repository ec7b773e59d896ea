"""The answer forms of issue 23, one function at a time: inequalities, lists, named values, numbers.

Each form that now passes has its near misses beside it, which must not. The
end-to-end rows (a whole response against a gold) are in tests/data/math_pairs.jsonl.
"""

import pytest

from raydistill.verifiers.math_answers import clean, final_answer, gold_answer
from raydistill.verifiers.math_compare import same_answer
from raydistill.verifiers.math_forms import as_interval, list_items, named, variables


@pytest.mark.parametrize("text, interval", [
    (r"x \lt 5", r"(-\infty, 5)"),
    (r"5 \gt x", r"(-\infty, 5)"),
    ("-x > -5", r"(-\infty, 5)"),
    (r"-x \geq 2", r"(-\infty, -2]"),
    (r"\frac{1}{2} < x", r"(\frac{1}{2}, \infty)"),
    (r"3 \ge x > -1", "(-1, 3]"),
    (r"x \leqslant 4", r"(-\infty, 4]"),
    ("x < -1 or x >= 4", r"(-\infty, -1) \cup [4, \infty)"),
    (r"\{x \mid x < 5\}", r"(-\infty, 5)"),
])
def test_inequalities_are_intervals(text, interval):
    assert as_interval(text) == interval


@pytest.mark.parametrize("text", ["x + y < 3", "2x < 6", r"3 < x \ge 1", "x = 5"])
def test_what_is_no_one_variable_inequality_stays(text):
    assert as_interval(text) == text


def test_the_variable_of_an_inequality_counts():
    assert variables("5 > y") == {"y"} and variables("x") == set()
    assert same_answer("x < 5", "y < 5")[0] is False
    assert same_answer("x < 5", "5 > x")[0] is True


@pytest.mark.parametrize("text, table", [
    ("AB=4, CD=5", (("ab", "cd"), [["4", "5"]])),
    (r"x = 2 \text{ or } x = 3", (("x",), [["2"], ["3"]])),
    ("x = 2, x = 3", (("x",), [["2"], ["3"]])),
    ("p=5,q=2;p=7,q=2", (("p", "q"), [["5", "2"], ["7", "2"]])),
    (r"(x, y) = (1, 2) \quad \text{and} \quad (2, 1)", (("x", "y"), [["1", "2"], ["2", "1"]])),
    ("S_1:S_2=7:32", (("s_1:s_2",), [["7:32"]])),
    ("x_1 = 2, x_2 = 3", (("x",), [["2"], ["3"]])),
])
def test_named_values_are_tables(text, table):
    assert named(text) == table


@pytest.mark.parametrize("text", ["2x + 4y - 3 = 0", "x = 1 = 2", "4, 5", "x = 1, y = 2, x = 3",
                                  r"F_n = \sum_{k=0}^{n} k"])
def test_what_is_no_table_of_named_values(text):
    assert named(text) is None


def test_list_items_and_whether_words_joined_them():
    assert list_items(r"1 \text{ and } 2 \quad 3") == (["1", "2", "3"], True)
    assert list_items("(1, 2), (3, 4)") == (["(1, 2)", "(3, 4)"], False)
    assert list_items(r"[1, 2] \cup \{3\}") == ([r"[1, 2] \cup \{3\}"], False)


@pytest.mark.parametrize("gold, answer, same", [
    ("AB=4, CD=5", "4, 5", True),
    ("AB=4, CD=5", "(4, 5)", True),
    ("AB=4, CD=5", "CD = 5, AB = 4", True),
    ("AB=4, CD=5", "5, 4", False),
    ("AB=4, CD=5", r"\{4, 5\}", False),
    ("AB=4, CD=5", "4", False),
    ("AB=4, CD=5", "4, 5, 6", False),
    ("x=2 or x=3", r"\{3, 2\}", True),
    ("x=2 or x=3", "(2, 3)", False),  # an interval, or a point: no set of two roots
    ("x=2 or x=3", "2", False),
    (r"x \in \{2, 3\}", "x = 3 or x = 2", True),
    (r"x \in \{2, 3\}", "x = 3 or x = 4", False),
    ("x = 1 or x = -1", r"\pm 1", True),
    ("x = 1 or x = -1", r"\pm 2", False),
    ("S_1:S_2=7:32", "7:32", True),
    ("S_1:S_2=7:32", r"\frac{7}{32}", True),
    ("S_1:S_2=7:32", "32:7", False),
    (r"21, 16 \text{ or } 11", "11, 16, 21", True),
    (r"21, 16 \text{ or } 11", "16, 21", False),
])
def test_named_and_worded_lists(gold, answer, same):
    assert same_answer(gold, answer)[0] is same


@pytest.mark.parametrize("written, value", [
    ("-2 1/2", r"-\frac{5}{2}"),
    (r"-2\frac{1}{2}", r"-\frac{5}{2}"),
    (r"-2\,\frac{1}{2}", r"-\frac{5}{2}"),
    ("+11 5/6", r"\frac{71}{6}"),
    ("1 000 1/2", r"\frac{2001}{2}"),
    (r"1\,000\frac{1}{2}", r"\frac{2001}{2}"),
    ("4 0/9", r"\frac{36}{9}"),
    (r"12\frac{1}{2}\%", r"\frac{25}{2}\%"),
    ("\u22123 1/4", r"-\frac{13}{4}"),
    (r"1\!000", "1000"), (r"1\,000", "1000"), ("1{,}000", "1000"), (r"1\ 000", "1000"),
    (r"11,\! 111,\! 100", "11111100"), ("14 {, }916", "14916"),
    ("32, 349", "32, 349"),  # a comma and a space: two numbers
])
def test_numbers_are_cleaned(written, value):
    assert clean(written) == value


@pytest.mark.parametrize("gold, answer", [
    ("-5/2", "2 1/2"), ("5/2", "-2 1/2"), ("-3/2", "-2 1/2"), ("73/6", "11 7/6"),
    ("71/6", "11\n5/6"),
    ("1000.5", "1,000"), ("1000", "1 000 1/2"), ("1000", r"1\,001"), ("40/9", r"4 4/9\%"),
])
def test_number_near_misses_fail(gold, answer):
    assert same_answer(clean(gold), clean(answer))[0] is not True


@pytest.mark.parametrize("response, answer", [
    ("答案是：5。", "5"), ("答：小明有5个苹果。", "5"), ("**最终答案**：5", "5"),
    ("故答案为：$5$", "5"), ("La réponse est donc 5.", "5"), ("Réponse finale : $5$", "5"),
    ("答案是 5 或 6", "5, 6"),
    (r"Final Answer: The final answer is $20\%$. I hope it is correct.", r"20\%"),
    ("The answer is\n\n$18$", "18"),
])
def test_announced_answers(response, answer):
    assert final_answer(response) == answer


def test_a_prose_gold_gives_its_announced_answer():
    gold = (r"Thus $y = 5$. Final Answer: The final answer is $28 \%$. I hope it is correct. "
            r"Note: $72\%$.")
    assert gold_answer(gold) == r"28 \%"
    assert gold_answer("$1$ and $2$ and $3$") == "1, 2, 3"
    assert gold_answer(r"$\$16386.17$") == "16386.17"
    steps = r"So $\boxed{200}$ and then $\boxed{255}$. Final Answer: The final answer is $10,455$."
    assert gold_answer(steps) == "10455"  # the boxes were steps


# Every way a gold lists the roots 2 and 3, against every way a response boxes them.
LISTED_GOLDS = ["2, 3", r"\{2,3\}", "x=2 or x=3", r"2 \text{ and } 3", "2 and 3", "$2$ and $3$",
                "x = 2, x = 3", "x_1 = 2, x_2 = 3", "x=2, 3", "2; 3", "2 or 3", r"x \in \{2, 3\}",
                r"$x=2$ or $x=3$", r"\boxed{2}, \boxed{3}", r"x_{1}=2,\ x_{2}=3", r"\{3, 2\}",
                r"x=2 \quad \text{or} \quad x=3"]
BOXED_ANSWERS = [r"$\boxed{2}$ and $\boxed{3}$", r"$x=\boxed{2}$ or $x=\boxed{3}$",
                 r"\boxed{3}, \boxed{2}", "\\[\\boxed{2}\\]\n\\[\\boxed{3}\\]",
                 r"$\boxed{2} \quad \text{and} \quad \boxed{3}$",
                 r"\boxed{x=2} \text{ or } \boxed{x=3}",
                 r"$x_1 = \boxed{2}$, $x_2 = \boxed{3}$", r"\boxed{x = 2 \text{ or } x = 3}",
                 r"\boxed{\{2, 3\}}", r"\boxed{2}\text{ and }\boxed{3}", r"\boxed{x = 2, 3}",
                 r"The solutions are \(\boxed{2}\) and \(\boxed{3}\)."]
NEAR_MISSES = [r"$\boxed{2}$ and $\boxed{4}$", r"$\boxed{2}$",
               r"$\boxed{2}$, $\boxed{3}$ and $\boxed{4}$", r"\boxed{[2, 3]}",
               r"\boxed{x=2} \text{ or } \boxed{x=-3}"]


def test_every_listed_gold_against_every_boxed_answer():
    from raydistill.verifiers.math_compare import compare

    wrong = [(gold, answer) for gold in LISTED_GOLDS for answer in BOXED_ANSWERS
             if compare(gold, answer)[0] != "pass"]
    wrong += [(gold, answer) for gold in LISTED_GOLDS for answer in NEAR_MISSES
              if compare(gold, answer)[0] == "pass"]
    naming_x = [gold for gold in LISTED_GOLDS if gold.startswith("x") or "$x" in gold]
    wrong += [(gold, "x = 2, y = 3") for gold in naming_x  # two unknowns are not two roots
              if compare(gold, r"\boxed{x = 2, y = 3}")[0] == "pass"]
    assert not wrong


INEQUALITIES = [  # (gold, the same set written otherwise, near misses)
    ("x<5", [r"x \lt 5", "5 > x", r"5 \gt x", "-x > -5", r"x \in (-\infty, 5)",
             r"\{x \mid x < 5\}"],
     [r"x \le 5", "x > 5", "5 < x", "-x < -5", "-x > 5", "x < -5", r"(-\infty, 5]",
      "y < 5"]),
    (r"x \ge -2", [r"-2 \le x", r"-x \le 2", r"x \geqslant -2", r"[-2, \infty)",
                    "x ⩾ -2"],
     [r"-2 < x", r"x > -2", r"-x \ge 2", r"x \le -2", r"(-2, \infty)"]),
    (r"-1 < x \le 3", [r"3 \ge x > -1", r"x \in (-1, 3]", r"-1 \lt x \leq 3"],
     [r"-1 \le x \le 3", r"3 > x > -1", "(-1, 3)"]),
    (r"(-\infty, 2) \cup (5, \infty)", [r"x < 2 \text{ or } x > 5", r"2 > x \text{ or } x > 5"],
     [r"x < 2 \text{ or } x \ge 5", r"2 < x < 5"]),
]


def test_every_inequality_written_otherwise():
    from raydistill.verifiers.math_compare import compare

    wrong = [(gold, answer) for gold, same, _ in INEQUALITIES for answer in same
             if compare(gold, rf"\boxed{{{answer}}}")[0] != "pass"]
    wrong += [(gold, answer) for gold, _, near in INEQUALITIES for answer in near
              if compare(gold, rf"\boxed{{{answer}}}")[0] == "pass"]
    assert not wrong
