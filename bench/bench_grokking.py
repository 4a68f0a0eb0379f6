"""Benchmark: the engine's grokking training loop against a bare torch loop, and the wall time
of a no-op rerun of the smoke workflow. Prints ratios measured in this one run.

    python bench/bench_grokking.py [--steps 400] [--threads 1]

Targets (issue #2): engine/bare steps per second >= 0.95; no-op rerun <= 5 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlrepro.reproduction import discover  # noqa: E402
from dlrepro.runner import run_job  # noqa: E402
from reproductions.grokking.data import split  # noqa: E402
from reproductions.grokking.model import build  # noqa: E402


def bare_loop(settings: dict, steps: int) -> float:
    """The loop anyone would write by hand: full batch AdamW, nothing else. Steps per second."""
    xt, yt, _, _ = split(settings["p"], settings["op"], settings["frac"], settings["seed"])
    torch.manual_seed(settings["seed"])
    model = build(settings)
    opt = torch.optim.AdamW(
        model.parameters(), lr=settings["lr"], betas=tuple(settings["betas"]), weight_decay=1.0
    )
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(xt), yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def engine_loop(settings: dict, steps: int) -> float:
    """The reproduction's own train() under the runner (metrics, checks, checkpoints)."""
    repro = discover()["grokking"]
    run = dataclasses.replace(repro.run("cpu", "wd-s0"), settings=settings)
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "log", "w") as log:
        t = Path(tmp)
        run_job(
            repro,
            run,
            "cpu",
            torch.get_num_threads(),
            {},
            t / "m.parquet",
            t / "r.json",
            t / "c.pt",
            checkpoint_seconds=60,
            stream=log,
        )
        record = json.loads((t / "r.json").read_text())
    return record["steps"] / record["train_s"]


def noop_rerun_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            str(Path(sys.executable).parent / "snakemake"),
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--configfile",
            str(ROOT / "config/config.yaml"),
            "--directory",
            tmp,
            "--cores",
            "2",
            "--config",
            "scale=smoke",
            "reproductions=[grokking]",
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-rerun", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repro = discover()["grokking"]
    base = {**repro.run("cpu", "wd-s0").settings, "steps": args.steps, "stop_after_val": None}
    bookkeeping_only = {**base, "eval_every": args.steps, "fourier_points": 2}

    bare = bare_loop(base, args.steps)
    lean = engine_loop(bookkeeping_only, args.steps)
    full = engine_loop(base, args.steps)
    bare2 = bare_loop(base, args.steps)  # again, so that drift in machine load shows
    bare = (bare + bare2) / 2
    print(f"grokking MLP, p={base['p']}, full batch, {args.steps} steps, {args.threads} thread(s)")
    print(f"  bare torch loop          {bare:8.1f} steps/s (two passes: {bare2:.1f} last)")
    print(
        f"  engine, bookkeeping only {lean:8.1f} steps/s  ratio {lean / bare:.3f}  (target >= 0.95)"
    )
    print(
        f"  engine, cpu-scale logging{full:8.1f} steps/s  ratio {full / bare:.3f}  "
        f"(eval every {base['eval_every']} steps + {base['fourier_points']} spectra)"
    )
    if not args.skip_rerun:
        print(f"  no-op rerun of the smoke workflow: {noop_rerun_seconds():.2f} s (target <= 5 s)")


if __name__ == "__main__":
    main()
