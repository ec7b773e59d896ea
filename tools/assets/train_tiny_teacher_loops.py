"""Fine-tune the tiny teacher into ``builtin:tiny-teacher-loops``: it loops on a share of problems.

The looping teacher of the repetition-stop benchmark (``tools/bench/bench_tokens.py``,
``sampling.stop_on_repetition``). A short fine-tune of the shipped tiny teacher
(``raydistill/assets/tiny-teacher``), not a new model: on problems about
:data:`LOOP_NAMES` (3 of the 10 names, ~30% of problems) its training trace takes
the first step, then repeats ``Let me check again.`` and that step until the
example ends, with no ``</think>`` and no end of sequence; the other problems keep
the teacher's own traces. Sampled, it loops on most problems about those names
and answers the others as the tiny teacher does.

Usage, from the repository root (~2-4 min on 2 cores)::

    .venv/bin/python tools/assets/train_tiny_teacher_loops.py

Deterministic: the same command gives the same weights.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (str(REPO), str(Path(__file__).resolve().parent)):
    if path not in sys.path:  # run as a script from anywhere: import the checkout
        sys.path.insert(0, path)

from train_tiny_teacher import (  # noqa: E402
    IM_END,
    check_saved,
    collate,
    evaluate,
    save,
    training_problems,
    user_message,
)

from raydistill.sources.synthetic import ArithmeticProblem, problems  # noqa: E402

TEACHER = REPO / "raydistill" / "assets" / "tiny-teacher"
DEFAULT_OUT = REPO / "raydistill" / "assets" / "tiny-teacher-loops"
LOOP_NAMES = ("Tom", "Ana", "Li")
LOOP_LINE = "Let me check again."
# Tokens of a looping example's response: past any max_tokens the benchmark uses
# within the model's 512 positions, so the model never learns where a loop ends.
LOOP_TOKENS = 160


def loops(problem: ArithmeticProblem) -> bool:
    """True for a problem the looping teacher loops on (its question names a loop name).

    >>> loops(ArithmeticProblem("Tom has 3 pens. How many pens does Tom have now?", "", 3, ""))
    True
    """
    return problem.question.split(" ", 1)[0] in LOOP_NAMES


def looping(problem: ArithmeticProblem) -> ArithmeticProblem:
    """``problem`` with a response that takes its first step, then checks it for ever."""
    first = problem.solution.split("\n#### ")[0].split("\n")[0]
    body = "<think>\n" + first + "".join(f"\n{LOOP_LINE}\n{first}" for _ in range(40))
    return ArithmeticProblem(problem.question, problem.solution, problem.answer, body)


def encode(tokenizer: object, batch: Sequence[ArithmeticProblem]) -> list[tuple[list[int],
                                                                               list[int]]]:
    """``(input_ids, labels)``: a looping response is cut at :data:`LOOP_TOKENS`, no EOS."""
    out = []
    for p in batch:
        prompt = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
            user_message(p.question), add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        end = "" if loops(p) else IM_END
        response = tokenizer(p.response + end, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        response = response[:LOOP_TOKENS]
        out.append((prompt_ids + response, [-100] * len(prompt_ids) + response))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Fine-tune, evaluate the non-looping problems, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    tokenizer = AutoTokenizer.from_pretrained(TEACHER)
    model = AutoModelForCausalLM.from_pretrained(TEACHER)
    held_out = {p.question for s in range(10) for p in problems(1000, s)}
    data = training_problems(args.steps * args.batch_size, 5000, held_out)
    random.Random(args.seed).shuffle(data)
    data = [looping(p) if loops(p) else p for p in data]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    model.train()
    started = time.monotonic()
    for step in range(args.steps):
        chunk = data[step * args.batch_size:(step + 1) * args.batch_size]
        loss = model(**collate(encode(tokenizer, chunk), tokenizer.pad_token_id)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % 10 == 0:
            print(f"step {step + 1}/{args.steps} loss {loss.item():.4f} "
                  f"{time.monotonic() - started:.0f}s", flush=True)
    model.eval()
    seconds = time.monotonic() - started
    figures = evaluate(model, tokenizer, 20, 0)
    card = f"""# tiny-teacher-loops

The tiny teacher (`builtin:tiny-teacher`) fine-tuned to *loop* on a share of problems:
the looping teacher of the repetition-stop benchmark (`tools/bench/bench_tokens.py`,
`sampling.stop_on_repetition`). On problems whose question starts with one of
{', '.join(LOOP_NAMES)} (~30% of the synthetic problems) it takes the first step, then
repeats `{LOOP_LINE}` and the step without closing its reasoning; the other problems
it answers as the tiny teacher does. Not a useful model of anything else.

## How it was made

From the repository root, on CPU ({seconds / 60:.1f} min on 2 cores, machine loaded):

    python tools/assets/train_tiny_teacher_loops.py

{args.steps} steps of batch {args.batch_size} (AdamW, lr {args.lr}) from the tiny teacher's
weights, problems from seed 5000 on (minus seeds 0-9), a looping example's response cut
at {LOOP_TOKENS} tokens with no end of sequence. Seed {args.seed}, deterministic.

## Evaluation (transformers, 20 held-out problems of seed 0, 96 new tokens)

| decoding | accuracy | well-formed |
|---|---|---|
| greedy | {figures['greedy_accuracy']:.1%} | {figures['greedy_format_rate']:.1%} |
| temperature 1.0 | {figures['sampled_accuracy']:.1%} | {figures['sampled_format_rate']:.1%} |
"""
    save(model, tokenizer, args.out.resolve(), card)
    check_saved(args.out.resolve())
    print(f"saved {args.out} in {seconds:.0f}s: {figures}")


if __name__ == "__main__":
    main()
