"""The benchmarks stay runnable: `make bench` is not part of the test suite (it times things),
so a change to a reproduction that a benchmark reads must still let it run to its report."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script,args",
    [
        ("bench_grokking.py", ["--steps", "2", "--skip-power", "--skip-rerun"]),
        ("bench_lm.py", ["--steps", "2", "--model", "2x8"]),
    ],
)
def test_a_benchmark_runs_to_its_report_on_the_reproduction_as_it_is(script, args):
    # Two steps a round: the ratios mean nothing here, so a missed target (exit 1) is fine;
    # a run id or setting the reproduction no longer has is a traceback (exit 1, no report),
    # and a setting that makes the rounds long (bench_lm once ran ~1,000 steps a round
    # instead of --steps) shows as a timeout.
    proc = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    assert proc.returncode in (0, 1) and "engine/bare" in out, out[-3000:]
