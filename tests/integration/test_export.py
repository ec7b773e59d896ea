"""Exports of one real finished run (Ray, vLLM on CPU, the tiny teacher), read by real consumers.

The run is conftest's ``demo_run`` (shared with tests/integration/test_e2e.py), with
``export.formats`` listing every format: the run writes them itself. It holds
error rows too (bad input, a prompt too long), as real runs do. Then
``datasets.load_dataset`` on the folder for every configuration of its card,
TRL's SFTTrainer and DPOTrainer a few optimiser steps on the shipped tiny model,
LLaMA-Factory (in its own venv, tests/support/llamafactory_env.py) loading the sharegpt
exports and training on each with the training file written beside it, verl (in
its own venv, tests/support/verl_env.py) loading the verl export and scoring responses
with its own reward and raydistill's, and the CLI's bad-input messages.
"""

import json
import os
import shutil
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import ray.data

from raydistill import records
from raydistill.config import load
from raydistill.export.__main__ import main as export_main
from raydistill.export.config import FORMATS
from raydistill.export.plan import export_run
from raydistill.output.location import OutputLocation
from raydistill.output.manifest import Manifest
from raydistill.output.row_groups import write_parts
from raydistill.teachers import resolve_model
from tests.support.llamafactory_env import llamafactory_python
from tests.support.paths import REPO
from tests.support.verl_env import verl_python

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(demo_run):
    return demo_run.uri, demo_run.summary


def problems_in(uri) -> int:
    """Problems in the run's all/, error rows' problems included."""
    table = pads.dataset(str(uri / "all"), format="parquet").to_table(columns=["problem_id"])
    return len(set(table["problem_id"].to_pylist()))


def test_rows_carry_messages_and_logprobs(finished_run):
    uri, _ = finished_run
    table = pads.dataset(str(uri / "all"), format="parquet").to_table()
    assert table.schema.equals(records.OUTPUT, check_metadata=False)
    rows = [r for r in table.to_pylist() if r["response"] is not None]
    assert all(r["messages"] and r["messages"][-1]["role"] == "user" for r in rows)
    assert all(r["logprobs_mode"] == "vllm:raw_logprobs" for r in rows)
    assert all(r["logprob_sum"] <= 0 and r["perplexity"] >= 1 for r in rows)


def test_every_format_written_by_the_run(finished_run):
    uri, summary = finished_run
    for fmt in FORMATS:
        done = json.loads((uri / "exports" / fmt / "export.json").read_text())
        assert done["rows"] > 0, fmt
        assert sum(f["rows"] for f in done["files"]) == done["rows"]
        # The workers' parts were copied into the shards and deleted.
        assert not (uri / "exports" / fmt / ".parts").exists(), fmt
    sft = json.loads((uri / "exports/sharegpt/export.json").read_text())
    assert sft["rows"] == summary["verified"]
    pairs = json.loads((uri / "exports/trl_dpo/export.json").read_text())
    # Every problem either gave a pair or says why not.
    assert pairs["problems_with_pair"] + sum(pairs["problems_without_pair"].values()) == \
        problems_in(uri)
    for pair in pads.dataset(str(uri / "exports/trl_dpo/data")).to_table().to_pylist():
        assert pair["chosen"] != pair["rejected"]
        assert pair["chosen_sample_idx"] != pair["rejected_sample_idx"]
    info = json.loads((uri / "exports/sharegpt_pairs/dataset_info.json").read_text())
    assert info["raydistill_sharegpt_pairs"]["ranking"] is True


