"""The workflow's own cost: how much of the machine Snakemake's scheduler takes while the whole
smoke pipeline runs from an empty folder on 2 cores.

    .venv/bin/python bench/bench_workflow.py

Snakemake's main process plans the jobs; the jobs themselves run in other processes. Its CPU
time (read from /proc every 0.2 s) over the machine's busy CPU time during the run is the
share the scheduler takes from training. With Snakemake's default job rate limiter that share
grew with every finished job (the Snakefile's `onstart` says why, and drops the limiter for
local runs): 8.5-9.4% of the smoke pipeline's CPU time, and 345 of the cpu suite's 5,449
CPU-s (2026-11-30); without it, 3.4-3.8% of the smoke pipeline's. Target: at most 6%.
Linux only (/proc).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, matmul_gflops, smoke_workflow_command  # noqa: E402

SHARE_TARGET = 0.06


def busy_seconds() -> float:
    """The machine's busy CPU time so far (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> tuple[float, int] | None:
    """CPU seconds (user + system) and thread count of a live process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK"), int(fields[17])  # num_threads (field 20)


def smoke_pipeline(tmp: str) -> tuple[float, float, float, int]:
    """Wall seconds, machine CPU-s, scheduler CPU-s and the scheduler's most threads."""
    cmd = smoke_workflow_command(tmp)
    log = Path(tmp) / "snakemake.log"  # a file, not a pipe: a full pipe would block Snakemake
    b0, t0 = busy_seconds(), time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        cpu, threads = 0.0, 0
        while proc.poll() is None:
            now = process_seconds(proc.pid)
            if now is not None:
                cpu, threads = now[0], max(threads, now[1])
            time.sleep(0.2)
    wall, busy = time.perf_counter() - t0, busy_seconds() - b0
    if proc.returncode != 0:
        raise SystemExit(f"the smoke pipeline failed:\n{log.read_text()[-3000:]}")
    return wall, busy, cpu, threads


def main() -> None:
    if not Path("/proc/stat").exists():
        raise SystemExit("bench_workflow reads /proc: Linux only")
    report = Report("bench_workflow")
    ceiling = matmul_gflops(1)
    with tempfile.TemporaryDirectory() as tmp:
        wall, busy, cpu, threads = smoke_pipeline(tmp)
    share = cpu / busy
    report.figure(
        "smoke pipeline, empty folder, 2 cores",
        f"{wall:.1f} s wall, {busy:.0f} CPU-s; scheduler {cpu:.1f} CPU-s, {threads} threads",
        ceiling,
    )
    report.target("scheduler share of CPU time", share, "<=", SHARE_TARGET)
    report.finish()


if __name__ == "__main__":
    main()
