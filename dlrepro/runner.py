"""Drive one training run: threads, seed, device, metrics, checkpoints, divergence, record.

A reproduction's `task.train(run)` receives a `RunContext` and writes its loop (as in nanoGPT's
train.py), or hands the run to the shared image-classification trainer (dlrepro.trainer). The
context owns what survives a restart: a task registers its model, optimizer and generators
once, and the context saves and restores them:

    run.register(model=model, optimizer=opt, generators=[g], progress=progress_dict)
    start = run.resume()                  # 1 on a fresh start, else the step after the checkpoint
    for step in range(start, total + 1):
        ...train...
        run.check_finite(loss=loss)       # raises Diverged on NaN/inf
        run.log(step, "train", {"loss": loss})
        run.progress(step, total, loss=loss)
        run.maybe_checkpoint(step)        # every few minutes, and at once after SIGTERM

Steps count from 1; step 0 is the state before training. `run_job` wraps `train` and writes
metrics.parquet, run.json and the registered model's final weights, whatever the run's fate,
except a stop signal (SLURM's time limit, dlrepro.preemption): the next `maybe_checkpoint`
then saves and the job exits with code 143, writing nothing else; a rerun resumes.

A resumed run continues with the same numbers as an uninterrupted one: the checkpoint holds
the registered objects, the metrics so far, torch's global RNG and, on CUDA, the device's RNG.
On the CPU that is bit-exact. On a GPU it is as exact as the kernels are deterministic
(`torch.use_deterministic_algorithms` is on, with warnings only, so a kernel without a
deterministic version may still differ in the last bits).
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import torch

from dlrepro import __version__, preemption, provenance, tables
from dlrepro.atomic import write_json, write_with
from dlrepro.errors import Diverged, UserError
from dlrepro.reproduction import Reproduction, Run

PROGRESS_SECONDS = 5.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Datasets(dict):
    """Prepared dataset files by name; naming one the scale does not list is a UserError."""

    def __init__(self, paths: dict[str, Path], run_id: str) -> None:
        super().__init__(paths)
        self.run_id = run_id

    def __missing__(self, name: str) -> Path:
        raise UserError(
            f"run {self.run_id} reads dataset {name!r}, but its scale lists only "
            f"{sorted(self)}; add it to the scale's (or the sweep's) `datasets` in "
            "reproduction.yaml"
        )


def _is_restorable(obj: Any) -> bool:
    return (
        hasattr(obj, "state_dict")
        or isinstance(obj, torch.Generator | torch.Tensor | dict)
        or (isinstance(obj, list | tuple) and all(isinstance(g, torch.Generator) for g in obj))
    )


def _state_of(obj: Any) -> Any:
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, list | tuple):
        return [g.get_state() for g in obj]
    if isinstance(obj, dict):
        return dict(obj)
    return obj  # a tensor: torch.save copies it when the checkpoint is written


def _restore(obj: Any, state: Any) -> None:
    """Put `state` back into `obj` in place, so that the task's references stay valid."""
    if hasattr(obj, "load_state_dict"):
        obj.load_state_dict(state)
    elif isinstance(obj, torch.Generator):
        obj.set_state(state.cpu())  # generator states are CPU byte tensors, even on CUDA
    elif isinstance(obj, list | tuple):
        for g, s in zip(obj, state, strict=True):
            g.set_state(s.cpu())
    elif isinstance(obj, dict):
        obj.clear()
        obj.update(state)
    else:
        with torch.no_grad():
            obj.copy_(state)


class RunningMeans:
    """Means of values over the steps between two logs (e.g. the training loss of the batches
    since the last log). Register it with the RunContext and it survives a restart.

        sums.add(len(y), loss=loss * len(y), wrong=float(wrong))   # sums, and their count
        means = sums.pop()                                         # {"loss": ..., "wrong": ...}
    """

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0.0

    def add(self, count: float, **sums: float) -> None:
        for key, value in sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += count

    def pop(self) -> dict[str, float]:
        """The means since the last pop, then start again."""
        means = {key: value / self.count for key, value in self.sums.items()}
        self.sums, self.count = {}, 0.0
        return means

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.count = dict(state["sums"]), float(state["count"])