def test_load_dataset_every_configuration_of_the_card(finished_run, tmp_path):
    from datasets import load_dataset

    uri, summary = finished_run
    cache = str(tmp_path / "hf")  # never an earlier session's cached split for this path
    card = (uri / "README.md").read_text()
    assert "configs:" in card and "Funnel" in card and "licence" in card
    assert load_dataset(str(uri), cache_dir=cache)["train"].num_rows == summary["verified"]
    assert load_dataset(str(uri), "all", cache_dir=cache)["train"].num_rows == \
        summary["rows_in_all"]
    assert load_dataset(str(uri), "problems", cache_dir=cache)["train"].num_rows == \
        summary["problem_table"]["problems"]
    for fmt in FORMATS:
        done = json.loads((uri / "exports" / fmt / "export.json").read_text())
        assert load_dataset(str(uri), fmt, cache_dir=cache)["train"].num_rows == done["rows"], fmt


def test_export_options_k_pick_band_and_bespoke(finished_run, tmp_path):
    uri, _ = finished_run
    done = export_run(str(uri), "openai", k=1, pick="shortest", style="bespoke",
                      rows="all", file_format="jsonl", rows_per_file=5,
                      uri=str(tmp_path / "openai"))
    lines = [json.loads(line) for f in sorted((tmp_path / "openai" / "data").iterdir())
             for line in f.read_text().splitlines()]
    assert len(lines) == done["rows"] <= problems_in(uri)
    assert all(f["rows"] <= 5 for f in done["files"])
    first = lines[0]["messages"]
    assert first[0]["role"] == "system" and "<|begin_of_thought|>" in first[-1]["content"]
    band = export_run(str(uri), "verl", min_pass_rate=0.01, max_pass_rate=0.99,
                      uri=str(tmp_path / "verl"))
    rates = pads.dataset(str(tmp_path / "verl" / "data"), format="parquet").to_table()
    assert all(0 < r["pass_rate"] < 1 for r in rates["extra_info"].to_pylist())
    assert band["rows"] + band["left_out"].get("outside_pass_rate_band", 0) \
        + band["left_out"].get("no_samples", 0) == problems_in(uri)


def test_bad_input_fails_before_work(finished_run, tmp_path, capsys):
    uri, _ = finished_run
    assert export_main([str(uri), "format=alpaca"]) == 2
    assert "unknown export format 'alpaca'" in capsys.readouterr().err
    assert export_main([str(uri), "format=trl_dpo", "k=2"]) == 2
    assert "does not take key 'k'" in capsys.readouterr().err
    unfinished = OutputLocation(load(["conf=local", f"output.uri={tmp_path / 'u'}"]).output)
    Manifest(fingerprint={}).save(unfinished)
    assert export_main([str(tmp_path / "u"), "format=trl_sft"]) == 2
    assert "unfinished run" in capsys.readouterr().err


def test_trl_sft_and_dpo_train_on_the_exports(finished_run, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    uri, _ = finished_run
    model_path = resolve_model("builtin:tiny-teacher")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    common = {"max_steps": 3, "per_device_train_batch_size": 2, "report_to": [],
              "use_cpu": True, "save_strategy": "no", "logging_steps": 1}
    sft_data = load_dataset(str(uri), "trl_sft", cache_dir=str(tmp_path / "hf"))["train"]
    sft = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_path),
                     args=SFTConfig(output_dir=str(tmp_path / "sft"), max_length=256, **common),
                     train_dataset=sft_data, processing_class=tokenizer)
    assert sft.train().global_step == 3
    dpo_data = load_dataset(str(uri), "trl_dpo", cache_dir=str(tmp_path / "hf"))["train"]
    dpo = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_path),
                     args=DPOConfig(output_dir=str(tmp_path / "dpo"), max_length=256, **common),
                     train_dataset=dpo_data, processing_class=tokenizer)
    assert dpo.train().global_step == 3


