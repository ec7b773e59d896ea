"""The report's HTML rendered from hand-made summaries, without a run."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from raydistill.observe.report import render
from raydistill.observe.tally import pass_at_k, verdict_category


def sample(problem_id, idx, verdict, detail, reasoning="think " * 10, solution="42",
           source="s", domain="math", tokens=40, at=1000.0, reason=None):
    return {"problem_id": problem_id, "sample_idx": idx, "source": source, "domain": domain,
            "verdict": verdict, "reason": reason, "verdict_detail": detail, "prompt_tokens": 10,
            "completion_tokens": tokens, "generated_at": at, "generation_seconds": 2.0,
            "response_chars": len(reasoning) + len(solution),
            "reasoning_chars": len(reasoning), "solution_chars": len(solution)}


def test_render_unit():
    rows = [sample("a", 0, "pass", "42 == 42"), sample("a", 1, "fail", "41 != 42"),
            sample("b", 0, "fail", "truncated: hit max_tokens", solution="", reason="truncated"),
            sample("b", 1, "error", "verifier crashed: <script>alert(1)</script>"),
            {**sample("c", 0, "error", "input: missing field 'answer'", reason="input_error"),
             "response_chars": None,
             "reasoning_chars": None, "solution_chars": None, "completion_tokens": 0,
             "generated_at": None}]
    html = render(pa.Table.from_pylist(rows), {"problems_read": 3}, "s3://b/run")
    assert "<script>" not in html and "&lt;script&gt;" in html
    for text in ("wrong answer", "truncated", "bad input", "verifier error", "pass@1", "pass@2"):
        assert text in html
    # pass@1 over a (1 of 2) and b (0 of 2) = 25%; pass@2 = 50%.
    assert re.search(r"<td>all</td><td>2</td><td>25.0%</td><td>50.0%</td>", html)
    assert html.count("<svg") >= 8


def test_render_waves():
    waves = [{"wave": 0, "n": 2, "offset": 0, "problems": 3, "samples": 6, "verified": 2,
              "completion_tokens": 600, "newly_solved": 2},
             {"wave": 1, "n": 4, "offset": 2, "problems": 1, "samples": 4, "verified": 0,
              "completion_tokens": 400, "newly_solved": 0}]
    rows = [sample("a", 0, "pass", "42 == 42")]
    html = render(pa.Table.from_pylist(rows), {"problems_read": 3, "waves": waves}, "run")
    assert ("<td>0</td><td>2</td><td>3</td><td>6</td><td>2</td><td>33.3%</td><td>600</td>"
            "<td>2</td><td>2</td><td>300</td>") in html
    assert "<td>1</td><td>4</td><td>1</td><td>4</td><td>0</td><td>0.0%</td>" in html
    assert "Adaptive sampling: waves" not in render(pa.Table.from_pylist(rows), {}, "run")


def test_render_and_card_problem_table():
    from raydistill.export.card import render as card

    counts = {"problems": 5, "with_samples": 4, "solved": 3, "unsolved": 1, "all_verified": 1,
              "gold_agrees": 2, "gold_disagrees": 1, "suspect_gold": 1,
              "label_source": {"gold": 4, "none": 1},
              "pass_rate_bins": {"0": 1, "(0, 0.25]": 0, "(0.25, 0.5]": 2, "(0.5, 0.75]": 0,
                                 "(0.75, 1)": 0, "1": 1}}
    rows = [sample("a", 0, "pass", "42 == 42")]
    html = render(pa.Table.from_pylist(rows), {"problem_table": counts}, "run")
    assert ("<td>5</td><td>4</td><td>3</td><td>1</td><td>1</td><td>2</td><td>1</td><td>1</td>"
            "<td>gold: 4, none: 1</td>") in html
    assert "Problems by pass rate" in html
    assert "Problems by pass rate" not in render(pa.Table.from_pylist(rows), {}, "run")
    text = card({"problem_table": counts}, [])
    assert "| suspect gold | 1 |" in text and "problems/*.parquet" in text


def test_verdict_categories():
    # From the reason code alone (the detail text is never parsed).
    assert verdict_category("fail", "timeout") == "timeout"
    assert verdict_category("fail", "no_answer") == "no answer"
    assert verdict_category("error", "verifier_error") == "verifier error"
    assert verdict_category("error", None) == "verifier error"  # a row without a code
    assert pass_at_k(8, 2, 4) == pytest.approx(1 - (6 * 5 * 4 * 3) / (8 * 7 * 6 * 5))


def test_render_suspect_golds():
    labels = {"rows_by_label_source": {"gold": 8}, "suspect_gold": 1,
              "suspect_gold_by_source": {"gsm8k": 1},
              "suspect_problems": [{"problem_id": "p7", "source": "gsm8k", "problem": "2+2?",
                                    "gold": "#### <5>", "majority_answer": "4",
                                    "majority_share": 0.875}]}
    rows = [sample("p7", 0, "fail", "4 != 5")]
    html = render(pa.Table.from_pylist(rows), {"labels": labels}, "run")
    assert "Gold audit: suspect golds" in html and "1 problems with a suspect gold" in html
    assert ("<td>p7</td><td>gsm8k</td><td>2+2?</td><td>#### &lt;5&gt;</td><td>4</td>"
            "<td>88%</td>") in html
    clean = {**labels, "suspect_gold": 0, "suspect_problems": []}
    assert "Gold audit" not in render(pa.Table.from_pylist(rows), {"labels": clean}, "run")
