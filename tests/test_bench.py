"""The benchmarks stay runnable: `make bench` is not part of the test suite (it times things),
so a change to a reproduction that a benchmark reads must still let it run to its report."""

import io
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import Report, Series, engine_speed  # noqa: E402  (bench/ is not a package)


@pytest.mark.parametrize(
    "script,args",
    [
        ("bench_grokking.py", ["--steps", "2", "--rounds", "5", "--skip-power", "--skip-rerun"]),
        ("bench_lm.py", ["--steps", "2", "--rounds", "5", "--model", "2x8"]),
    ],
)
def test_a_benchmark_runs_to_its_report_on_the_reproduction_as_it_is(script, args):
    # Two steps a round, the fewest rounds: the ratios mean nothing here, so a missed target
    # (exit 1) is fine; a run id or setting the reproduction no longer has is a traceback
    # (exit 1, no report), and a setting that makes the rounds long (bench_lm once ran ~1,000
    # steps a round instead of --steps) shows as a timeout.
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


def _judge(bare: list[float], engine: list[float]) -> tuple[float, list[str], str]:
    report, out = Report("test"), io.StringIO()
    times = {"bare": Series(bare), "engine": Series(engine)}
    with redirect_stdout(out):
        speed = engine_speed(report, "", times, Series([100.0] * len(bare)))
    return speed, report.misses, out.getvalue()


def test_engine_speed_is_the_median_of_round_ratios_so_one_disturbed_round_does_not_decide():
    # One round with a disturbed engine (ratio 0.67) and one with a fast bare loop (0.77):
    # the median is still 1.0; the fastest-rounds ratio (0.77) is printed, not judged.
    bare = [1.00, 1.00, 0.77, 1.00, 1.00]
    engine = [1.00, 1.50, 1.00, 1.00, 1.00]
    speed, misses, out = _judge(bare, engine)
    assert speed == 1.0 and misses == []
    assert "fastest rounds 0.770" in out


def test_engine_speed_misses_when_the_engine_is_slower_in_most_rounds():
    speed, misses, _ = _judge([1.0, 1.1, 1.0, 1.2, 1.0], [1.10, 1.12, 1.11, 1.2, 1.15])
    assert round(speed, 3) == 0.909 and len(misses) == 1


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="bench_workflow reads /proc")
def test_bench_workflow_reads_a_process_cpu_time_and_threads_and_none_once_it_is_gone():
    import bench_workflow

    proc = subprocess.Popen([sys.executable, "-c", "sum(range(10**7))"])
    proc.wait()
    assert bench_workflow.process_seconds(proc.pid) is None  # reaped: no /proc entry
    cpu, threads = bench_workflow.process_seconds(os.getpid())
    busy = bench_workflow.busy_seconds()
    assert 0 < cpu <= busy and threads >= 1
