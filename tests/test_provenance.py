"""What a run records about where it ran, how jobs share GPUs, and the stop-signal flag."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from dlrepro import devices, preemption, provenance


def test_a_cpu_is_recorded_by_model_and_kernel_isa_not_just_its_architecture() -> None:
    cpu = provenance.cpu()
    name = provenance.device_name("cpu")
    assert name != f"cpu:{cpu['arch']}"
    assert cpu["model"] in name and cpu["torch_capability"] in name
    assert cpu["torch_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(cpu["isa"]) <= set(provenance.ISA_FLAGS)


def test_cpuinfo_is_read_from_the_first_processor_only(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Chip A\nflags\t\t: fpu avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: Chip B\nflags\t\t: fpu\n\n"
    )
    fields = provenance._cpuinfo(info)
    assert fields["model name"] == "Chip A"
    assert fields["flags"].split() == ["fpu", "avx2", "fma"]


def test_the_host_record_names_machine_gpus_and_cuda_versions() -> None:
    host = provenance.host("cpu")
    assert host["hostname"] == socket.gethostname()
    assert host["device"] == "cpu"
    assert host["gpu"]["count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert host["gpu"]["cuda_version"] == (torch.version.cuda or "")
    assert len(host["gpu"]["names"]) == host["gpu"]["count"]


def test_the_slurm_job_is_recorded_inside_a_slurm_job_and_absent_outside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert provenance.host()["slurm_job_id"] == "4242"
    monkeypatch.delenv("SLURM_JOB_ID")
    assert "slurm_job_id" not in provenance.host()


# -- GPUs: each concurrent job claims a device no other job holds ------------------------------
@pytest.fixture
def lock_dir(tmp_path: Path):
    yield tmp_path / "locks"
    devices.release()


def hold(lock_dir: Path, name: str):
    """What another job's claim looks like: an exclusive flock on the device's file."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_dir / f"{name}.lock", "a+")  # noqa: SIM115
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_a_job_takes_the_first_gpu_that_no_other_job_holds(lock_dir: Path) -> None:
    other = hold(lock_dir, "cuda-0")
    try:
        assert devices.claim_gpu(["cuda-0", "cuda-1", "cuda-2"], lock_dir) == 1
        # The claim is this process's until it ends: asking again gives the same device.
        assert devices.claim_gpu(["cuda-0", "cuda-1", "cuda-2"], lock_dir) == 1
        with pytest.raises(BlockingIOError):
            hold(lock_dir, "cuda-1")
    finally:
        other.close()


def test_a_job_waits_while_every_gpu_is_held_and_takes_the_first_one_freed(
    lock_dir: Path,
) -> None:
    held = [hold(lock_dir, "cuda-0"), hold(lock_dir, "cuda-1")]
    said: list[str] = []
    threading.Timer(0.3, held[1].close).start()
    t0 = time.perf_counter()
    index = devices.claim_gpu(["cuda-0", "cuda-1"], lock_dir, poll_seconds=0.05, say=said.append)
    assert index == 1 and time.perf_counter() - t0 >= 0.25
    assert said and "waiting" in said[0]
    held[0].close()


def test_devices_other_than_cuda_are_used_as_they_are() -> None:
    assert devices.select("cpu") == "cpu"
    assert devices.select("mps") == "mps"


# -- a scheduler's stop signal ------------------------------------------------------------------
def test_sigterm_sets_the_stop_flag_instead_of_ending_the_process() -> None:
    before = {sig: signal.getsignal(sig) for sig in preemption.SIGNALS}
    try:
        preemption.reset()
        preemption.install()
        assert not preemption.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs between bytecodes of the main thread
        assert preemption.requested()
        stop = preemption.Preempted(step=17)
        assert isinstance(stop, SystemExit) and stop.code == 143
        assert "SIGTERM" in str(stop) and "17" in str(stop)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        preemption.reset()
