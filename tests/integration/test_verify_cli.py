"""``python -m raydistill.verify``: real Ray local cluster, local files and moto S3."""

from __future__ import annotations

import json

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raydistill.cli import verify

STDIO = json.dumps({"inputs": ["2\n"], "outputs": ["4\n"]})
# (id, domain, response, gold, test_cases, expected verdict, detail starts with)
ROWS = [
    ("math-pass", "math", "<think>9+9</think>The answer is \\boxed{18}.", "#### 18", None,
     "pass", "18 == 18"),
    ("math-fail", "math", "<think>9+8</think>\\boxed{17}", "#### 18", None, "fail", "17 != 18"),
    ("math-truncated", "math", "<think>9+9 is \\boxed{18} but", "#### 18", None, "fail",
     "truncated"),
    ("math-no-tags", "math", "The answer is 18.", "#### 18", None, "pass", "18 == 18"),
    ("math-only-in-reasoning", "math", "<think>\\boxed{18}</think>no idea", "#### 18", None,
     "fail", "no answer"),
    ("mcq-pass", "mcq", "<think>B fits</think>Answer: B", "B", None, "pass", "B == B"),
    ("code-pass", "code", "<think>x</think>```python\nprint(int(input())*2)\n```", None, STDIO,
     "pass", "accepted"),
    ("code-fail", "code", "<think>x</think>```python\nprint(5)\n```", None, STDIO, "fail",
     "wrong answer"),
    ("no-response", "math", None, "#### 18", None, "error", "input: no 'generation' value"),
    ("bad-gold", "math", "\\boxed{3}", "", None, "error", "gold not parseable"),
]


def rows(extra: dict | None = None) -> list[dict]:
    return [{"id": i, "kind": d, "generation": r, "ground_truth_solution": g, "test_cases": t,
             "score": 0.5, **(extra or {})} for i, d, r, g, t, *_ in ROWS]


ARGS = ["columns.domain=kind", "columns.response=generation", "verify.replicas=1",
        "verify.num_cpus=0.5", "verify.batch_size=4", "verify.code.cpu_s=2"]


def check(out_rows: list[dict]) -> None:
    assert [r["id"] for r in out_rows] == [row[0] for row in ROWS]  # every row, in order
    for row, (_, kind, _, _, _, verdict, detail) in zip(out_rows, ROWS, strict=True):
        assert row["verdict"] == verdict, row
        assert row["verdict_detail"].startswith(detail), row
        assert row["verified"] is (verdict == "pass")
        assert row["score"] == 0.5 and row["kind"] == kind  # input columns kept
        if row["generation"] is not None:
            [entry] = row["verdicts"]
            assert entry["verifier"] == kind and entry["status"] == verdict
            assert entry["seconds"] >= 0 and entry["retries"] == 0






@pytest.mark.slow
def test_jsonl_to_jsonl_local(ray_cluster, tmp_path, capsys):
    source, target = tmp_path / "in.jsonl", tmp_path / "out" / "checked.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    assert verify.main([str(source), str(target), *ARGS]) == 0
    check([json.loads(line) for line in target.read_text().splitlines()])
    printed = capsys.readouterr().out
    assert "verified 10 rows" in printed and "4 pass, 4 fail, 2 error" in printed
    for kind in ("math", "code", "mcq"):  # latency percentiles per verifier kind
        assert f"  {kind:<6} latency p50/p90/p99" in printed


@pytest.mark.slow
def test_parquet_to_parquet_local(ray_cluster, tmp_path):
    source, target = tmp_path / "in.parquet", tmp_path / "checked.parquet"
    pq.write_table(pa.Table.from_pylist(rows()), source)
    assert verify.main([str(source), str(target), *ARGS]) == 0
    table = pq.read_table(target)
    assert table.schema.field("verdicts").type == pa.list_(verify.records.VERDICT)
    check(table.to_pylist())
    assert verify.main([str(source), str(target), *ARGS]) == 2  # exists: refused
    verify._check_target(verify.load(["overwrite=true"]), str(target))  # unless asked


@pytest.mark.slow
def test_s3_jsonl_to_s3_parquet_and_directory(ray_cluster, s3_server):
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    body = "".join(json.dumps(r) + "\n" for r in rows())
    s3.put_object(Bucket="raydistill-test", Key="verify/in.jsonl", Body=body.encode())
    args = [*ARGS, f"s3_endpoint={s3_server}"]
    target = "s3://raydistill-test/verify/out/checked.parquet"
    assert verify.main(["s3://raydistill-test/verify/in.jsonl", target, *args]) == 0
    fs, path = verify.resolve(target, s3_server)
    check(pq.read_table(path, filesystem=fs).to_pylist())
    # An output without a file suffix is a directory of Parquet parts.
    target_dir = "s3://raydistill-test/verify/out/parts"
    assert verify.main(["s3://raydistill-test/verify/in.jsonl", target_dir, *args]) == 0
    fs, path = verify.resolve(target_dir, s3_server)
    import pyarrow.dataset as pads

    got = pads.dataset(path, filesystem=fs, format="parquet").to_table().to_pylist()
    check(sorted(got, key=lambda r: [row[0] for row in ROWS].index(r["id"])))
