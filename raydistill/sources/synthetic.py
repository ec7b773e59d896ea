"""Synthetic arithmetic word problems with known answers, seeded.

They feed the local demo (the ``synthetic_arithmetic`` source) and the training
of the tiny teacher model the project ships (``tools/assets/train_tiny_teacher.py``).
Each problem comes with a worked R1-style response so the model can learn the
``<think>…</think>`` then ``\\boxed{N}`` shape.

>>> p = make_problem(random.Random(0))
>>> p.answer == int(p.solution.split("#### ")[-1])
True
>>> p.response.startswith("<think>") and "\\\\boxed{" in p.response
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

NAMES = ["Tom", "Ana", "Li", "Sam", "Mia", "Raj", "Eva", "Ben", "Zoe", "Omar"]
ITEMS = ["apples", "books", "coins", "pens", "cards", "shells", "stamps", "eggs"]


@dataclass(frozen=True)
class ArithmeticProblem:
    """One generated problem: question, GSM8K-style solution and R1 response."""

    question: str
    solution: str
    answer: int
    response: str


def _one_step(rng: random.Random, name: str, item: str) -> tuple[str, list[str], int]:
    a, b = rng.randint(2, 60), rng.randint(2, 40)
    kind = rng.choice(["add", "sub", "mul"])
    if kind == "add":
        text = f"{name} has {a} {item}. {name} gets {b} more {item}."
        return text, [f"{a} + {b} = {a + b}"], a + b
    if kind == "sub":
        a = a + b
        text = f"{name} has {a} {item}. {name} gives away {b} {item}."
        return text, [f"{a} - {b} = {a - b}"], a - b
    a, b = rng.randint(2, 12), rng.randint(2, 9)
    text = f"{name} has {a} boxes with {b} {item} in each box."
    return text, [f"{a} * {b} = {a * b}"], a * b


def worked(steps: list[str], value: int) -> tuple[str, str]:
    """``(solution, response)`` of worked ``steps`` ending at ``value``: GSM8K and R1 forms."""
    work = "\n".join(steps)
    response = f"<think>\n{work}\n</think>\n\nThe answer is \\boxed{{{value}}}."
    return f"{work}\n#### {value}", response


def make_problem(rng: random.Random) -> ArithmeticProblem:
    """Draw one problem: a one-step fact, sometimes followed by a second step."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    text, steps, value = _one_step(rng, name, item)
    if rng.random() < 0.5:
        c = rng.randint(2, 30)
        if rng.random() < 0.5:
            text += f" Then {name} buys {c} more {item}."
            steps.append(f"{value} + {c} = {value + c}")
            value += c
        else:
            c = min(c, value)
            text += f" Then {name} loses {c} {item}."
            steps.append(f"{value} - {c} = {value - c}")
            value -= c
    question = f"{text} How many {item} does {name} have now?"
    solution, response = worked(steps, value)
    return ArithmeticProblem(question, solution, value, response)


def problems(count: int, seed: int) -> Iterator[ArithmeticProblem]:
    """Yield ``count`` problems; the same seed always gives the same problems."""
    rng = random.Random(seed)
    for _ in range(count):
        yield make_problem(rng)
