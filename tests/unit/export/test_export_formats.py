"""Unit tests of the export's pure parts: row builders, choices, pairs, options (no Ray)."""

import pytest

from raydistill import records
from raydistill.export.config import ExportError
from raydistill.export.formats import SCHEMAS, Render, assistant_text, trl_dpo
from raydistill.export.pairs import choose, make_pair
from raydistill.export.plan import export_rows, options


def sample(i, verified, pid="p", tokens=None, ppl=None, response=None, finish="stop"):
    return {"problem_id": pid, "sample_idx": i, "source": "s", "source_index": 0,
            "domain": "math", "problem": "q", "ground_truth_solution": "4",
            "test_cases": None, "verified": verified, "verdict": "pass" if verified else "fail",
            "response": response or f"r{i}", "reasoning": f"think {i}", "solution": str(i),
            "finish_reason": finish, "think_closed": finish != "length",
            "completion_tokens": tokens or 10 + i, "perplexity": ppl,
            "messages": [{"role": "user", "content": "q?"}]}


def test_pairs_by_perplexity_never_identical_texts():
    rows = [sample(0, True, ppl=3.0), sample(1, True, ppl=1.5), sample(2, False, ppl=9.0),
            sample(3, False, ppl=2.0)]
    pair, _ = make_pair(rows, "correct_vs_incorrect", "lowest_perplexity",
                        "highest_perplexity", (), 0)
    assert (pair["chosen"]["sample_idx"], pair["rejected"]["sample_idx"]) == (1, 2)
    same = [sample(0, True, response="x"), sample(1, False, response="x")]
    assert make_pair(same, "correct_vs_incorrect", "random", "random", (), 0) == (
        None, "identical_texts")
    assert make_pair(rows, "correct_vs_incorrect", "lowest_perplexity", "random", (), 0)[0]
    no_ppl = [sample(0, True), sample(1, False)]
    assert make_pair(no_ppl, "correct_vs_incorrect", "lowest_perplexity", "random", (), 0)[1] \
        == "no_perplexity"


def test_truncated_only_rejected_when_allowed():
    rows = [sample(0, True), sample(1, False, finish="length")]
    assert make_pair(rows, "correct_vs_incorrect", "random", "random", (), 0)[1] == \
        "no_failed_sample"
    pair, _ = make_pair(rows, "correct_vs_incorrect", "random", "random", ("truncated",), 0)
    assert pair["rejected"]["sample_idx"] == 1


def test_length_rule_shortest_vs_longest_verified():
    rows = [sample(0, True, tokens=50), sample(1, True, tokens=5), sample(2, True, tokens=20)]
    pair, _ = make_pair(rows, "length", "random", "random", (), 0)
    assert (pair["chosen"]["sample_idx"], pair["rejected"]["sample_idx"]) == (1, 0)
    row = trl_dpo(pair, Render())
    assert row["rule"].startswith("length") and row["chosen_tokens"] == 5


def test_random_choice_is_seeded_and_order_free():
    rows = [sample(i, True) for i in range(8)]
    picked = [r["sample_idx"] for r in choose(rows, 3, "random", 7)]
    assert picked == [r["sample_idx"] for r in choose(list(reversed(rows)), 3, "random", 7)]
    assert [r["sample_idx"] for r in choose(rows, 2, "shortest", 0)] == [0, 1]


def test_targets_and_styles():
    assert assistant_text("t", "s", Render(target="solution", style="bespoke")) == \
        "<|begin_of_solution|>\n\ns\n\n<|end_of_solution|>"
    assert assistant_text("t", "s", Render()) == "<think>\nt\n</think>\n\ns"