def _llamafactory_env(tmp_path) -> dict[str, str]:
    """Its own HF cache (datasets 4.0 beside our 5.2), offline, and none of our code."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
                  "HF_DATASETS_OFFLINE": "1"}


def test_llamafactory_loads_the_sharegpt_exports(finished_run, tmp_path):
    """get_dataset with the training file written beside each export (llamafactory-cli train)."""
    import yaml

    uri, _ = finished_run
    python = llamafactory_python()
    loader = REPO / "tests" / "support" / "llamafactory_load.py"
    for fmt, stage in (("sharegpt", "sft"), ("sharegpt_pairs", "dpo")):
        folder = uri / "exports" / fmt
        done = json.loads((folder / "export.json").read_text())
        training = yaml.safe_load((folder / done["llamafactory_file"]).read_text())
        assert (training["stage"], training["dataset"], training["dataset_dir"]) == (
            stage, done["dataset_info_entry"], str(folder.resolve()))
        rows = pads.dataset(str(folder / "data"), format="parquet").to_table().to_pylist()
        # The teacher was sent no system prompt: the rows carry none, nor does the template.
        assert training["default_system"] == "" == rows[0]["system"]
        found_path = tmp_path / f"{fmt}.json"
        subprocess.run([str(python), str(loader), resolve_model("builtin:tiny-teacher"),
                        str(folder / done["llamafactory_file"]), str(found_path)],
                       check=True, env=_llamafactory_env(tmp_path), cwd=tmp_path, timeout=600)
        found = json.loads(found_path.read_text())
        assert found["rows"] == done["rows"] > 0, fmt
        assert "You are Qwen" not in found["prompt"] and "<|im_start|>system" not in \
            found["prompt"]
        # cutoff_len covers every row: none would be cut.
        assert found["longest"] <= training["cutoff_len"], (found["longest"], training)
        if stage == "sft":
            assert {"input_ids", "labels"} <= set(found["columns"])
            # The trained-on tokens are one exported assistant turn, exactly.
            assert found["target"].removesuffix("<|im_end|>\n") in {
                r["conversations"][-1]["value"] for r in rows}
            assert any(r["conversations"][0]["value"] in found["prompt"] for r in rows)
        else:
            assert {"chosen_input_ids", "rejected_input_ids"} <= set(found["columns"])
            pairs = {(r["chosen"]["value"], r["rejected"]["value"]) for r in rows}
            assert (found["chosen"].removesuffix("<|im_end|>\n"),
                    found["rejected"].removesuffix("<|im_end|>\n")) in pairs


def test_llamafactory_trains_with_the_written_file(finished_run, tmp_path):
    """`llamafactory-cli train <export>/llamafactory_{sft,dpo}.yaml` a few steps on a CPU."""
    uri, _ = finished_run
    cli = llamafactory_python().with_name("llamafactory-cli")
    for fmt in ("sharegpt", "sharegpt_pairs"):
        folder = uri / "exports" / fmt
        done = json.loads((folder / "export.json").read_text())
        output = tmp_path / fmt
        trained = subprocess.run(
            [str(cli), "train", str(folder / done["llamafactory_file"]),
             f"model_name_or_path={resolve_model('builtin:tiny-teacher')}",
             f"output_dir={output}", "use_cpu=true", "max_steps=3", "save_steps=3",
             "gradient_accumulation_steps=1", "logging_steps=1"],
            env=_llamafactory_env(tmp_path), cwd=tmp_path, timeout=600,
            capture_output=True, text=True)
        assert trained.returncode == 0, trained.stderr[-3000:]
        state = json.loads((output / "checkpoint-3" / "trainer_state.json").read_text())
        assert state["global_step"] == 3, fmt
        assert (output / "checkpoint-3" / "adapter_model.safetensors").exists(), fmt


def test_export_from_and_to_s3(finished_run, s3_server, monkeypatch):
    """The same export read from and written to a real S3 API (moto), as from a local run."""
    import pyarrow.fs as pafs

    uri, _ = finished_run
    s3 = pafs.S3FileSystem(endpoint_override=s3_server, region="us-east-1")
    prefix = "raydistill-test/export-run"
    for sub in ("all", "verified", "summary.json", "_work/run.json"):
        pafs.copy_files(str(uri / sub), f"{prefix}/{sub}", destination_filesystem=s3)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    local = json.loads((uri / "exports/trl_dpo/export.json").read_text())
    done = export_run(f"s3://{prefix}", "trl_dpo", s3_endpoint=s3_server, mb_per_file=1)
    assert done["uri"] == f"s3://{prefix}/exports/trl_dpo"
    assert (done["rows"], done["left_out"]) == (local["rows"], local["left_out"])
    rows = pads.dataset(f"{prefix}/exports/trl_dpo/data", filesystem=s3).to_table()
    assert rows.num_rows == done["rows"]
    written = s3.get_file_info(pafs.FileSelector(f"{prefix}/exports/trl_dpo", recursive=True))
    assert not [i.path for i in written if "/.parts" in i.path]
    with s3.open_input_stream(f"{prefix}/README.md") as card:
        assert "exports/trl_dpo/data/*.parquet" in card.read().decode()


def _verl_rows_of_every_domain():
    """verl rows of the domains the demo run has none of, built by the export's own builder."""
    from raydistill.export.formats import Render, verl

    sum_tests = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}
    call_tests = {"inputs": [[1, 2], [5, 7]], "outputs": [3, 12], "fn_name": "add"}
    assert_tests = {"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
                    "entry_point": "add"}
    stdin_ok = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    call_ok = "```python\ndef add(a, b):\n    return a + b\n```"
    problems = [
        ("stdin", "code", json.dumps(sum_tests), "", stdin_ok, stdin_ok.replace("a + b", "a - b")),
        ("call", "code", json.dumps(call_tests), "", call_ok, call_ok.replace("a + b", "a * b")),
        ("asserts", "code", json.dumps(assert_tests), "", call_ok,
         call_ok.replace("a + b", "a - b")),
        ("letters", "mcq", None, "B", "Answer: B", "Answer: C"),
    ]
    rows, cases = [], {}
    for pid, domain, tests, gold, good, bad in problems:
        rows.append(verl({"problem_id": pid, "source": "hand", "source_index": 0,
                          "domain": domain, "problem": f"{pid}?", "ground_truth_solution": gold,
                          "test_cases": tests, "starter_code": None,
                          "messages": [{"role": "user", "content": f"Solve {pid}."}],
                          "samples": 2, "verified_samples": 1, "pass_rate": 0.5}, Render()))
        cases[pid] = {"pass": [f"<think>\nworked\n</think>\n\n{good}"],
                      "fail": [f"<think>\nworked\n</think>\n\n{bad}"]}
    return rows, cases