class RunContext:
    """What a task's training loop sees: the run's settings and the engine's bookkeeping.

    Fields: `settings` (every setting, resolved), `seed`, `run_id`, `device` (torch.device),
    `threads`, `datasets[name]` (prepared file), `data_info` and `model_info` (dicts the task
    fills with what it read, e.g. checksums and sizes, and what it trained, e.g. the model's
    configuration and parameter count; both go into run.json), `run` (the Run: sweep,
    params, ...).
    """

    def __init__(
        self,
        run: Run,
        *,
        device: str,
        threads: int,
        datasets: dict[str, Path],
        checkpoint_path: Path,
        checkpoint_seconds: float,
        init_weights: Path | None = None,
        stream: TextIO = sys.stdout,
    ) -> None:
        self.run = run
        self.run_id = run.run_id
        self.settings = run.settings
        self.seed = run.seed
        self.device = torch.device(device)
        self.threads = threads
        self.datasets = Datasets(datasets, run.run_id)
        self.data_info: dict[str, Any] = {}
        self.model_info: dict[str, Any] = {}
        self._ckpt = checkpoint_path
        self._ckpt_every = checkpoint_seconds
        self._init_weights = init_weights
        self._out = stream
        self._tracked: dict[str, Any] = {}
        self._rows: list[list[Any]] = []
        self._elapsed_before = 0.0
        self._t0 = time.perf_counter()
        self._last_ckpt = time.perf_counter()
        self._last_progress = 0.0
        self.last_step = 0

    # -- time and output ---------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds of training so far, across resumes."""
        return self._elapsed_before + time.perf_counter() - self._t0

    def print(self, message: str) -> None:
        print(f"[{self.run.reproduction} {self.run_id}] {message}", file=self._out, flush=True)

    def progress(self, step: int, total: int, force: bool = False, **values: float) -> None:
        """Print step, values and an ETA, at most every few seconds (and at the last step)."""
        now = time.perf_counter()
        if not (force or step >= total or now - self._last_progress >= PROGRESS_SECONDS):
            return
        self._last_progress = now
        done = max(step, 1) / max(total, 1)
        eta = self.elapsed() * (1 - done) / done
        shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
        self.print(
            f"step {step}/{total} {100 * done:3.0f}%  {shown}  "
            f"{self.elapsed():.0f}s elapsed, ETA {eta:.0f}s"
        )

    # -- metrics -----------------------------------------------------------------------------
    def log(
        self, step: int, split: str, values: dict[str, float], epoch: float | None = None
    ) -> None:
        """Record metric values at `step` (long format: one row per value)."""
        t = self.elapsed()
        ep = math.nan if epoch is None else float(epoch)
        for name, value in values.items():
            self._rows.append([int(step), ep, split, name, float(value), t])
        self.last_step = max(self.last_step, int(step))

    def check_finite(self, **values: float) -> None:
        """Raise Diverged if any value is NaN or infinite."""
        bad = {k: v for k, v in values.items() if not math.isfinite(float(v))}
        if bad:
            raise Diverged(f"non-finite {bad} at step {self.last_step}")

    # -- training state ----------------------------------------------------------------------
    def register(
        self,
        model: torch.nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        generators: list[torch.Generator] | tuple[torch.Generator, ...] = (),
        **extra: Any,
    ) -> None:
        """Declare, once, what a checkpoint saves and `resume` restores in place.

        `model` is also what the run's final weights file holds. `extra` takes anything with
        `state_dict`/`load_state_dict` (schedulers, RunningMeans), tensors and dicts (for
        plain values such as an epoch's order or a stop step: keep them in a dict that the
        loop reads and writes).
        """
        if self._tracked:
            raise RuntimeError("run.register is called once, with everything to checkpoint")
        tracked = {"model": model, "optimizer": optimizer, "generators": list(generators)}
        tracked.update(extra)
        for name, obj in tracked.items():
            if obj is not None and not _is_restorable(obj):
                raise TypeError(
                    f"run.register({name}=...) got a {type(obj).__name__}, which cannot be "
                    "restored in place; register a dict, a tensor, a generator or an object "
                    "with state_dict()"
                )
        self._tracked = {k: v for k, v in tracked.items() if v is not None}

    def maybe_checkpoint(self, step: int, force: bool = False) -> bool:
        """Save the registered objects if the checkpoint interval has passed; return whether
        it saved. Call it at the end of every step, after logging: a resumed run continues
        with the step after `step`.

        After a stop signal (SLURM's time limit: dlrepro.preemption) it saves at once and
        raises `Preempted`, which ends the job with code 143; a rerun resumes from here."""
        stop = preemption.requested()
        if stop:
            preemption.honour()
        elif not force and time.perf_counter() - self._last_ckpt < self._ckpt_every:
            return False
        blob = {
            "settings_hash": self.run.settings_hash,
            "step": int(step),
            "elapsed": self.elapsed(),
            "rows": self._rows,
            "torch_rng": torch.get_rng_state(),
            "state": {name: _state_of(obj) for name, obj in self._tracked.items()},
        }
        if self.device.type == "cuda":
            blob["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        write_with(self._ckpt, lambda tmp: torch.save(blob, tmp))
        self._last_ckpt = time.perf_counter()
        if stop:
            stopped = preemption.Preempted(int(step))
            self.print(
                f"{stopped}: checkpoint saved to {self._ckpt}; exiting with code "
                f"{stopped.code}, a rerun resumes from step {int(step) + 1}"
            )
            raise stopped
        return True

    def resume(self) -> int:
        """Restore the registered objects from this run's checkpoint (same settings) in place
        and return the step to continue with; 1, and nothing touched, on a fresh start."""
        if not self._ckpt.exists():
            return 1
        try:
            blob = torch.load(self._ckpt, map_location=self.device, weights_only=True)
        except Exception as e:  # a checkpoint we cannot read is not worth failing the run for
            self.print(f"ignoring unreadable checkpoint {self._ckpt}: {e}")
            return 1
        if blob.get("settings_hash") != self.run.settings_hash:
            self.print("checkpoint is from different settings; starting from step 1")
            return 1
        if set(blob["state"]) != set(self._tracked):
            self.print(
                f"checkpoint holds {sorted(blob['state'])}, the task registered "
                f"{sorted(self._tracked)}; starting from step 1"
            )
            return 1
        for name, obj in self._tracked.items():
            _restore(obj, blob["state"][name])
        self._rows = [list(r) for r in blob["rows"]]
        self._elapsed_before = float(blob["elapsed"])
        self._t0 = time.perf_counter()
        torch.set_rng_state(blob["torch_rng"].cpu())
        if "cuda_rng" in blob and self.device.type == "cuda":
            torch.cuda.set_rng_state(blob["cuda_rng"].cpu(), self.device)
        self.last_step = int(blob["step"])
        self.print(f"resumed from checkpoint at step {blob['step']}")
        return int(blob["step"]) + 1

    def discard_checkpoint(self) -> None:
        self._ckpt.unlink(missing_ok=True)

    # -- weights -----------------------------------------------------------------------------
    def init_weights(self) -> dict[str, torch.Tensor] | None:
        """The final weights of the run this one starts from (its sweep's `init_from`), as a
        state_dict on this run's device; None when the sweep has no `init_from`."""
        if self._init_weights is None:
            return None
        weights = torch.load(self._init_weights, map_location=self.device, weights_only=True)
        if not weights:
            raise UserError(
                f"run {self.run_id} starts from {self._init_weights}, which holds no weights: "
                "its run registered no model (run.register(model=...))"
            )
        return weights

    def final_weights(self) -> dict[str, torch.Tensor]:
        """The registered model's state_dict on the CPU; {} when no model was registered."""
        model = self._tracked.get("model")
        if model is None:
            return {}
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}

    # -- results -----------------------------------------------------------------------------
    def metrics_frame(self) -> pd.DataFrame:
        """The run's metrics table: its identity columns, then one row per logged value.
        Built in one DataFrame call: column by column it cost ~20 ms a job."""
        r = self.run
        n = len(self._rows)
        step, epoch, split, metric, value, elapsed = (
            zip(*self._rows, strict=True) if n else ((),) * 6
        )
        head = {
            "run_id": r.run_id,
            "reproduction": r.reproduction,
            "scale": r.scale,
            "sweep": r.sweep,
            "seed": r.seed,
            **r.params,
        }
        cols: dict[str, Any] = {
            k: pd.Series([v] * n, dtype=object if isinstance(v, str) else None)
            for k, v in head.items()
        }
        cols.update(
            step=np.asarray(step, dtype="int64"),
            epoch=np.asarray(epoch, dtype="float64"),
            split=pd.Series(split),
            metric=pd.Series(metric),
            value=np.asarray(value, dtype="float64"),
            elapsed_s=np.asarray(elapsed, dtype="float64"),
        )
        return pd.DataFrame(cols).astype({"seed": "int64"})


