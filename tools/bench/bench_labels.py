"""The gold audit and majority labels, measured on planted wrong golds in one run.

    python tools/bench/bench_labels.py [--problems 200] [--wrong 0.2] [--n 8] [--seed 1]

Generated arithmetic problems (``raydistill.sources.synthetic``, seed ``--seed``) are
written as a GSM8K-style JSONL file in which a seeded ``--wrong`` share of the problems
gets a planted WRONG gold (the true answer plus a non-zero offset). One run of the
shipped tiny teacher (conf/local.yaml's vLLM actor, ``sampling.n=--n``) with
``labels.policy=majority`` then gives both figures side by side:

- the audit: the problems flagged ``suspect_gold`` against the planted ones
  (precision, recall), at the default audit thresholds;
- majority labels, the gold hidden from labelling by the policy: the share of problems
  labelled (``label_source: majority``) and the accuracy of their labels against the
  TRUE answers (compared by the math verifier's own equivalence).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from raydistill.config import load
from raydistill.output.location import OutputLocation
from raydistill.pipeline import run
from raydistill.ray_session import init_ray
from raydistill.sources import synthetic
from raydistill.verifiers.votes import same_math


def plant(path: Path, problems: int, wrong: float, seed: int) -> list[dict[str, Any]]:
    """Write the problems to ``path`` with planted wrong golds; return the truth per line."""
    rng = random.Random(seed)
    truth = []
    with path.open("w") as f:
        for p in synthetic.problems(problems, seed):
            planted = rng.random() < wrong
            gold = p.answer + rng.choice([-3, -2, -1, 1, 2, 3, 10]) if planted else p.answer
            f.write(json.dumps({"question": p.question, "answer": f"#### {gold}"}) + "\n")
            truth.append({"answer": p.answer, "planted": planted})
    return truth


def per_problem(uri: Path) -> dict[int, dict[str, Any]]:
    """One record per problem (by source_index) from ``all/``: its flag and majority label."""
    columns = ["source_index", "suspect_gold", "label_source", "majority_answer"]
    rows = pads.dataset(str(uri / "all"), format="parquet").to_table(columns=columns)
    found: dict[int, dict[str, Any]] = {}
    for r in rows.to_pylist():
        found.setdefault(r["source_index"], r)
    return found


def figures(truth: list[dict[str, Any]], found: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The audit's precision and recall, the majority labels' coverage and accuracy."""
    planted = {i for i, t in enumerate(truth) if t["planted"]}
    flagged = {i for i, r in found.items() if r["suspect_gold"]}
    hits = planted & flagged
    labelled = {i: r["majority_answer"] for i, r in found.items()
                if r["label_source"] == "majority"}
    right = sum(same_math(str(truth[i]["answer"]), a) for i, a in labelled.items())
    return {
        "problems": len(truth), "planted_wrong_golds": len(planted),
        "audit": {"flagged": len(flagged), "true_positives": len(hits),
                  "precision": len(hits) / len(flagged) if flagged else float("nan"),
                  "recall": len(hits) / len(planted) if planted else float("nan")},
        "majority_labels": {"labelled": len(labelled), "coverage": len(labelled) / len(truth),
                            "right": right,
                            "accuracy": right / len(labelled) if labelled else float("nan")},
        "gold_accuracy": 1 - len(planted) / len(truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--wrong", type=float, default=0.2, help="share of planted wrong golds")
    parser.add_argument("--n", type=int, default=8, help="samples per problem")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="output root (default: a temporary dir)")
    args = parser.parse_args()

    root = Path(args.out or tempfile.mkdtemp(prefix="bench-labels-"))
    root.mkdir(parents=True, exist_ok=True)
    truth = plant(root / "planted.jsonl", args.problems, args.wrong, args.seed)
    cfg = load(["conf=local", f"output.uri={root}/run", "output.overwrite=true",
                f"sampling.n={args.n}", f"source.limit={args.problems}",
                f"source.datasets=[{{name: planted, format: jsonl, preset: gsm8k, "
                f"path: '{root / 'planted.jsonl'}'}}]", "labels.policy=majority"])
    init_ray(cfg.ray)
    started = time.monotonic()
    summary = run(cfg, OutputLocation(cfg.output))
    result = figures(truth, per_problem(root / "run"))
    result["labels_summary"] = {k: v for k, v in summary["labels"].items()
                                if k != "suspect_problems"}
    result["run_s"] = round(time.monotonic() - started, 1)
    result["settings"] = {"n": args.n, "seed": args.seed, "wrong": args.wrong,
                          "labels": {k: getattr(cfg.labels, k) for k in
                                     ("min_share", "min_votes", "audit_share", "audit_votes")}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
