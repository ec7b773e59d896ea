"""How many correct HumanEval programs the code verifier passes, and how many wrong ones.

    python tools/bench/code_agreement.py [--data data/humaneval/test.jsonl] [--limit N]
                                             [--workers 2] [--against REV] [--show-misses]

Each problem of the HumanEval file (prompt, canonical solution, tests) is checked
by the registered ``code`` verifier, the way the pipeline checks a sample
(``starter_code`` is the prompt), in four forms:

- ``body``: the canonical solution as HumanEval ships it, a function body (right);
- ``function``: the body under the bare signature, as chat models answer, without
  the prompt's imports and helpers (right: HumanEval runs prompt + completion);
- ``main block``: the function form followed by an ``if __name__ == "__main__":``
  block that reads stdin, as many answers end (right: the harness imports it);
- ``swapped``: the prompt's signature over another problem's body (wrong).

A false pass is a wrong program passed. ``--against REV`` runs the same count with
git revision REV's ``raydistill`` (exported with ``git archive``) too, for a
before/after table in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "humaneval" / "test.jsonl"
FORMS = ("body", "function", "main block", "swapped")
LIMITS = {"cpu_s": 4.0, "wall_s": 8.0, "total_wall_s": 30.0}  # room for a loaded machine
ERROR_RETRIES = 4


def signature(prompt: str, entry: str) -> str:
    """The ``def entry(...):`` lines of ``prompt`` up to its docstring (an import may be there)."""
    docstring = r"(?=^\s*[ru]?(\"\"\"|\'\'\'))"
    found = re.search(rf"^def {re.escape(entry)}\(.*?\)[^:\n]*:[ \t]*\n(.*?){docstring}", prompt,
                      re.S | re.M)
    if found is None:
        raise ValueError(f"no signature of {entry} in its prompt")
    return found.group().rstrip("\n")


def cases(problems: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, str], bool]]:
    """``(form, task, record, right)`` for every problem in every form."""
    out = []
    for i, problem in enumerate(problems):
        entry, prompt, body = problem["entry_point"], problem["prompt"], problem[
            "canonical_solution"]
        tests = json.dumps({"test": problem["test"], "entry_point": entry})
        function = f"{signature(prompt, entry)}\n{body}"
        main = f"{function}\n\nif __name__ == \"__main__\":\n    print({entry}(input()))\n"
        other = problems[(i + 1) % len(problems)]["canonical_solution"]
        for form, code, right in (("body", body, True), ("function", function, True),
                                  ("main block", main, True),
                                  ("swapped", f"{signature(prompt, entry)}\n{other}", False)):
            record = {"solution": f"```python\n{code}\n```", "test_cases": tests,
                      "starter_code": prompt}
            out.append((form, problem["task_id"], record, right))
    return out


def run(data: Path, limit: int | None, workers: int) -> dict[str, Any]:
    """Counts by form, and the misses, with the ``raydistill`` on ``sys.path``."""
    from raydistill import verifiers

    check = verifiers.get("code")
    problems = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    todo = cases(problems[:limit])
    def verify(record: dict[str, str]) -> Any:
        for attempt in range(ERROR_RETRIES):  # infrastructure (another job's sandbox), no verdict
            verdict = check(record, {"code": LIMITS})
            if verdict.status != "error":
                break
            time.sleep(1 + attempt)
        return verdict

    with ThreadPoolExecutor(workers) as pool:
        verdicts = list(pool.map(lambda case: verify(case[2]), todo))
    counts: dict[str, Counter[str]] = {form: Counter() for form in FORMS}
    misses = []
    for (form, task, _, right), verdict in zip(todo, verdicts, strict=True):
        counts[form]["n"] += 1
        counts[form][verdict.status] += 1
        if verdict.passed != right:
            misses.append([form, task, verdict.status, verdict.detail[:160]])
    return {"counts": {f: dict(c) for f, c in counts.items()}, "misses": misses}


def _other_tree(rev: str, into: str) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "raydistill"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)


def _print(name: str, result: dict[str, Any]) -> None:
    print(f"{name}:")
    print(f"  {'form':<12}{'programs':>9}{'pass':>6}{'fail':>6}{'error':>7}")
    for form, c in result["counts"].items():
        print(f"  {form:<12}{c.get('n', 0):>9}{c.get('pass', 0):>6}{c.get('fail', 0):>6}"
              f"{c.get('error', 0):>7}")
    right = [result["counts"][f] for f in FORMS if f != "swapped"]
    passed, total = sum(c.get("pass", 0) for c in right), sum(c.get("n", 0) for c in right)
    wrong = result["counts"]["swapped"]
    print(f"  right programs passed {passed}/{total} ({passed / max(total, 1):.3f}); "
          f"false passes {wrong.get('pass', 0)}/{wrong.get('n', 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None, help="first N problems only")
    parser.add_argument("--workers", type=int, default=2, help="sandboxes at once")
    parser.add_argument("--against", metavar="REV", help="also count with git REV's package")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    result = run(args.data, args.limit, args.workers)
    if args.json:
        print(json.dumps(result))
        return
    if args.against:
        with tempfile.TemporaryDirectory(prefix="agreement-before-") as before:
            _other_tree(args.against, before)
            command = [sys.executable, __file__, "--json", "--data", str(args.data),
                       "--workers", str(args.workers)]
            if args.limit:
                command += ["--limit", str(args.limit)]
            done = subprocess.run(command, env={**os.environ, "PYTHONPATH": before}, cwd=before,
                                  capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the run with {args.against} failed:\n{done.stderr[-3000:]}")
        old = json.loads(done.stdout.splitlines()[-1])
        _print(args.against, old)
        if args.show_misses:
            for miss in old["misses"]:
                print("   ", *miss)
    _print("this tree", result)
    if args.show_misses:
        for miss in result["misses"]:
            print("   ", *miss)


if __name__ == "__main__":
    main()