def test_export_rows_schema_and_left_out_counts():
    rows = [sample(0, True), sample(1, False), sample(2, True, pid="q"), sample(3, True, pid="q")]
    table = records.table(rows, records.OUTPUT)
    for fmt, schema in SCHEMAS.items():
        out = export_rows(table, fmt, {})
        assert out.schema.names[: len(schema)] == schema.names
    out = export_rows(table, "trl_sft", {"k": 1}).to_pylist()
    data = [r for r in out if r["_left_out"] is None]
    left = {r["_left_out"]: r["_count"] for r in out if r["_left_out"]}
    assert len(data) == 2 and left == {"not_verified": 1, "over_k": 1}
    dpo = export_rows(table, "trl_dpo", {}).to_pylist()
    assert {r["_left_out"] for r in dpo if r["_left_out"]} == {"no_failed_sample"}



def test_worker_parts_carry_the_rows_and_the_counts(tmp_path):
    import pyarrow.fs as pafs

    from raydistill.export.plan import copy_part, write_part
    from raydistill.export.sink import ShardWriter

    fs = pafs.LocalFileSystem()
    rows = [sample(0, True), sample(1, False), sample(2, True, pid="q"), sample(3, True, pid="q")]
    built = export_rows(records.table(rows, records.OUTPUT), "trl_sft", {"k": 1})
    parts = write_part(built, fs, str(tmp_path)).to_pylist()
    assert [(p["_part_rows"], p["_left_out"], p["_count"]) for p in parts] == [
        (2, None, None), (None, "not_verified", 1), (None, "over_k", 1)]
    writer = ShardWriter(fs, str(tmp_path / "data"), "jsonl", 10, SCHEMAS["trl_sft"])
    copy_part(fs, parts[0]["_part"], writer)
    assert writer.close() == [{"path": "part-00000.jsonl", "rows": 2}]
    assert not list(tmp_path.glob("*.parquet"))  # the part is deleted once copied
    nothing = write_part(export_rows(records.table(rows[:2], records.OUTPUT), "trl_sft",
                                     {"rows": "verified", "k": 1}).slice(1), fs, str(tmp_path))
    assert nothing.column("_part").to_pylist()[0] is None  # no row kept: no file
    # A part another node wrote to its own disk: named, not a bare FileNotFoundError.
    with pytest.raises(ExportError, match="not on the driver's filesystem"):
        copy_part(fs, str(tmp_path / "elsewhere.parquet"), writer)


def test_bad_options_named():
    with pytest.raises(ExportError, match="unknown export format 'alpaca'"):
        options("alpaca")
    with pytest.raises(ExportError, match="does not take key 'pairs.rule'"):
        options("trl_sft", {"pairs": {"rule": "length"}})
    with pytest.raises(ExportError, match="export.pick"):
        options("trl_sft", {"pick": "best"})
    with pytest.raises(ExportError, match="does not take key .kk."):
        options("verl", {"min_pass_rate": 0.5}) and options("sharegpt", {"kk": 1})


