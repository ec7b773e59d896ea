"""The contamination check: benchmark problems a training run's problems share n-grams with."""

import pyarrow as pa
import pyarrow.parquet as pq

from raydistill.config import load
from raydistill.eval.contamination import overlap
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation

BENCH = ["Tom has three red apples and gives one of them to Ann at the market today.",
         "A train leaves the station at noon and travels two hundred miles north."]


def write_all(root, rows):
    (root / "all").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "all" / "part-0.parquet")


def test_overlapping_training_problems_are_counted_once_per_benchmark_problem(tmp_path):
    write_all(tmp_path / "eval", [{"problem_id": f"b{i}", "source": "bench", "problem": text}
                                  for i, text in enumerate(BENCH)])
    copied = "Q: " + BENCH[0] + " How many are left?"
    write_all(tmp_path / "train", [
        {"problem_id": "t1", "problem": copied},
        {"problem_id": "t2", "problem": copied + " Answer quickly."},  # the same one again
        {"problem_id": "t3", "problem": "Unrelated text about the chemistry of salt water."}])
    cfg = load(["conf=eval_local", f"eval.train_runs=[{tmp_path / 'train'}]",
                "eval.contamination_ngram=8"])
    found = overlap(cfg, OutputLocation(OutputConfig(uri=str(tmp_path / "eval"))), ["bench"])
    bench = found["bench"]
    assert bench["overlapping_problems"] == 1 and bench["ngram"] == 8
    assert bench["examples"][0]["train_problem_id"] == "t1"
    assert bench["train_runs"] == [str(tmp_path / "train")]