def test_verl_loads_and_scores_the_export(finished_run, tmp_path):
    """verl's own dataset and rewards on the export: its default scorers and raydistill's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from raydistill.export.formats import SCHEMAS

    uri, _ = finished_run
    done = json.loads((uri / "exports/verl/export.json").read_text())
    files = [str(uri / "exports/verl" / f["path"]) for f in done["files"]]
    rows, cases = _verl_rows_of_every_domain()
    pq.write_table(pa.Table.from_pylist(rows, SCHEMAS["verl"]), tmp_path / "domains.parquet")
    files.append(str(tmp_path / "domains.parquet"))
    # The run's own responses: a few verified and a few wrong answers (not truncated ones).
    table = pads.dataset(str(uri / "all"), format="parquet").to_table(
        columns=["problem_id", "verdict", "reason", "response"]).to_pylist()
    for kind, verdict, reason in (("pass", "pass", None), ("fail", "fail", "wrong_answer")):
        chosen = [r for r in table if r["verdict"] == verdict
                  and (reason is None or r["reason"] == reason)][:4]
        assert chosen, f"the demo run has no {kind}ed sample"
        for r in chosen:
            cases.setdefault(r["problem_id"], {}).setdefault(kind, []).append(r["response"])
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # raydistill's reward runs inside verl: this checkout, after verl's venv.
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "PYTHONPATH": str(REPO)}
    subprocess.run([str(verl_python()), str(REPO / "tests" / "support" / "verl_check.py"),
                    resolve_model("builtin:tiny-teacher"), str(tmp_path / "cases.json"),
                    str(tmp_path / "found.json"), *files],
                   check=True, env=env, cwd=tmp_path, timeout=900)
    found = json.loads((tmp_path / "found.json").read_text())
    assert found["rows"] == done["rows"] + len(rows)
    assert found["data_sources"]["lighteval/MATH"] == done["rows"]
    assert "You are Qwen" not in found["prompt"]
    by = {(s["problem_id"], s["kind"]): s for s in found["scores"]}
    for s in found["scores"]:
        if s["data_source"] == "lighteval/MATH":  # the run's rows
            assert (s["default"], s["custom"]) == ((1.0, 1.0) if s["kind"] == "pass"
                                                   else (0.0, 0.0)), s
    assert sum(s["data_source"] == "lighteval/MATH" for s in found["scores"]) >= 2
    for pid in ("stdin", "call"):
        assert by[(pid, "pass")]["data_source"] == "apps"
        assert (by[(pid, "pass")]["default"], by[(pid, "pass")]["custom"]) == (1.0, 1.0)
        assert (by[(pid, "fail")]["default"], by[(pid, "fail")]["custom"]) == (0.0, 0.0)
    # Assert tests: verl has no scorer for them (it says so), raydistill's reward has.
    assert by[("asserts", "pass")]["data_source"] == "raydistill/code"
    assert "NotImplementedError" in by[("asserts", "pass")]["default"]
    assert (by[("asserts", "pass")]["custom"], by[("asserts", "fail")]["custom"]) == (1.0, 0.0)
    # Multiple choice through DAPO's scorer (+1 / -1), raydistill's 1 / 0.
    assert by[("letters", "pass")]["data_source"] == "math_dapo"
    assert (by[("letters", "pass")]["default"], by[("letters", "fail")]["default"]) == (1.0, -1.0)
    assert (by[("letters", "pass")]["custom"], by[("letters", "fail")]["custom"]) == (1.0, 0.0)


def test_row_groups_of_a_large_export(finished_run, tmp_path):
    """~2,000 problems (the run's rows copied under new ids, ~70 small parts): each export
    file holds one row group, not one per problem (verl once wrote 48 rows in 44). verl
    stands for the grouped formats (one shuffle: the test's cost), trl_sft for the others."""
    uri, _ = finished_run
    table = pads.dataset(str(uri / "all"), format="parquet").to_table()
    copies = -(-2000 // problems_in(uri))
    run = tmp_path / "large"
    (run / "all").mkdir(parents=True)
    (run / "_work").mkdir()
    shutil.copy(uri / "_work" / "run.json", run / "_work" / "run.json")
    shutil.copy(uri / "summary.json", run / "summary.json")
    column = table.schema.get_field_index("problem_id")
    for c in range(copies):
        ids = pc.binary_join_element_wise(table["problem_id"], pa.scalar(str(c)), "/")
        pq.write_table(table.set_column(column, "problem_id", ids),
                       run / "all" / f"part-{c:05d}.parquet")
    for fmt in ("verl", "trl_sft"):
        done = export_run(str(run), fmt)
        assert done["rows"] > 1000, done
        for f in done["files"]:
            meta = pq.ParquetFile(run / "exports" / fmt / f["path"]).metadata
            assert meta.num_row_groups == 1, (fmt, meta.num_rows, meta.num_row_groups)
    # The run's own parts (all/, verified/, removed/) are written the same way: the ~70
    # small parts read back as blocks become one file of one row group.
    write_parts(ray.data.read_parquet(str(run / "all")), str(tmp_path / "parts"),
                OutputLocation(load(["conf=local", f"output.uri={tmp_path}"]).output).fs)
    files = sorted((tmp_path / "parts").glob("*.parquet"))
    groups = [pq.ParquetFile(f).metadata.num_row_groups for f in files]
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == table.num_rows * copies
    assert len(files) <= 2 and groups == [1] * len(files), groups
