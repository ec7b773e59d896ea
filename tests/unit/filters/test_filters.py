"""Unit tests of the filters' pure parts: normalisation, MinHash pieces, the n-gram
index, trace filters on hand-made degenerate traces, test dropping, config checks.
"""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet  # noqa: F401 - pa.parquet
import pytest

from raydistill import records
from raydistill.config import ConfigError, load
from raydistill.filters import copies, minhash
from raydistill.filters.code_tests import drop_tests
from raydistill.filters.config import TraceFiltersConfig
from raydistill.filters.decontam import build_index, match
from raydistill.filters.normalize import normalize, text_hash
from raydistill.filters.traces import FILTERS, filter_traces, first_reason
from tests.support.paths import REPO

CLEAN_REASONING = (
    "We need the number of apples left. Tom starts with 12 apples and gives away 5.\n\n"
    "So 12 - 5 = 7 apples remain. Let me double-check: 7 + 5 = 12, which matches.\n\n"
    "Therefore the answer is 7."
)
CLEAN = {"problem": "Tom has 12 apples and gives away 5. How many are left?",
         "reasoning": CLEAN_REASONING, "solution": "Tom has 7 apples left: \\boxed{7}",
         "completion_tokens": 80, "verified": True}


def test_normalize_ignores_case_spacing_punctuation_latex_and_thousands():
    a = "If $x = 1{,}000$, what is  $x\\,+\\,1$?"
    b = "if x = 1000 what is x + 1"
    assert normalize(a) == normalize(b) == "if x 1000 what is x 1"
    assert text_hash(a) == text_hash(b) != text_hash("if x 1001 what is x 1")


def test_near_twins_share_a_band_and_strangers_do_not():
    base = "Janet has 16 ducks that lay eggs every single day and she sells the rest at market"
    twin = base.replace("Janet", "Mary")
    other = "A train leaves the station at noon travelling sixty miles per hour toward the city"
    sig = minhash.signatures([base, twin, other], 3, 128, 1)
    bands, rows = minhash.band_params(0.7, 128)
    keys = minhash.band_keys(sig, bands, rows)
    assert set(keys[0]) & set(keys[1])
    assert not set(keys[0]) & set(keys[2])
    assert minhash.estimated_jaccard(sig[0], sig[1]) > 0.6 > minhash.estimated_jaccard(sig[0],
                                                                                      sig[2])


def test_pairs_list_each_member_with_earlier_members_of_its_bucket():
    table = pa.table({"bucket": [7, 7, 7, 9, 5, 5], "ordinal": [30, 10, 20, 40, 10, 10]},
                     schema=minhash.BUCKETS)
    found = minhash.pairs(table).to_pylist()
    assert sorted((e["member"], e["other"]) for e in found) == [(20, 10), (30, 10), (30, 20)]
    crowded = pa.table({"bucket": [1] * 50, "ordinal": list(range(50))}, schema=minhash.BUCKETS)
    capped = minhash.pairs(crowded, per_member=4).to_pylist()
    assert len(capped) == 1 + 2 + 3 + 4 * 46 and all(e["other"] < 4 for e in capped)
    assert minhash.pairs(minhash.BUCKETS.empty_table()).num_rows == 0


def test_clusters_join_chains_and_keep_the_first():
    assert minhash.clusters([(5, 3), (3, 1), (8, 5), (20, 11)]) == {3: 1, 5: 1, 8: 1, 20: 11}


def test_ngram_index_finds_overlap_and_short_benchmark_problems():
    bench = ["Natalia sold clips to 48 of her friends in April and then she sold half as many "
             "clips in May", "What is 2 plus 2"]
    index = build_index([("bench", bench)], 13)
    hit = match("Q: natalia sold clips to 48 of her friends in April and then she sold half "
                "as many in June?", index)
    assert hit is not None and hit["benchmark"] == "bench" and hit["benchmark_index"] == 0
    assert len(hit["ngram"].split()) == 13
    assert match("Tell me: what is 2 plus 2?", index)["benchmark_index"] == 1
    assert match("Natalia sold pencils to her friends in April", index) is None


