"""Warm starts (dlrepro/warm.py): a workflow job on this machine runs in a child forked from a
server that has imported torch. The child must be indistinguishable from the job's own
process: the same numbers, its output in the job's log, a UserError as one clean line and the
same exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dlrepro import warm

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "tests" / "fixtures" / "warm_job.py"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="warm starts are Linux-only")


@pytest.fixture
def server(tmp_path):
    """A warm server whose socket lives in this test's folder (TMPDIR), for these tests only."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    path = Path(
        subprocess.check_output(
            [sys.executable, "-c", "from dlrepro import warm; print(warm.socket_path())"],
            env=env,
            text=True,
        ).strip()
    )
    proc = subprocess.Popen([sys.executable, warm.__file__, str(path)], env=env)
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    assert path.parent.stat().st_mode & 0o777 == 0o700  # no other user can stand in for it
    env["WARM_SERVER_PID"] = str(proc.pid)
    yield env
    proc.terminate()
    proc.wait(timeout=30)


def _job(env: dict, warm_on: bool, *args: str) -> subprocess.CompletedProcess:
    env = {**env, "DLREPRO_WARM": "1" if warm_on else "0"}
    return subprocess.run(
        [sys.executable, str(JOB), *args], env=env, capture_output=True, text=True, timeout=300
    )


def _numbers(folder: Path) -> pd.DataFrame:
    m = pd.read_parquet(folder / "runs" / "r" / "metrics.parquet")
    return m[[c for c in m.columns if "time" not in c and "wall" not in c and c != "elapsed_s"]]


def test_a_warm_child_trains_to_the_same_numbers_as_the_jobs_own_process(server, tmp_path):
    warm_out, cold_out = tmp_path / "warm", tmp_path / "cold"
    hot = _job(server, True, "train", str(warm_out))
    cold = _job(server, False, "train", str(cold_out))
    assert hot.returncode == 0 and cold.returncode == 0, hot.stderr + cold.stderr
    assert "torch imported here: False" in hot.stdout  # the child trained, not the job
    assert "torch imported here: True" in cold.stdout
    pd.testing.assert_frame_equal(_numbers(warm_out), _numbers(cold_out))
    assert (warm_out / "runs" / "r" / "run.json").exists()
    assert "start: device cpu" in (warm_out / "job.log").read_text()  # the child wrote it


def test_a_user_error_in_a_warm_child_is_one_clean_line_and_exit_1(server, tmp_path):
    out = _job(server, True, "bad", str(tmp_path))
    assert out.returncode == 1
    assert "dlrepro: results folder 'grokking+p=7' is not what" in out.stderr
    assert "Traceback" not in out.stderr


def test_sigterm_to_the_job_reaches_its_warm_child_which_checkpoints_and_exits_143(
    server, tmp_path
):
    env = {**server, "DLREPRO_WARM": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(JOB), "long", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "job.log"
    deadline = time.monotonic() + 120
    while "start: device" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert "stopped by SIGTERM after step" in err
    assert list((tmp_path / "checkpoints").glob("*.pt"))  # a rerun resumes from here
    assert "torch imported here: False" in out


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_job_killed_outright_takes_its_warm_child_with_it(server, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(JOB), "long", str(tmp_path)],
        env={**server, "DLREPRO_WARM": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log, deadline = tmp_path / "job.log", time.monotonic() + 120
    while "start: device" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    server_pid = int(server["WARM_SERVER_PID"])
    assert len(_children(server_pid)) == 1
    proc.kill()  # SIGKILL: nothing is passed on; the server sees the job's end of the socket close
    proc.wait()
    deadline = time.monotonic() + 10
    while _children(server_pid):
        assert time.monotonic() < deadline, "the child outlived its job"
        time.sleep(0.1)


def test_without_a_server_the_first_job_starts_one_and_is_served_by_it(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    first = _job(env, True, "train", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr
    assert "torch imported here: False" in first.stdout  # it waited for the server it started
    assert list(tmp_path.glob("dlrepro-warm-*/*.sock"))
    again = _job(env, True, "bad", str(tmp_path))
    assert again.returncode == 1 and "is not what" in again.stderr
