"""Which GPU a training job uses when several jobs share a multi-GPU machine.

Snakemake's `--resources gpu=N` only caps how many GPU jobs run at once; it does not tell a
job which device is its own (it sets no CUDA_VISIBLE_DEVICES). Each job therefore claims a
free device itself: device i is taken while a process holds an exclusive `flock` on
`<lock_dir>/cuda<i>.lock`. The kernel releases the lock when the process ends, however it
ends, so a killed job never leaves a device marked busy.

Locks are named by the GPU's UUID, not its index, so that jobs that see different subsets
(SLURM's `--gpus` or a user's CUDA_VISIBLE_DEVICES renumber devices from 0) still agree on
which physical device is taken. A process that sees one GPU simply uses it.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

# Open lock files of this process, kept so that the claims last until the process exits.
_HELD: dict[int, IO[str]] = {}
WAIT_MESSAGE_SECONDS = 60.0


def default_lock_dir() -> Path:
    """One folder per user and machine, shared by every workflow that user runs there."""
    return Path(tempfile.gettempdir()) / f"dlrepro-gpu-locks-{os.getuid()}"


def _visible_gpus() -> list[str]:
    """A stable name per visible CUDA device, in torch's index order."""
    import torch

    names = []
    for i in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(i), "uuid", None)
        names.append(f"cuda-{uuid}" if uuid else f"cuda{i}")
    return names


def claim_gpu(
    gpus: list[str],
    lock_dir: Path | None = None,
    poll_seconds: float = 2.0,
    say: Callable[[str], None] = print,
) -> int:
    """Return the index of a GPU no other process holds, and hold it until this process ends.

    `gpus` names the visible devices (lock-file names) in index order. Waits while all are
    held (more GPU jobs than GPUs were started, e.g.
    `--resources gpu=8` on a 4-GPU machine): sharing a GPU would make both jobs slow.
    Calling it again in the same process returns the device already held.
    """
    if _HELD:
        return next(iter(_HELD))
    folder = lock_dir or default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    waited, last_said = 0.0, 0.0
    while True:
        for index, name in enumerate(gpus):
            handle = open(folder / f"{name}.lock", "a+")  # noqa: SIM115 (held open)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")  # who holds it, for a curious user
            handle.flush()
            _HELD[index] = handle
            return index
        if waited - last_said >= WAIT_MESSAGE_SECONDS or waited == 0.0:
            say(f"all {len(gpus)} GPU(s) are in use by other jobs; waiting for one ({folder})")
            last_said = waited
        time.sleep(poll_seconds)
        waited += poll_seconds


def select(device: str, lock_dir: Path | None = None) -> str:
    """Turn a resolved device (`cpu`, `cuda`, `mps`) into the one this job uses.

    `cuda` becomes `cuda:<i>` for a GPU that no concurrent job holds (`cuda:0` when only one
    is visible); other devices are returned as they are.
    """
    if device != "cuda":
        return device
    gpus = _visible_gpus()
    if len(gpus) <= 1:
        return "cuda:0"  # one visible GPU: a scheduler (or the user) already chose it
    index = claim_gpu(gpus, lock_dir)
    import torch

    torch.cuda.set_device(index)  # so that code writing plain `cuda` lands there too
    return f"cuda:{index}"


def release() -> None:
    """Give back the device this process holds (tests; a job simply exits)."""
    for handle in _HELD.values():
        handle.close()
    _HELD.clear()