def test_clean_trace_passes_every_filter():
    cfg = TraceFiltersConfig(min_tokens=10, max_tokens=1000)
    assert first_reason(CLEAN, cfg) is None


@pytest.mark.parametrize(("name", "change"), [
    ("final_answers", {"solution": "It is \\boxed{7}, or perhaps \\boxed{8}."}),
    ("repetition", {"reasoning": "Wait, let me recompute the apples once more carefully. " * 40}),
    ("repetition", {"reasoning": "\n\n".join(
        ["Let me reconsider whether Tom gave away five apples or six apples here."] * 5)}),
    ("language_mixing", {"reasoning": CLEAN_REASONING
                         + "\n\n所以答案是七个苹果，我们再检查一下这个计算"
                         "是否正确，汤姆一开始有十二个苹果然后给了别人五个苹果所以剩下七个苹果"
                         "这个答案是对的我们确认一下没有问题"}),
    ("length", {"completion_tokens": 5000}),
])
def test_each_trace_filter_catches_its_degenerate_trace(name, change):
    cfg = TraceFiltersConfig(max_tokens=4000)
    hit = first_reason({**CLEAN, **change}, cfg)
    assert hit is not None and hit[0] == name, hit
    assert name in FILTERS


def test_same_answer_boxed_twice_is_one_answer():
    assert first_reason({**CLEAN, "solution": "\\boxed{7} ... so \\boxed{ 7 }"},
                        TraceFiltersConfig()) is None


def test_filter_traces_turns_verified_samples_into_filtered_failures():
    rows = [{**{n: None for n in records.OUTPUT.names}, **CLEAN, "verdict": "pass"},
            {**{n: None for n in records.OUTPUT.names}, **CLEAN, "verdict": "pass",
             "solution": "\\boxed{1} \\boxed{2}"}]
    out = filter_traces(pa.Table.from_pylist(rows, schema=records.OUTPUT),
                        TraceFiltersConfig()).to_pylist()
    assert out[0]["verified"] and out[0]["verdict"] == "pass"
    assert not out[1]["verified"] and out[1]["verdict"] == "fail"
    assert out[1]["verdict_detail"].startswith("filtered:final_answers")


def test_drop_tests_keeps_the_format():
    tests = {"inputs": ["1", "2"], "outputs": ["1", "3"]}
    wrapped = json.dumps({"input_output": json.dumps(tests)})
    inner = json.loads(json.loads(drop_tests(wrapped, [1]))["input_output"])
    assert inner == {"inputs": ["1"], "outputs": ["1"]}


def test_filter_config_is_checked():
    with pytest.raises(ConfigError, match="filters.near.threshold"):
        load(["conf=local", "filters.near.threshold=1.5"])
    with pytest.raises(ConfigError, match="filters.code_tests.on_broken"):
        load(["conf=local", "filters.code_tests.on_broken=maybe"])
    with pytest.raises(ConfigError, match="filters.near.max_edit_fraction"):
        load(["conf=local", "filters.near.max_edit_fraction=1.5"])
    assert load(["conf=gsm8k_local"]).filters.near.max_edits == 3


