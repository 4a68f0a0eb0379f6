"""What every benchmark here shares: interleaved rounds, medians with their spread, the
machine's matmul ceiling beside every figure, targets that fail, and the engine's run_job.

A benchmark compares the engine's training loop with a bare torch loop doing the same
science (same model, optimizer, batches and evaluations; none of the engine's bookkeeping).
Both run in one process, one after the other, in rounds that alternate which goes first, so
that drift in the machine's load touches both. An engine/bare speed is judged on the median
of the rounds' own ratios, printed with its range (engine_speed); the ratio of each loop's
fastest round is printed beside it for information. Each figure carries the fp32 matmul GFLOP/s
measured in the same rounds: the machine's ceiling at that moment (a low or spread ceiling
means the machine was busy and the figure is suspect). A missed target makes the script exit
with status 1, after everything was printed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dlrepro import runner  # noqa: E402
from dlrepro.reproduction import Reproduction, Run  # noqa: E402

MIN_ROUNDS = 5
# The scripts' default. On this 2-core VM one round's engine/bare ratio spreads 10-33% (the
# host's speed drifts over seconds; running the two loops at once, one per core, left rounds
# as far apart as running them one after the other). Over four make-bench runs on 2026-11-30
# the median of 7 rounds missed 0.95 twice in 20 judged ratios (0.947, 0.938, both the
# grokking cpu-scale evaluation loop, whose ratio over those runs was 0.94-1.00). The median
# of 11 has about 0.8x the spread of the median of 7, for ~3.5 more minutes of make bench.
DEFAULT_ROUNDS = 11


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def matmul_gflops(threads: int, n: int = 1024, reps: int = 5) -> float:
    """fp32 matmul GFLOP/s on `threads` threads (2n³ per product), best of `reps`."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: first-call allocation and thread start
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


@dataclass
class Series:
    """Repeated measurements of one quantity."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, fmt: str = ".3f") -> str:
        lo, hi = min(self.values), max(self.values)
        rel = (hi - lo) / self.median if self.median else float("nan")
        return f"median of {len(self.values)}, range {lo:{fmt}}-{hi:{fmt}} ({rel:.1%})"


def interleave(
    rounds: int, threads: int, variants: dict[str, Callable[[], float]]
) -> tuple[dict[str, Series], Series]:
    """Run each variant once per round, reversing their order every other round (ABBA), and
    measure the matmul ceiling once per round. Returns each variant's values and the ceiling."""
    if rounds < MIN_ROUNDS:
        raise SystemExit(f"--rounds {rounds}: at least {MIN_ROUNDS} rounds make a median")
    values: dict[str, list[float]] = {name: [] for name in variants}
    ceiling: list[float] = []
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            values[name].append(variants[name]())
        ceiling.append(matmul_gflops(threads))
    torch.set_num_threads(threads)
    return {k: Series(v) for k, v in values.items()}, Series(ceiling)


def paired_ratio(top: Series, bottom: Series) -> Series:
    """Round-by-round ratio top/bottom (both measured in the same round)."""
    return Series([a / b for a, b in zip(top.values, bottom.values, strict=True)])


def engine_speed(
    report: Report, label: str, times: dict[str, Series], ceiling: Series, note: str = ""
) -> float:
    """Print and judge (>= 0.95) the engine's speed relative to the bare loop from the seconds
    of interleaved rounds: the median of the rounds' own bare/engine ratios.

    The ratio of each loop's fastest round is printed too, not judged. It was judged for one
    day (2026-11-30), on the reasoning that a disturbance only slows a round; over four
    make-bench runs that day (20 judged ratios) it missed 0.95 four times against the median's
    two, on the same rounds: this VM also has fast spells, and one fast bare round decides a
    minimum."""
    bare, engine = times["bare"], times["engine"]
    rounds = paired_ratio(bare, engine)
    fastest = min(bare.values) / min(engine.values)
    extra = f"; {note}" if note else ""
    report.figure(
        f"{label}engine/bare speed",
        f"{rounds.median:.3f} ({rounds.spread()}); fastest rounds {fastest:.3f}{extra}",
        ceiling,
    )
    report.target(f"{label}engine/bare", rounds.median, ">=", 0.95)
    return rounds.median


