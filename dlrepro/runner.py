"""Drive one training run: threads, seed, device, metrics, checkpoints, divergence, record.

A reproduction's `task.train(run)` receives a `RunContext` and writes its own loop (as in
nanoGPT's train.py); the context does the bookkeeping every loop needs:

    state = run.resume()                 # None on a fresh start, else what was checkpointed
    for step in range(start, total + 1):
        ...train...
        run.check_finite(loss=loss)      # raises Diverged on NaN/inf
        run.log(step, "train", {"loss": loss, "acc": acc})
        run.progress(step, total, loss=loss)
        run.maybe_checkpoint(step, lambda: {"model": model.state_dict(), ...})

`run_job` wraps that call and writes metrics.parquet and run.json, whatever the run's fate.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import torch

from dlrepro import __version__, provenance, tables
from dlrepro.atomic import write_json, write_with
from dlrepro.errors import Diverged, UserError
from dlrepro.reproduction import Reproduction, Run

PROGRESS_SECONDS = 5.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunContext:
    """What a task's training loop sees: the run's settings and the engine's bookkeeping."""

    def __init__(
        self,
        run: Run,
        device: str,
        threads: int,
        datasets: dict[str, Path],
        checkpoint_path: Path,
        checkpoint_seconds: float,
        stream: TextIO,
    ) -> None:
        self.run = run
        self.settings = run.settings
        self.seed = run.seed
        self.device = torch.device(device)
        self.threads = threads
        self.datasets = datasets
        self.data_info: dict[str, Any] = {}  # tasks add dataset checksums/sizes here
        self._ckpt = checkpoint_path
        self._ckpt_every = checkpoint_seconds
        self._out = stream
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
        print(f"[{self.run.reproduction} {self.run.run_id}] {message}", file=self._out, flush=True)

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

    # -- checkpoints -------------------------------------------------------------------------
    def maybe_checkpoint(
        self, step: int, state_fn: Callable[[], dict[str, Any]], force: bool = False
    ) -> bool:
        """Save `state_fn()` if the checkpoint interval has passed; return whether it saved.

        Call it at the end of a step, after logging: a resumed run continues after `step`.
        """
        if not force and time.perf_counter() - self._last_ckpt < self._ckpt_every:
            return False
        blob = {
            "settings_hash": self.run.settings_hash,
            "step": int(step),
            "elapsed": self.elapsed(),
            "rows": self._rows,
            "torch_rng": torch.get_rng_state(),
            "state": state_fn(),
        }
        write_with(self._ckpt, lambda tmp: torch.save(blob, tmp))
        self._last_ckpt = time.perf_counter()
        return True

    def resume(self) -> dict[str, Any] | None:
        """Load the last checkpoint of this exact run (same settings), or None."""
        if not self._ckpt.exists():
            return None
        try:
            blob = torch.load(self._ckpt, map_location=self.device, weights_only=True)
        except Exception as e:  # a checkpoint we cannot read is not worth failing the run for
            self.print(f"ignoring unreadable checkpoint {self._ckpt}: {e}")
            return None
        if blob.get("settings_hash") != self.run.settings_hash:
            self.print("checkpoint is from different settings; starting from step 0")
            return None
        self._rows = [list(r) for r in blob["rows"]]
        self._elapsed_before = float(blob["elapsed"])
        self._t0 = time.perf_counter()
        torch.set_rng_state(blob["torch_rng"].cpu())
        self.last_step = int(blob["step"])
        self.print(f"resumed from checkpoint at step {blob['step']}")
        return {"step": int(blob["step"]), **blob["state"]}

    def discard_checkpoint(self) -> None:
        self._ckpt.unlink(missing_ok=True)

    # -- results -----------------------------------------------------------------------------
    def metrics_frame(self) -> pd.DataFrame:
        r = self.run
        df = pd.DataFrame(
            self._rows, columns=["step", "epoch", "split", "metric", "value", "elapsed_s"]
        )
        df = df.astype({"step": "int64", "epoch": "float64", "value": "float64"})
        head = {
            "run_id": r.run_id,
            "reproduction": r.reproduction,
            "scale": r.scale,
            "sweep": r.sweep,
            "seed": r.seed,
            **r.params,
        }
        for i, (k, v) in enumerate(head.items()):
            df.insert(i, k, pd.Series([v] * len(df), dtype=object if isinstance(v, str) else None))
        return df.astype({"seed": "int64"})


def run_job(
    repro: Reproduction,
    run: Run,
    device: str,
    threads: int,
    datasets: dict[str, Path],
    metrics_path: Path,
    record_path: Path,
    checkpoint_path: Path,
    checkpoint_seconds: float,
    stream: TextIO = sys.stdout,
) -> str:
    """Train one run and write its metrics and record; return its status.

    A diverged or crashed run is recorded (status `diverged` or `failed`) and the job still
    succeeds, so that one bad run does not stop the workflow; a UserError (bad data or
    settings) is re-raised because only the user can fix it.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(run.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    ctx = RunContext(run, device, threads, datasets, checkpoint_path, checkpoint_seconds, stream)
    started, t0 = _now(), time.perf_counter()
    ctx.print(f"start: device {device}, {threads} thread(s), settings {run.settings}")
    status, error = "completed", ""
    try:
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


def records_frame(records: list[dict[str, Any]], params: list[str]) -> pd.DataFrame:
    """The runs table from run.json records; swept parameters become columns."""
    rows = []
    for rec in records:
        row = {
            "run_id": rec["run_id"],
            "reproduction": rec["reproduction"],
            "scale": rec["scale"],
            "sweep": rec["sweep"],
            "seed": rec["seed"],
            **{p: rec["params"].get(p) for p in params},
            "status": rec["status"],
            "error": rec["error"],
            "device": rec["device"],
            "threads": rec["threads"],
            "torch_version": rec["versions"].get("torch", ""),
            "python_version": rec["versions"].get("python", ""),
            "dlrepro_version": rec["dlrepro_version"],
            "git_commit": rec["git_commit"],
            "settings_json": json.dumps(rec["settings"], sort_keys=True),
            "versions_json": json.dumps(rec["versions"], sort_keys=True),
            "data_json": json.dumps(rec["data"], sort_keys=True, default=str),
            "started_at": rec["started_at"],
            "finished_at": rec["finished_at"],
            "wall_s": float(rec["wall_s"]),
            "steps": int(rec["steps"]),
        }
        rows.append(row)
    return pd.DataFrame(rows).astype({"seed": "int64", "threads": "int64", "steps": "int64"})
