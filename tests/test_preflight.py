"""Preflight: a few steps of every run, timed, projected; paper scale must start on a CPU."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ROOT, snakemake

from dlrepro import preflight
from dlrepro.reproduction import load

# Statuses of a run that got going: finished its steps, or was too slow to time here.
STARTED = {"ok", "completed", "slow"}


def context(tmp_path: Path, steps: int) -> preflight.PreflightContext:
    run = load(ROOT / "reproductions" / "grokking").runs("smoke")[0]
    return preflight.PreflightContext(
        run,
        steps=steps,
        events_path=tmp_path / "events.json",
        device="cpu",
        threads=1,
        datasets={},
        checkpoint_path=tmp_path / "never.pt",
        checkpoint_seconds=math.inf,
    )


def test_the_loop_is_stopped_after_k_steps_once_it_has_said_its_length(tmp_path: Path) -> None:
    ctx = context(tmp_path, steps=2)
    model = torch.nn.Linear(3, 2)
    ctx.register(model=model)
    reached = []
    with pytest.raises(preflight.StopPreflight):
        for step in range(ctx.resume(), 1001):
            reached.append(step)
            if step % 3 == 0:  # a loop that reports its length only every few steps
                ctx.progress(step, 1000)
            ctx.maybe_checkpoint(step)
    assert reached == [1, 2, 3]
    events = json.loads((tmp_path / "events.json").read_text())
    assert events["total_steps"] == 1000 and events["n_params"] == 3 * 2 + 2
    assert len(events["step_times"]) == 3 and events["registered"]
    assert not (tmp_path / "never.pt").exists()  # the preflight never checkpoints


def test_seconds_per_step_leave_out_the_first_step_and_project_the_full_run() -> None:
    run = load(ROOT / "reproductions" / "grokking").runs("smoke")[0]
    events = {
        "t_start": 100.0,
        "t_loop": 110.0,  # 10 s of setup
        "step_times": [115.0, 117.0, 119.0],  # first step 5 s, then 2 s a step
        "total_steps": 3600,
        "registered": True,
        "peak_mem_mb": 900.0,
        "outcome": "ok",
    }
    row = preflight.summarize(
        events, run, resources={"gpu": 2, "runtime": 60, "mem_mb": 800}, seeds=3
    )
    assert row["s_per_step"] == pytest.approx(2.0)
    assert row["projected_h"] == pytest.approx((10 + 2 * 3600) / 3600)
    assert row["gpu_h"] == pytest.approx(2 * row["projected_h"])
    assert row["fits_runtime"] is False and row["fits_mem"] is False
    assert row["status"] == "ok" and row["started"] and row["seeds"] == 3
    cpu = preflight.summarize(events, run, resources={"runtime": 240}, seeds=1)
    assert cpu["gpu_h"] == 0.0 and cpu["fits_runtime"] is True
    # A run with no step loop that finished inside the preflight is projected by its time.
    done = {"t_start": 0.0, "step_times": [], "outcome": "completed", "wall_s": 36.0}
    row = preflight.summarize(done, run, resources={"runtime": 1}, seeds=1)
    assert row["projected_h"] == pytest.approx(0.01) and row["fits_runtime"] is True


def test_a_missing_dataset_with_a_known_shape_gets_a_labelled_random_stand_in(
    tmp_path: Path,
) -> None:
    out = tmp_path / "cifar10.pt"
    cfg = {"cifar10": None, "download": False, "root": str(tmp_path / "nothing-here")}
    info = preflight.prepare_data("cifar10", out, cfg)
    assert info["source"].startswith("STAND-IN")
    blob = torch.load(out, weights_only=True)
    assert tuple(blob["train_x"].shape) == (50000, 3, 32, 32)
    assert tuple(blob["test_x"].shape) == (10000, 3, 32, 32)
    assert preflight.stand_in_notes([str(out)]) == "cifar10: stand-in"


@pytest.mark.workflow
def test_every_paper_scale_run_starts_on_the_cpu(tmp_path: Path) -> None:
    """One step of one run per sweep (its last grid point); a step slower than the time box is
    reported as `slow`, which still proves that the run's settings build and train. One thread
    per run, so that two runs share the two cores (the paper scale asks for more per run)."""
    t0 = time.perf_counter()
    proc = snakemake(
        tmp_path,
        "--cores",
        "2",
        "--config",
        "scale=paper",
        "preflight=true",
        "preflight_steps=1",
        "preflight_per=sweep",
        "preflight_seconds=10",
        "device=cpu",
        "threads=1",
        timeout=1500,
    )
    out = tmp_path / "results" / "paper-preflight"
    rows = pd.read_csv(out / "preflight.csv")
    print(f"preflight of the paper scale: {len(rows)} runs in {time.perf_counter() - t0:.0f} s")
    print((out / "report.txt").read_text())
    # Kaplan's largest L(D) subsets are bigger than the default corpus (the only text here):
    # the preflight must say so, naming the setting that fixes it; nothing else may fail.
    needs_corpus = (rows["status"] == "cannot_start") & rows["error"].str.contains(
        "set data.corpus to a larger text", na=False
    )
    assert set(rows.loc[needs_corpus, "reproduction"]) <= {"scaling"}
    bad = rows[~rows["status"].isin(STARTED) & ~needs_corpus]
    assert bad.empty, bad[["reproduction", "run_id", "status", "error"]].to_string()
    # Every reproduction gets a GPU-hour total in the printed report.
    for name in rows["reproduction"].unique():
        assert f"{name}: " in proc.stdout and "GPU-h" in proc.stdout
