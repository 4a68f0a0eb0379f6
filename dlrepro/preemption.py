"""A scheduler's notice to stop (SLURM's time limit, preemption, `scancel`): checkpoint, exit.

SLURM ends a job by sending SIGTERM to its processes and, `KillWait` seconds later (30 s by
default), SIGKILL. A training run that saves its state in between loses nothing: the retry
(`retries:` in profiles/slurm) or the next workflow run resumes from that checkpoint. With
`--signal=B:USR1@120` in `slurm_extra`, SLURM warns two minutes ahead with SIGUSR1 instead.

The handler only sets a flag: saving inside a signal handler could interrupt a half-written
tensor. The training loop's next `maybe_checkpoint(step)` sees it, saves, and raises
`Preempted`, a SystemExit: the job ends with code 143 (the shell's "killed by SIGTERM") and
no record, as a killed job should, and its checkpoint stays for the resume.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_CODE = 128 + signal.SIGTERM
_requested = threading.Event()
_received: list[str] = []


class Preempted(SystemExit):
    """The run checkpointed after a stop signal and ends now; a rerun resumes it."""

    def __init__(self, step: int) -> None:
        super().__init__(EXIT_CODE)
        self.step = step

    def __str__(self) -> str:
        return f"stopped by {', '.join(_received) or 'a signal'} after step {self.step}"


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signal.Signals(signum).name)
    _requested.set()


def install() -> None:
    """Route the stop signals to the flag (main thread only, as Python requires)."""
    if threading.current_thread() is not threading.main_thread():
        return  # e.g. a Snakemake `run:` job: its process is Snakemake's, not the run's
    for sig in SIGNALS:
        signal.signal(sig, _handler)


def requested() -> bool:
    """Whether a stop signal arrived since `install` (or `reset`)."""
    return _requested.is_set()


def reset() -> None:
    _requested.clear()
    _received.clear()
