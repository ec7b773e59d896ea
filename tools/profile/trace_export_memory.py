"""Where one export's driver memory goes: private MiB over time, Arrow's live bytes, the regions.

    python tools/profile/trace_export_memory.py RUN FORMAT [--tracemalloc]

Runs ``export_run(RUN, FORMAT)`` in this process (a fresh local Ray, as
``python -m raydistill.export`` runs) while a thread samples every 0.5 s the
driver's private memory (RSS less shared pages) and ``pa.total_allocated_bytes()``
(Arrow's live bytes), and every 10 s ``/proc/self/smaps``. Prints the series, the
peak, the largest dirty regions at the sample nearest the peak (``[heap]`` is
glibc's main arena; a 64 MiB-aligned anonymous region at a high address is
Arrow's mimalloc, the 64 MiB ones at ``7f...`` glibc's thread arenas) and, with
``--tracemalloc``, the Python allocations that grew most between the first and
the last snapshot (30 s apart): what tells a Python-level leak from allocator
retention. RUN is a finished run, e.g. one ``tools/bench/bench_export.py --workdir DIR``
synthesised. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import threading
import time
import tracemalloc
from typing import Any

import psutil
import pyarrow as pa


def dirty_regions() -> list[tuple[int, str]]:
    """(Private_Dirty KiB, the mapping's line) for every region of this process."""
    regions: list[list[Any]] = []
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                regions.append([0, line.strip()[:110]])
            elif head == "Private_Dirty:":
                regions[-1][0] = int(line.split()[1])
    return [(kib, name) for kib, name in regions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("format")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()

    from raydistill.export.plan import export_run
    from raydistill.ray_config import RayConfig
    from raydistill.ray_session import init_ray

    init_ray(RayConfig())
    proc = psutil.Process()

    def private() -> float:
        info = proc.memory_info()
        return (info.rss - getattr(info, "shared", 0)) / 2**20

    series: list[tuple[float, int, int]] = []
    maps: list[tuple[float, list[tuple[int, str]]]] = []
    snaps: list[tuple[float, tracemalloc.Snapshot]] = []
    stop = threading.Event()

    def sample() -> None:
        start, last_map, last_snap = time.monotonic(), -10.0, -30.0
        while not stop.wait(0.5):
            t = time.monotonic() - start
            live = pa.total_allocated_bytes() / 2**20
            series.append((round(t, 1), round(private()), round(live)))
            if t - last_map >= 10:
                last_map = t
                maps.append((private(), dirty_regions()))
            if args.tracemalloc and t - last_snap >= 30:
                last_snap = t
                snaps.append((t, tracemalloc.take_snapshot()))

    if args.tracemalloc:
        tracemalloc.start(8)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.monotonic()
    done = export_run(args.run, args.format)
    seconds = time.monotonic() - started
    stop.set()
    thread.join()

    print(f"{args.format}: {done['rows']} rows in {seconds:.1f} s")
    step = max(1, len(series) // 60)
    print("seconds, private MiB, Arrow live MiB:", series[::step])
    print(f"peak private {max(p for _, p, _ in series)} MiB, Arrow live peak "
          f"{max(a for _, _, a in series)} MiB")
    if maps:
        at_peak, regions = max(maps, key=lambda m: m[0])
        print(f"largest dirty regions at {at_peak:.0f} MiB private:")
        for kib, name in sorted(regions, reverse=True)[:10]:
            print(f"  {kib // 1024:>5} MiB  {name}")
    if len(snaps) >= 2:
        print(f"Python allocations grown from {snaps[0][0]:.0f} s to {snaps[-1][0]:.0f} s:")
        for stat in snaps[-1][1].compare_to(snaps[0][1], "traceback")[:6]:
            print(f"  {stat.size_diff / 2**20:+.2f} MiB in {stat.count_diff:+} blocks at")
            for line in stat.traceback.format()[-4:]:
                print(f"      {line}")


if __name__ == "__main__":
    main()