@dataclass
class Report:
    """Prints figures with their ceiling; records targets; `finish` exits 1 if one missed."""

    title: str
    misses: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        print(f"== {self.title}: torch {torch.__version__}, {load_average()}")

    def section(self, title: str, threads: int) -> None:
        print(f"-- {title}; {threads} thread(s); matmul now {matmul_gflops(threads):.0f} GFLOP/s")
        torch.set_num_threads(threads)

    def figure(self, label: str, text: str, ceiling: Series | float) -> None:
        c = ceiling.median if isinstance(ceiling, Series) else ceiling
        print(f"   {label:<36s} {text}   [matmul {c:.0f} GFLOP/s]", flush=True)

    def target(self, label: str, value: float, op: str, bound: float) -> bool:
        ok = value >= bound if op == ">=" else value <= bound
        print(f"   target {label}: {value:.3f} {op} {bound:g}: {'met' if ok else 'MISSED'}")
        if not ok:
            self.misses.append(f"{label} {value:.3f} (target {op} {bound:g})")
        return ok

    def finish(self) -> None:
        print(f"== {self.title}: {load_average()}")
        if self.misses:
            print(f"   {len(self.misses)} target(s) MISSED: " + "; ".join(self.misses))
            sys.exit(1)
        print("   all targets met")


@dataclass
class EngineResult:
    status: str
    metrics: pd.DataFrame
    record: dict[str, Any]
    seconds: float  # run_job's wall time: what a round times (not reading the results back)

    def steps_per_s(self) -> float:
        return self.record["steps"] / self.record["train_s"]

    def first_step(self, split: str, metric: str, threshold: float) -> tuple[float, float]:
        """(step, elapsed seconds) of the first log of `metric` on `split` >= threshold;
        (nan, nan) if never."""
        m = self.metrics
        hit = m[(m["split"] == split) & (m["metric"] == metric) & (m["value"] >= threshold)]
        if hit.empty:
            return float("nan"), float("nan")
        row = hit.sort_values("step").iloc[0]
        return float(row["step"]), float(row["elapsed_s"])

    def logged_steps(self, split: str) -> list[int]:
        m = self.metrics
        return sorted(set(m.loc[m["split"] == split, "step"].astype(int)))


def engine_run(
    repro: Reproduction,
    run: Run,
    threads: int,
    tmp: Path,
    datasets: dict[str, Path] | None = None,
    device: str = "cpu",
) -> EngineResult:
    """One run of the reproduction's own train() under the engine's run_job, as the workflow
    runs it (metrics, progress, checkpoint checks, record, final weights)."""
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / "log.txt", "w") as log:
        t0 = time.perf_counter()
        status = runner.run_job(
            repro,
            run,
            device=device,
            threads=threads,
            datasets=datasets or {},
            metrics_path=tmp / "metrics.parquet",
            record_path=tmp / "run.json",
            checkpoint_path=tmp / "checkpoint.pt",
            checkpoint_seconds=600.0,
            weights_path=tmp / "weights.pt",
            stream=log,
        )
        seconds = time.perf_counter() - t0
    if status != "completed":
        raise SystemExit(f"engine run {run.run_id} {status}; see {tmp / 'log.txt'}")

    return EngineResult(
        status,
        pd.read_parquet(tmp / "metrics.parquet"),
        json.loads((tmp / "run.json").read_text()),
        seconds,
    )


def smoke_workflow_command(directory: str, *config: str) -> list[str]:
    """The snakemake command line that runs this checkout's workflow at the smoke scale in
    `directory` on 2 cores; `config` adds `key=value` pairs after `scale=smoke`."""
    return [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(ROOT / "config/config.yaml"),
        "--directory",
        directory,
        "--cores",
        "2",
        "--config",
        "scale=smoke",
        *config,
    ]


def bare_process_state(threads: int, seed: int) -> None:
    """What run_job sets for the whole process before a run, set for a bare loop too, so that
    a bare round does not run under different global settings depending on whether an engine
    round ran before it in this process (deterministic algorithms stay on once set)."""
    runner.start_torch(threads, seed)
