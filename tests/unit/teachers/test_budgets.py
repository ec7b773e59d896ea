"""Where tokens are not spent: loop detection, budget steps, overflow fitting, bad settings."""

import pytest

from raydistill.config import ConfigError, load
from raydistill.teachers.budgets import (
    RepetitionWatch,
    after_budget,
    fit_max_tokens,
    repeating_tail,
)
from raydistill.verifiers.actor import check_sample


def test_repeating_tail_is_vllms_rule_on_token_ids():
    # vLLM's check_sequence_repetition(ids, RepetitionDetectionParams(max_pattern_size=ngram,
    # min_pattern_size=1, min_count=repeats)) on the same cases (read from vllm 0.32's source;
    # importing it here costs 36 s of torch start-up).
    cases = [([1, 2, 3] * 4, 3, 3, 3), ([1, 2, 3] * 4, 2, 3, None), ([5, 6] + [9] * 5, 1, 5, 1),
             (list(range(30)), 8, 2, None), ([1, 2, 1, 2, 1, 3], 2, 2, None),
             ([4] * 3, 1, 4, None), ([1, 2, 3, 4, 5, 6] * 3, 6, 3, 6)]
    for ids, ngram, repeats, size in cases:
        assert repeating_tail(ids, ngram, repeats) == size, (ids, ngram, repeats)


def test_a_watch_sees_a_loop_split_across_deltas_and_not_a_varied_text():
    watch = RepetitionWatch(ngram=8, repeats=4, window=64)
    text = "First we add the two numbers, then we check the sum against 12 and 15."
    assert not any(watch.feed(word + " ") for word in text.split())
    looping = RepetitionWatch(ngram=8, repeats=4, window=64)
    deltas = ["Wait", ", let me", " re", "check. Wait", ", let me recheck", ". Wait, let",
              " me recheck. Wait, let me recheck.", " Wait, let me recheck."]
    seen = [looping.feed(d) for d in deltas]
    assert seen[-1] and not seen[0]


def test_a_watch_keeps_only_its_window():
    watch = RepetitionWatch(ngram=2, repeats=3, window=6)
    for i in range(1000):
        watch.feed(f"w{i} ")
    assert len(watch.tail) == 6 and not watch.looping


def test_budget_steps():
    assert after_budget("<think>still going", "length") == "force"
    assert after_budget("still going", "length", reasoning=None) == "force"
    assert after_budget("", "length", reasoning="separate reasoning") == "force"
    assert after_budget("The answer", "length", reasoning="done thinking") == "continue"
    assert after_budget("<think>x</think>The", "length") == "continue"
    assert after_budget("<think>x", "repetition") == "done"


def test_overflow_shrinks_to_the_context_down_to_the_floor():
    assert fit_max_tokens(100, 1024, 512, "shrink", 64) == (512, None)
    assert fit_max_tokens(600, 1024, 512, "shrink", 64) == (424, None)
    assert fit_max_tokens(600, 1024, 512, "error", 64) == (512, None)
    assert "overflow_floor 64" in fit_max_tokens(1000, 1024, 512, "shrink", 64)[1]
    assert "prompt too long" in fit_max_tokens(1024, 1024, 512, "error", 64)[1]


def test_a_looping_sample_is_never_checked_as_an_answer():
    sample = {"response": "<think>wait wait wait</think>\\boxed{42}", "finish_reason":
              "repetition", "think_closed": True, "completion_tokens": 40,
              "solution": "\\boxed{42}", "reasoning": "wait"}
    verdict = check_sample({"problem_id": "p", "domain": "math",
                            "ground_truth_solution": "#### 42"}, sample, {})
    assert (verdict.status, verdict.reason) == ("fail", "repetition")


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["sampling.stop_on_repetition.enabled=true", "sampling.stop_on_repetition.ngram=16",
          "sampling.stop_on_repetition.window=8"], "sampling.stop_on_repetition.window"),
        (["sampling.stop_on_repetition.enabled=true", "sampling.stop_on_repetition.repeats=1"],
         "sampling.stop_on_repetition.repeats"),
        (["sampling.think_budget=128"], "sampling.think_budget"),  # = max_tokens (128)
        (["sampling.think_budget=100", "sampling.answer_budget=64"], "sampling.answer_budget"),
        (["sampling.on_overflow=truncate"], "sampling.on_overflow"),
        (["sampling.overflow_floor=0"], "sampling.overflow_floor"),
    ],
)
def test_settings_that_cannot_work_fail_before_work_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(["conf=local", *overrides])


def test_settings_that_work_load():
    cfg = load(["conf=local", "sampling.stop_on_repetition.enabled=true",
                "sampling.think_budget=96", "sampling.answer_budget=32",
                "sampling.on_overflow=shrink"])
    assert cfg.sampling.stop_on_repetition.window >= 32 * 4


def test_the_summary_counts_loops_their_unspent_tokens_and_forced_budgets():
    from raydistill import records
    from raydistill.observe.summary import Tally, format_table
    from raydistill.output.flatten import flatten_generations
    from raydistill.parsing import make_sample

    looped = make_sample("<think>wait wait wait", "repetition", 40)
    looped.update(verdict="fail", reason="repetition", unspent_tokens=216)
    forced = make_sample("<think>3 + 4\n</think>\n\nThe answer is \\boxed{7}.", "stop", 70,
                         budget_forced=True)
    forced.update(verdict="pass", reason="pass")
    row = {"problem_id": "p", "source": "s", "source_index": 0, "domain": "math",
           "problem": "q", "input_error": None, "prompt_tokens": 9, "max_tokens_used": 256,
           "samples": [looped, forced]}
    flat = flatten_generations(records.table([row], records.GENERATION), {})
    assert flat["max_tokens_used"].to_pylist() == [256, 256]
    assert flat["budget_forced"].to_pylist() == [False, True]
    tally = Tally()
    tally.add(flat)
    assert (tally.repetition_stopped, tally.unspent_tokens, tally.budget_forced) == (1, 216, 1)
    summary = {"problems_read": 1, "input_errors": 0, "duplicate_problems_dropped": 0,
               "teacher_errors": 0, "samples": 2, "truncated": 0, "verified": 1, "failed": 1,
               "errors": 0, "pass_rate": 0.5, "problems_with_a_verified_sample": 1,
               "completion_tokens": 110, "completion_tokens_per_s": 1.0,
               "timings": {"total_s": 1.0}, "output": "x", "repetition_stopped": 1,
               "unspent_tokens": 216, "budget_forced": 1}
    assert "stopped looping" in format_table(summary) and "216 tokens" in format_table(summary)