def test_trace_filtered_samples_are_counted_in_summary_and_report(tmp_path):
    from raydistill.observe.report import render
    from raydistill.observe.summary import format_table, summarize
    from raydistill.observe.tally import read_samples
    from raydistill.output.location import OutputLocation

    blank = {n: None for n in records.OUTPUT.names}
    sample = {**blank, **CLEAN, "source": "s", "domain": "math", "response": "r",
              "think_closed": True, "finish_reason": "stop", "prompt_tokens": 10}
    rows = [{**sample, "problem_id": "a", "sample_idx": 0, "verdict": "pass"},
            *({**sample, "problem_id": "a", "sample_idx": i, "verified": False, "verdict": "fail",
               "reason": "filtered:repetition", "verdict_detail": "filtered:repetition: 60%"}
              for i in (1, 2)),
            {**sample, "problem_id": "b", "sample_idx": 0, "verified": False, "verdict": "fail",
             "reason": "filtered:length"},
            {**sample, "problem_id": "b", "sample_idx": 1, "verified": False, "verdict": "fail",
             "reason": "wrong_answer"}]
    out = OutputLocation(load(["conf=local", f"output.uri={tmp_path}"]).output)
    table = records.table(rows, records.OUTPUT)
    for path, part in ((out.all, table), (out.verified, table.slice(0, 1))):
        (tmp_path / path.rsplit("/", 1)[-1]).mkdir()
        pa.parquet.write_table(part, f"{path}/part-0.parquet")
    summary = summarize(out, {"problems": 2, "duplicates": 0, "input_errors": 0},
                        {"total_s": 1.0})
    assert summary["trace_filtered"] == {"length": 1, "repetition": 2}
    assert summary["failed"] == 4 and summary["verified"] == 1
    summary["removed"] = {"inputs": 3, "kept": 2, "removed": {"duplicate": 1}}
    text = format_table(summary)
    assert re.search(r"^  filtered: repetition +2$", text, re.M)
    assert "removed: duplicate" in text
    html = render(read_samples(out), summary, out.uri)
    # The funnel by source: 2 problems, 2 answered, 5 samples, 3 filtered, 1 verified.
    assert "<th>filtered by trace filters</th>" in html
    assert "<td>s</td><td>2</td><td>2</td><td>5</td><td>3</td><td>1</td>" in html
    assert "filtered: repetition" in html  # the verdict breakdown


def test_decontamination_by_similarity_catches_a_rewording_without_a_shared_ngram():
    from raydistill.filters.config import NearDupConfig
    from raydistill.filters.decontam import HITS, contaminated

    bench = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning "
             "and bakes muffins for her friends every day with four.")
    # Every 13-gram broken (a word changed every 8 words), most 3-word shingles kept.
    reworded = bench.replace("per day", "each day").replace("every morning", "each morning")
    problems = pa.table({"problem_id": ["a", "b", "c"], "input_error": [None, None, None],
                         "problem": [reworded, "A train leaves at noon going 60 miles per hour "
                                     "toward a city 300 miles away.", f"Solve: {bench}"]})
    plain = build_index([("bench", [bench])], 13)
    assert match(reworded, plain) is None
    with_near = build_index([("bench", [bench])], 13, NearDupConfig(threshold=0.5))
    hits = contaminated(problems, with_near)
    evidence = {p: json.loads(d) for p, d in zip(hits["problem_id"].to_pylist(),
                                                 hits["detail"].to_pylist(), strict=True)}
    assert hits.schema == HITS and sorted(evidence) == ["a", "c"]
    assert evidence["a"]["similarity"] >= 0.5 and "ngram" not in evidence["a"]
    assert evidence["c"]["ngram"] and "similarity" not in evidence["c"]
    assert contaminated(problems, plain)["problem_id"].to_pylist() == ["c"]


GSM8K = [json.loads(line)["question"] for line in
         (REPO / "data/gsm8k/test-300.jsonl").read_text()
         .splitlines()]
FILLERS = ["really", "actually", "just", "basically", "indeed", "also", "so", "quite"]


def near_clusters(texts: list[str]) -> dict[int, int]:
    """The near-duplicate decision of filters/problems.py without Ray: band buckets and
    exact keys, pairs per bucket, pairs checked, clusters (index -> kept index)."""
    from raydistill.filters.config import NearDupConfig

    near = NearDupConfig(enabled=True)
    sig = minhash.signatures(texts, near.shingle_words, near.num_perm, near.seed)
    ords = np.arange(len(texts))
    buckets = pa.table([np.concatenate([minhash.band_keys(sig, near.bands, near.rows).ravel(),
                                        [text_hash(t) for t in texts]]),
                        np.concatenate([np.repeat(ords, near.bands), ords])],
                       schema=minhash.BUCKETS)
    found = minhash.pairs(buckets)
    candidates = list(zip(found["member"].to_pylist(), found["other"].to_pylist(), strict=True))
    kept = copies.verified(candidates, {i: normalize(t) for i, t in enumerate(texts)},
                           near.max_edits, near.max_edit_fraction)
    return minhash.clusters(kept)


