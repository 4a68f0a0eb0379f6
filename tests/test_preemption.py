"""A SLURM time limit (SIGTERM) mid-run: the run checkpoints, exits 143, and a rerun resumes
from that checkpoint to the same numbers as a run that was never stopped. A loop that never
checkpoints still ends after the grace period instead of ignoring the signal."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from dlrepro import preemption, tables

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "fixtures" / "preemptible.py"


def _fixture():
    spec = importlib.util.spec_from_file_location("preemptible", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start(folder: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(folder), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_for_step(proc: subprocess.Popen, folder: Path, step: int, timeout: float = 20) -> None:
    marker = folder / "at_step"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early:\n{proc.stdout.read()}")
        if marker.exists() and marker.read_text().strip() and int(marker.read_text()) >= step:
            return
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the run did not reach step {step} in {timeout} s")


def test_sigterm_checkpoints_and_a_rerun_resumes_to_the_same_numbers(tmp_path):
    whole_dir, stopped_dir = tmp_path / "whole", tmp_path / "stopped"
    whole_dir.mkdir()
    stopped_dir.mkdir()
    fixture = _fixture()
    handler = signal.getsignal(signal.SIGTERM)
    assert fixture.main(whole_dir, "checkpointing", 0.0) == 0
    assert signal.getsignal(signal.SIGTERM) is handler  # run_job put the handler back

    proc = _start(stopped_dir, "checkpointing", "0.1")
    _wait_for_step(proc, stopped_dir, 5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == preemption.EXIT_CODE == 143, out
    assert "stopped by SIGTERM after step" in out, out
    assert (stopped_dir / "checkpoint.pt").exists()
    assert not (stopped_dir / "run.json").exists()  # a stopped run is not recorded as done
    at = torch.load(stopped_dir / "checkpoint.pt", weights_only=True)["step"]
    assert 5 <= at < fixture.STEPS

    proc = _start(stopped_dir, "checkpointing", "0")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"resumed from checkpoint at step {at}" in out, out
    assert not (stopped_dir / "checkpoint.pt").exists()

    whole = tables.read(whole_dir / "metrics.parquet", "metrics")
    resumed = tables.read(stopped_dir / "metrics.parquet", "metrics")
    cols = [c for c in whole.columns if c != "elapsed_s"]
    pd.testing.assert_frame_equal(whole[cols], resumed[cols])
    a, b = (torch.load(d / "weights.pt", weights_only=True) for d in (whole_dir, stopped_dir))
    assert a.keys() == {"weight", "bias"} and all(torch.equal(a[k], b[k]) for k in a)


def test_a_loop_that_never_checkpoints_ends_after_the_grace_period(tmp_path):
    proc = _start(tmp_path, "never", "0.05", "1")  # grace: 1 s
    _wait_for_step(proc, tmp_path, 3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 143, out
    assert time.monotonic() - t0 < 10
    assert "did not reach a checkpoint" in out, out
    assert not (tmp_path / "checkpoint.pt").exists()