def test_run_config_export_section_gives_each_format_its_keys(monkeypatch):
    from raydistill.config import load
    from raydistill.export import plan

    calls = []
    monkeypatch.setattr(plan, "export_run",
                        lambda uri, fmt, ray_cfg=None, **kw: calls.append((fmt, kw)))
    cfg = load(["conf=openthoughts", "output.s3_endpoint=http://127.0.0.1:9"])

    class Out:  # what export_formats reads of the run's location
        uri, cfg = "s3://b/run", None

    Out.cfg = cfg.output
    plan.export_formats(Out(), cfg.export)
    got = dict(calls)
    assert list(got) == ["sharegpt", "sharegpt_pairs", "trl_sft", "trl_dpo", "verl"]
    assert got["trl_dpo"]["pairs"] == {"chosen": "lowest_perplexity",
                                       "rejected": "highest_perplexity"}
    assert got["sharegpt"]["style"] == "bespoke" and "pairs" not in got["sharegpt"]
    # verl renders no trace; every format reads the run from the run's own endpoint.
    assert "style" not in got["verl"]
    assert all(kw["s3_endpoint"] == "http://127.0.0.1:9" for kw in got.values())
    for fmt, kw in calls:
        plan.options(fmt, kw)  # every key given is one the format takes


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_shards_bounded_by_rows_and_by_size(tmp_path, file_format):
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    from raydistill.export.formats import SCHEMAS, jsonl_line, openai
    from raydistill.export.sink import ShardWriter

    rows = [openai(sample(i, True, response="x", pid=f"p{i}") | {"reasoning": "y" * 1000},
                   Render()) for i in range(40)]
    table = records.table(rows, SCHEMAS["openai"])
    per_row = table.nbytes / table.num_rows
    by_size = ShardWriter(pafs.LocalFileSystem(), str(tmp_path / "size"), file_format,
                          rows_per_file=1000, schema=SCHEMAS["openai"],
                          bytes_per_file=int(per_row * 10))
    for start in range(0, 40, 7):  # batches that do not line up with the shards
        by_size.write(table.slice(start, 7))
    sizes = [f["rows"] for f in by_size.close()]  # about 10 rows' worth of bytes each
    assert sum(sizes) == 40 and len(sizes) == 4 and all(9 <= n <= 11 for n in sizes)
    by_rows = ShardWriter(pafs.LocalFileSystem(), str(tmp_path / "rows"), file_format,
                          rows_per_file=15, schema=SCHEMAS["openai"])
    by_rows.write(table)
    assert [f["rows"] for f in by_rows.close()] == [15, 15, 10]
    names = sorted(p.name for p in (tmp_path / "rows").iterdir())
    assert names == [f"part-0000{i}.{file_format}" for i in range(3)]  # no temporaries left
    if file_format == "jsonl":
        lines = (tmp_path / "rows" / "part-00000.jsonl").read_text().splitlines()
        assert lines[0] == jsonl_line(rows[0])
    else:
        assert pads.dataset(str(tmp_path / "rows")).count_rows() == 40


def test_cli_keys_and_export_prefix():
    from raydistill.cli.export import parse

    assert parse(["r", "format=openai", "export.uri=/x", "mb_per_file=5"]) == (
        "r", "openai", {"uri": "/x", "mb_per_file": 5})
    with pytest.raises(ExportError, match="format=NAME is required"):
        parse(["r", "k=1"])


def test_verl_rows_route_each_domain_to_a_verl_scorer():
    import json

    from raydistill.export.formats import verl
    from raydistill.export.verl_rows import from_verl_tests

    def row(domain, gold="", tests=None, **opts):
        return verl({**sample(0, True), "domain": domain, "ground_truth_solution": gold,
                     "test_cases": tests, "starter_code": None, "samples": 1,
                     "verified_samples": 1, "pass_rate": 1.0}, Render(**opts))

    maths = row("math", "8 * 7 = 56\n#### 56")
    assert (maths["data_source"], maths["reward_model"]["ground_truth"]) == ("lighteval/MATH", "56")
    assert maths["extra_info"]["domain"] == "math" and maths["extra_info"]["source"] == "s"
    assert row("math", r"so $\boxed{\frac{1}{2}}$")["reward_model"]["ground_truth"] == \
        r"\frac{1}{2}"
    assert row("mcq", "(C)")["reward_model"]["ground_truth"] == "C"
    call = {"inputs": [[1, "a"], [2, "b"]], "outputs": [["a"], "bb"], "fn_name": "f"}
    code = row("code", tests=json.dumps(call))
    assert code["data_source"] == "apps"
    verl_tests = json.loads(code["reward_model"]["ground_truth"])
    assert verl_tests["inputs"] == ['1\n"a"', '2\n"b"'] and from_verl_tests(verl_tests) == call
    asserts = row("code", tests=json.dumps({"test_list": ["assert f(1) == 2"]}))
    assert asserts["data_source"] == "raydistill/code"
    chosen = row("math", "#### 1", data_sources={"math": "math_dapo"})
    assert chosen["data_source"] == "math_dapo"
    assert row("proofs", "x")["data_source"] == "raydistill/proofs"
    table = records.table([maths, code, asserts], SCHEMAS["verl"])
    assert table.column("extra_info").to_pylist()[0]["domain"] == "math"