def insert_words(text: str, k: int, rng: random.Random) -> str:
    ws = text.split()
    for _ in range(k):
        ws.insert(rng.randint(0, len(ws)), rng.choice(FILLERS))
    return " ".join(ws)


def replace_words(text: str, k: int, rng: random.Random) -> str:
    ws = text.split()
    for at in rng.sample(range(len(ws)), k):
        ws[at] = rng.choice(["banana", "orange", "teacher", "garden", "seventy", "blue"])
    return " ".join(ws)


def retype(text: str) -> str:
    """Case, spacing, a full-width word, a zero-width space, curly quotes, 1000 -> 1,000."""
    text = re.sub(r"\b(\d)(\d{3})\b", r"\1,\2", text).replace("'", "\u2019")
    text = re.sub(r"\b([a-z]{3})([a-z]{3,})\b", "\\1\u200b\\2", text, count=1)
    text = re.sub(r"\b[A-Za-z]{4,}\b", lambda m: "".join(chr(ord(c) + 0xFEE0) for c in m.group()),
                  text, count=1)
    return "  " + text.upper().replace(" ", " \u00a0 ") + " ?!"


@pytest.mark.parametrize("kind", ["inserted", "replaced", "retyped"])
def test_copies_with_one_to_three_words_changed_or_retyped_join_their_original(kind):
    rng = random.Random(5)
    originals = GSM8K[:120]
    if kind == "retyped":
        planted = [retype(t) for t in originals]
    else:
        change = insert_words if kind == "inserted" else replace_words
        planted = [change(t, 1 + i % 3, rng) for i, t in enumerate(originals)]
    found = near_clusters(originals + planted)
    joined = [found.get(len(originals) + i) == i for i in range(len(planted))]
    assert sum(joined) / len(joined) >= 0.95, [p for p, j in zip(planted, joined, strict=True)
                                               if not j]
    assert all(i >= len(originals) for i in found), "two distinct GSM8K problems were merged"


def test_distinct_templated_problems_are_not_merged():
    """GSM8K's own near twins whose numbers differ (fuzz.ratio 97 and 95), and problems
    with one to three numbers changed, are distinct problems; a copy of one still joins it."""
    train = [
        "A train travels 270 miles in 3 hours. At the same rate, how many additional hours "
        "would it take to travel an additional 180 miles?",
        "A train travels 360 miles in 3 hours. At the same rate, how many additional hours "
        "would it take to travel an additional 240 miles?",
        "A plane travels 1200 miles in 3 hours. At the same rate, how many additional hours "
        "would it take to travel an additional 2000 miles?",
    ]
    rng = random.Random(3)
    renumbered = []
    for i, text in enumerate(GSM8K[:60]):
        spots = list(re.finditer(r"\b\d+\b", text))[: 1 + i % 3]
        for m in reversed(spots):
            text = text[:m.start()] + str(int(m.group()) + rng.randint(1, 9)) + text[m.end():]
        renumbered.append(text)
    texts = [*train, *GSM8K[:60], *renumbered, insert_words(train[1], 2, rng)]
    assert near_clusters(texts) == {len(texts) - 1: 1}


def test_same_problem_counts_word_edits_and_numbers():
    a = "tom has 12 apples and gives 5 to ann how many are left".split()
    assert copies.same_problem(a, [*a[:3], "red", *a[3:]])
    assert not copies.same_problem(a, ["tom", "has", "13", *a[3:]])  # a number changed
    assert copies.same_problem(a, ["tom", "has", "twelve", *a[3:]])  # a number dropped
    assert not copies.same_problem(a, ["x", "y", "z", "w", *a[4:]])  # 4 edits of 12 words
    long = [f"w{i}" for i in range(80)]
    assert copies.same_problem(long, long[:-8]) and not copies.same_problem(long, long[:-9])
