"""Streaming at scale: peak memory of a 10k- and a 100k-problem run with the tiny teacher.

    python tools/bench/bench_scale.py [--sizes 10000 100000] [--max-tokens 32]

Each size is one ``python -m raydistill.run conf=local`` (n=1, short answers) in
its own session with its own local Ray cluster. Every 0.5 s the script sums the
resident memory (RSS) of the driver and of every process of that session (Ray's
GCS, raylet, workers, the vLLM engine): the peaks of both are reported with the
wall time and the row count, and the ratio of the largest size to the smallest.
A flat pipeline has a ratio close to 1 while the input grows 10x. With each
driver peak goes the run's phase at that moment (the last phase line of its
log), so a peak can be traced to staging, generation, publishing or the report.
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
from pathlib import Path

import psutil
import pyarrow.dataset as pads

REPO = Path(__file__).resolve().parents[2]
# Log lines that start a phase of a run (raydistill's own, Ray Data's per dataset).
PHASES = re.compile(r"staged \d+ problems|Execution plan of Dataset.*|report written|"
                    r"raydistill\.\w+: funnel|checking that every staged problem|"
                    r"summing up the run")


def phase(log_path: Path) -> str:
    """The last phase line in the log so far (its last 64 KiB)."""
    with open(log_path, "rb") as log:
        log.seek(max(0, log_path.stat().st_size - 65536))
        found = PHASES.findall(log.read().decode(errors="replace"))
    return found[-1][-120:] if found else "start"


def stage_of(marker: str) -> str:
    """The stage a phase line belongs to: generate, publish, or summary (summary and report)."""
    if "summing up" in marker or "report written" in marker:
        return "summary"
    if any(m in marker for m in ("VLLMTeacher", "funnel", "staged", "start")):
        return "generate"
    return "publish"


def session_rss(sid: int) -> int:
    total = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid:
                total += proc.memory_info().rss
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return total


def one_run(problems: int, max_tokens: int, extra: list[str]) -> dict[str, float]:
    out = tempfile.mkdtemp(prefix=f"raydistill-bench-scale-{problems}-")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "raydistill.run", "conf=local", f"source.limit={problems}",
           "sampling.n=1", f"sampling.max_tokens={max_tokens}", "ray.rows_per_block=256",
           "teacher.batch_size=64", "verify.batch_size=64", f"output.uri={out}", *extra]
    started = time.monotonic()
    log_path = Path(out + ".log")
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe blocks the driver
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT)
        driver = psutil.Process(proc.pid)
        peak_driver = peak_total = 0
        peak_phase = "start"
        by_stage = {"generate": 0, "publish": 0, "summary": 0}
        while proc.poll() is None:
            try:
                rss = driver.memory_info().rss
                now = phase(log_path)
                by_stage[stage_of(now)] = max(by_stage[stage_of(now)], rss)
                if rss > peak_driver:
                    peak_driver, peak_phase = rss, now
            except psutil.Error:
                pass
            peak_total = max(peak_total, session_rss(proc.pid))
            time.sleep(0.5)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"run of {problems} failed:\n{log_path.read_text()[-3000:]}")
    summary = json.loads(Path(out, "summary.json").read_text())
    rows = pads.dataset(f"{out}/all", format="parquet").count_rows()
    return {"problems": problems, "rows": rows, "wall_s": wall,
            "peak_driver_rss_mb": peak_driver / 2**20, "driver_peak_phase": peak_phase,
            **{f"driver_{stage}_mb": rss / 2**20 for stage, rss in by_stage.items()},
            "peak_total_rss_mb": peak_total / 2**20,
            "completion_tokens": summary["completion_tokens"],
            "tokens_per_s": summary["completion_tokens_per_s"], "output": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("extra", nargs="*", help="more key=value overrides")
    opts = parser.parse_args()
    results = []
    for size in opts.sizes:
        results.append(one_run(size, opts.max_tokens, opts.extra))
        print(json.dumps(results[-1]), flush=True)
    small, large = results[0], results[-1]
    print(f"\n{'problems':>10} {'rows':>8} {'wall s':>8} {'driver MB':>10} {'total MB':>9}"
          f" {'driver MB: generate':>20} {'publish':>8} {'summary+report':>15}")
    for r in results:
        print(f"{r['problems']:>10} {r['rows']:>8} {r['wall_s']:>8.0f} "
              f"{r['peak_driver_rss_mb']:>10.0f} {r['peak_total_rss_mb']:>9.0f} "
              f"{r['driver_generate_mb']:>20.0f} {r['driver_publish_mb']:>8.0f} "
              f"{r['driver_summary_mb']:>15.0f}")
    print(f"peak RSS ratio {large['problems']}/{small['problems']}: driver "
          f"{large['peak_driver_rss_mb'] / small['peak_driver_rss_mb']:.2f}, total "
          f"{large['peak_total_rss_mb'] / small['peak_total_rss_mb']:.2f}, driver while "
          f"generating {large['driver_generate_mb'] / small['driver_generate_mb']:.2f}")


if __name__ == "__main__":
    main()