def test_verl_and_llamafactory_keys():
    cfg = options("verl", {"data_sources": {"math": "math_dapo"}})
    assert (cfg.data_sources.math, cfg.data_sources.code) == ("math_dapo", "apps")
    with pytest.raises(ExportError, match="does not take key 'data_sources.math'"):
        options("trl_sft", {"data_sources.math": "x"})
    with pytest.raises(ExportError, match="data_sources"):
        options("verl", {"data_sources.math": " "})
    assert options("sharegpt_pairs", {"llamafactory.template": "llama3"}).llamafactory.template \
        == "llama3"
    with pytest.raises(ExportError, match="does not take key 'llamafactory.model'"):
        options("trl_dpo", {"llamafactory.model": "m"})


def test_raydistill_reward_for_verl_scores_and_refuses_errors():
    from raydistill.export.verl_reward import RewardError, compute_score

    good = compute_score("lighteval/MATH", "<think>8 * 7</think>\n\n$\\boxed{56}$", "56",
                         {"domain": "math"})
    assert (good["score"], good["acc"], good["verdict"]) == (1.0, True, "pass")
    wrong = compute_score("lighteval/MATH", "<think>8 * 7</think>\n\n$\\boxed{54}$", "56")
    assert (wrong["score"], wrong["reason"]) == (0.0, "wrong_answer")
    # The answer only inside the reasoning is no answer.
    assert compute_score("lighteval/MATH", "<think>\\boxed{56}</think> hmm", "56")["score"] == 0
    # A gold that reads as no answer: an error verdict, never a 0 unless asked for.
    with pytest.raises(RewardError, match="verifier_error"):
        compute_score("raydistill/math", "<think>x</think> \\boxed{1}", "")
    scored = compute_score("raydistill/math", "<think>x</think> \\boxed{1}", "", error_score=0.0)
    assert (scored["score"], scored["verdict"]) == (0.0, "error")
    with pytest.raises(RewardError, match="names no raydistill domain"):
        compute_score("openai/gsm8k", "#### 1", "1")


def test_llamafactory_file_takes_the_rows_system_and_covers_the_longest_sample(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    import yaml

    from raydistill.export.llamafactory import write_training_file
    from raydistill.output.config import OutputConfig
    from raydistill.output.location import OutputLocation

    out = OutputLocation(OutputConfig(uri=str(tmp_path / "run")))
    (tmp_path / "run" / "all").mkdir(parents=True)
    # The longest sample with a response counts; one without (a prompt too long) does not.
    pq.write_table(pa.table({"prompt_tokens": [100, 5000, 300],
                             "completion_tokens": [900, 0, None]}),
                   tmp_path / "run" / "all" / "part-0.parquet")
    export = tmp_path / "export"
    (export / "data").mkdir(parents=True)
    pq.write_table(pa.table({"system": ["Think, then answer.", "Think, then answer."]}),
                   export / "data" / "part-00000.parquet")
    (export / "data" / "part-00000.jsonl").write_text(
        json.dumps({"system": "", "conversations": [{"from": "human", "value": "x" * 3_000_000}]})
        + "\n")
    fs = pafs.LocalFileSystem()
    cfg = options("sharegpt_pairs", {"llamafactory": {"model": "my/base"}})
    name = write_training_file(out, fs, str(export), "sharegpt_pairs", "mine", cfg,
                               [str(export / "data" / "part-00000.parquet")], "parquet")
    written = yaml.safe_load((export / name).read_text())
    assert name == "llamafactory_dpo.yaml"
    assert (written["stage"], written["dataset"], written["dataset_dir"]) == (
        "dpo", "mine", str(export))
    assert (written["default_system"], written["model_name_or_path"]) == (
        "Think, then answer.", "my/base")
    assert 1000 * 1.1 + 64 <= written["cutoff_len"] <= 1536
    name = write_training_file(out, fs, str(export), "sharegpt", "mine", options("sharegpt"),
                               [str(export / "data" / "part-00000.jsonl")], "jsonl")
    written = yaml.safe_load((export / name).read_text())
    assert (written["stage"], written["default_system"]) == ("sft", "")
    assert written["model_name_or_path"] is None and written["bf16"] is False