def start_torch(threads: int, seed: int) -> None:
    """The process-wide torch state every run starts from (a job and a preflight child alike).

    Denormal floats are flushed to zero on the CPU: once a classifier fits its training set,
    the softmax probabilities of the wrong classes fall below 1e-38 and, kept as denormals,
    make each step several times slower (grokking's unregularized MLP: 28 -> 94 ms per step
    between steps 3,000 and 6,500, identical losses with and without flushing, and the same
    cpu verdicts to every digit). The flag is the CPU's; GPU kernels are not affected.
    """
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def run_job(
    repro: Reproduction,
    run: Run,
    *,
    device: str,
    threads: int,
    datasets: dict[str, Path],
    metrics_path: Path,
    record_path: Path,
    checkpoint_path: Path,
    checkpoint_seconds: float,
    weights_path: Path,
    init_weights: Path | None = None,
    stream: TextIO = sys.stdout,
) -> str:
    """Train one run and write its metrics, record and final weights; return its status.

    A diverged or crashed run is recorded (status `diverged` or `failed`) and its files are
    written all the same; a UserError (bad data or settings) is re-raised because only the
    user can fix it. `init_weights` is the weights file of the run this one starts from.
    """
    start_torch(threads, run.seed)
    ctx = RunContext(
        run,
        device=device,
        threads=threads,
        datasets=datasets,
        checkpoint_path=checkpoint_path,
        checkpoint_seconds=checkpoint_seconds,
        init_weights=init_weights,
        stream=stream,
    )
    started, t0 = _now(), time.perf_counter()
    ctx.print(f"start: device {device}, {threads} thread(s), settings {run.settings}")
    status, error = "completed", ""
    try:
        # SIGTERM (a SLURM time limit) -> the loop's next maybe_checkpoint saves and raises
        # Preempted (SystemExit 143): no record is written, the checkpoint stays.
        with preemption.watch():
            repro.task.train(ctx)
    except Diverged as e:
        status, error = "diverged", str(e)
        ctx.print(f"diverged: {e}")
    except UserError:
        raise
    except Exception as e:
        status, error = "failed", f"{type(e).__name__}: {e}"
        traceback.print_exc(file=stream)
        ctx.print(f"failed: {error}")
    metrics = ctx.metrics_frame()
    tables.write(metrics, metrics_path, "metrics")
    weights = ctx.final_weights()
    write_with(weights_path, lambda tmp: torch.save(weights, tmp))
    record = {
        "run_id": run.run_id,
        "reproduction": run.reproduction,
        "scale": run.scale,
        "sweep": run.sweep,
        "seed": run.seed,
        "params": run.params,
        "status": status,
        "error": error,
        "device": provenance.device_name(device),
        "threads": threads,
        "versions": provenance.versions(),
        "dlrepro_version": __version__,
        "git_commit": provenance.git_commit(),
        "settings": run.settings,
        "data": ctx.data_info,
        "model": ctx.model_info,
        "host": provenance.host(device),
        "init_weights": str(init_weights) if init_weights else None,
        "started_at": started,
        "finished_at": _now(),
        "wall_s": time.perf_counter() - t0,
        "train_s": ctx.elapsed(),
        "steps": ctx.last_step,
    }
    write_json(record_path, record)
    if status != "failed":  # a failed run keeps its checkpoint so a rerun can continue
        ctx.discard_checkpoint()
    ctx.print(f"{status} in {record['wall_s']:.1f}s")
    return status


def run_in_folder(
    repro: Reproduction,
    run: Run,
    folder: Path,
    *,
    datasets: dict[str, Path] | None = None,
    device: str = "cpu",
    threads: int = 1,
    checkpoint_seconds: float = 60.0,
    init_weights: Path | None = None,
    stream: TextIO = sys.stdout,
) -> str:
    """`run_job` with its files in one folder (metrics.parquet, run.json, checkpoint.pt,
    weights.pt): for tests, notebooks and benchmarks; the workflow places them itself."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return run_job(
        repro,
        run,
        device=device,
        threads=threads,
        datasets=datasets or {},
        metrics_path=folder / "metrics.parquet",
        record_path=folder / "run.json",
        checkpoint_path=folder / "checkpoint.pt",
        checkpoint_seconds=checkpoint_seconds,
        weights_path=folder / "weights.pt",
        init_weights=init_weights,
        stream=stream,
    )
