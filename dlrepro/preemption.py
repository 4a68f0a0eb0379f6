"""A scheduler's notice to stop (SLURM's time limit, preemption, `scancel`): checkpoint, exit.

SLURM ends a job by sending SIGTERM to its processes and, `KillWait` seconds later (30 s by
default), SIGKILL. A training run that saves its state in between loses nothing: the retry
(`retries:` in profiles/slurm) or the next workflow run resumes from that checkpoint. With
`--signal=TERM@120` in `slurm_extra`, SLURM sends the SIGTERM two minutes ahead instead.

`run_job` trains inside `watch()`. The handler only sets a flag: saving inside a signal
handler could interrupt a half-written tensor. The training loop's next
`maybe_checkpoint(step)` sees it, saves, and raises `Preempted`, a SystemExit: the job ends
with code 143 (the shell's "killed by SIGTERM") and no record, as a killed job should, and
its checkpoint stays for the resume.

A loop that never calls `maybe_checkpoint` (or is stuck in one long call) must not ignore
SIGTERM: a watcher thread learns of the signal at once (through `signal.set_wakeup_fd`, which
works while the main thread is inside C code) and, when no checkpoint has started within
`GRACE_SECONDS`, ends the process with code 143 as the default action would.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_CODE = 128 + signal.SIGTERM
# How long a stop signal may wait for the loop's next `maybe_checkpoint` before the process
# ends without one: below SLURM's default KillWait (30 s), after which SIGKILL comes anyway.
GRACE_SECONDS = 25.0
_requested = threading.Event()
_stand_down = threading.Event()  # the request is being honoured, or the run is over
_received: list[str] = []


class Preempted(SystemExit):
    """The run checkpointed after a stop signal and ends now; a rerun resumes it."""

    def __init__(self, step: int, by: str | None = None) -> None:
        super().__init__(EXIT_CODE)
        self.step = step
        self.by = by or ", ".join(_received) or "a signal"  # (a warm child names its own)

    def __str__(self) -> str:
        return f"stopped by {self.by} after step {self.step}"


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


def honour() -> None:
    """Called by the loop's checkpoint as it saves for a stop request: the watcher stands down
    (the loop exits by itself once the checkpoint is written)."""
    _stand_down.set()


def reset() -> None:
    _requested.clear()
    _stand_down.clear()
    _received.clear()


def _say(message: str) -> None:
    """Write to the job's log (sys.stderr, redirected by jobs.job_log) and to the process's
    own stderr (Snakemake's or SLURM's output), whichever exist."""
    try:
        if sys.stderr is not None and sys.stderr is not sys.__stderr__:
            print(message, file=sys.stderr, flush=True)
    except Exception:
        pass
    os.write(2, (message + "\n").encode())


def _watch(read_fd: int, grace: float) -> None:
    """The watcher thread: wait for a stop signal's byte on the wakeup pipe, then for the loop
    to honour it; end the process when it does not within `grace` seconds."""
    stops = {int(s) for s in SIGNALS}
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return  # the write end closed: the run is over
        if stops & set(data):
            break
    if _stand_down.wait(grace):
        return
    _say(
        f"dlrepro: a stop signal came and the training loop did not reach a checkpoint "
        f"(run.maybe_checkpoint) within {grace:g} s; ending without one (exit {EXIT_CODE})"
    )
    os._exit(EXIT_CODE)


@contextmanager
def watch(grace_seconds: float | None = None) -> Iterator[None]:
    """Within the block, SIGTERM/SIGUSR1 set the flag that `RunContext.maybe_checkpoint`
    honours; without a checkpoint within `grace_seconds` (default `GRACE_SECONDS`), the
    process ends with code 143. On leaving, the previous handlers are back. Outside the main
    thread (where Python cannot set handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    grace = GRACE_SECONDS if grace_seconds is None else float(grace_seconds)
    reset()
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(
        target=_watch, args=(read_fd, grace), name="dlrepro-stop-watcher", daemon=True
    )
    watcher.start()
    install()
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_fd)
        _stand_down.set()  # a signal that came as the run finished: let it finish
        os.close(write_fd)  # the watcher reads end-of-file and returns
        watcher.join(timeout=5)
        if not watcher.is_alive():
            os.close(read_fd)
