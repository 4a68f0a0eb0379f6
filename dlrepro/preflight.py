"""Preflight: run each run of a scale for a few steps and project what the full run costs.

`snakemake --config scale=paper preflight=true` trains every run of the scale (one seed per
grid point: seeds do not change the cost) for `preflight_steps` steps on the device at hand,
into `<results>/<scale>-preflight/`, and reports per run whether it starts, its peak memory,
seconds per step, and the projected wall time and GPU-hours of the full run. A typo in a
paper-scale setting then fails in minutes, not hours into a cluster allocation.

Task code needs no change. The run's `task.train(run)` receives a `PreflightContext`, a
RunContext that times the calls every training loop makes (`register`, `resume` just before
the loop, `maybe_checkpoint(step)` after each step, `progress(step, total)` which tells the
run's length) and ends the loop after k steps by raising `StopPreflight` from
`maybe_checkpoint`. StopPreflight is a BaseException, so a task's `except Exception` does
not swallow it.

Each run trains in a child process that the job watches: it is stopped when it passes the
time box (`preflight_seconds`: one step of a large model on a CPU can take minutes; the
report then says "slow" with what it got to) or before it takes half the machine's free
memory; its peak memory is compared with the `mem_mb` the reproduction file requests (what
SLURM's `--mem` enforces). A dataset that cannot be found and has
a declared shape (CIFAR-10) is replaced by random data of that shape, and the report says
so: the step costs the same, but the real run needs the real data.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from dlrepro.atomic import write_json, write_text, write_with
from dlrepro.errors import Diverged, UserError
from dlrepro.runner import RunContext, start_torch

# Random stand-ins, (train, test) image shapes and class count, for datasets that cannot be
# shipped or downloaded here; the real files' shapes, so that a step costs what it will.
STAND_INS: dict[str, dict[str, Any]] = {
    "cifar10": {"train": (50000, 3, 32, 32), "test": (10000, 3, 32, 32), "classes": 10},
}
POLL_SECONDS = 0.2
# A child is stopped when it holds this share of the memory free at its start: two jobs at
# once (`--cores 2`) then cannot take a small machine down between them.
MEMORY_SHARE = 0.5
# Statuses, from best to worst; `started` is true for all but the last two.
STATUSES = ("ok", "completed", "slow", "out_of_memory", "diverged", "failed", "cannot_start")


class StopPreflight(BaseException):
    """Raised in the training loop once the preflight has timed enough steps."""


# -- in the child process: the training loop's view ------------------------------------------
class PreflightContext(RunContext):
    """A RunContext that times the loop, writes what it saw to `events_path` after every
    step, and stops the loop after `steps` steps (once the loop has said its length)."""

    def __init__(self, run: Any, *, steps: int, events_path: Path, **kwargs: Any) -> None:
        super().__init__(run, **kwargs)
        self._k = steps
        self._events_path = events_path
        self._weights_path: Path | None = None
        self.events: dict[str, Any] = {
            "t_start": time.time(),
            "t_loop": None,  # when `resume` returned: the loop starts
            "step_times": [],  # wall time at the end of each step
            "first_step": None,
            "total_steps": None,
            "n_params": None,
            "peak_gpu_mb": None,
            "registered": False,
            "device": str(self.device),
        }

    def save_weights_to(self, path: Path) -> None:
        """Write the registered model's weights to `path` at registration and at the stop, so
        that runs starting from this one (`init_from`) have weights even if it is too slow."""
        self._weights_path = path

    def _write_weights(self) -> None:
        if self._weights_path is not None:
            weights = self.final_weights()
            write_with(self._weights_path, lambda tmp: torch.save(weights, tmp))

    def _save_events(self) -> None:
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
            self.events["peak_gpu_mb"] = peak / 2**20
        write_json(self._events_path, self.events)

    def register(self, model: torch.nn.Module | None = None, *args: Any, **kwargs: Any) -> None:
        super().register(model, *args, **kwargs)
        self.events["registered"] = True
        if model is not None:
            self.events["n_params"] = sum(p.numel() for p in model.parameters())
        self._write_weights()
        self._save_events()

    def resume(self) -> int:
        start = super().resume()  # no checkpoint exists: a fresh start
        self.events["t_loop"] = time.time()
        self._save_events()
        return start

    def progress(self, step: int, total: int, force: bool = False, **values: float) -> None:
        known = self.events["total_steps"] or 0
        self.events["total_steps"] = max(known, int(total))
        super().progress(step, total, force=force, **values)

    def maybe_checkpoint(self, step: int, *args: Any, **kwargs: Any) -> bool:
        """Time the step that just ended; stop after k steps once the length is known."""
        now = time.time()
        ev = self.events
        if ev["t_loop"] is None:  # a loop that never called resume: time from the start
            ev["t_loop"] = ev["t_start"]
        if ev["first_step"] is None:
            ev["first_step"] = int(step)
        ev["step_times"].append(now)
        self._save_events()
        # Keep going past k steps until the loop has reported its length (through
        # `progress`), so that the full run can be projected; the time box bounds this.
        if len(ev["step_times"]) >= self._k and ev["total_steps"]:
            raise StopPreflight
        return False


def child_main(spec_path: Path) -> None:
    """The child process: train one run under a PreflightContext; record how it ended."""
    from dlrepro.config import resolve_device
    from dlrepro.devices import select
    from dlrepro.jobs import load_repro
    from dlrepro.reproduction import Run

    spec = json.loads(Path(spec_path).read_text())
    run = Run.from_json(spec["run"])
    events_path = Path(spec["events"])
    # The child claims the GPU (dlrepro.devices): its lock lasts as long as this process.
    device = select(resolve_device(spec["device"]))
    start_torch(int(spec["threads"]), run.seed)
    ctx = None
    outcome, error = "completed", ""
    try:
        repro = load_repro(spec["config"], run.reproduction)
        ctx = PreflightContext(
            run,
            steps=int(spec["steps"]),
            events_path=events_path,
            device=device,
            threads=int(spec["threads"]),
            datasets={Path(p).stem: Path(p) for p in spec["datasets"]},
            checkpoint_path=Path(spec["weights"]).with_suffix(".no-checkpoint"),
            checkpoint_seconds=math.inf,
            init_weights=Path(spec["init_weights"]) if spec.get("init_weights") else None,
            stream=sys.stdout,
        )
        ctx.save_weights_to(Path(spec["weights"]))
        ctx.print(f"preflight: {spec['steps']} step(s) on {device}")
        repro.task.train(ctx)
    except StopPreflight:
        outcome = "ok"
    except Diverged as e:
        outcome, error = "diverged", str(e)
    except UserError as e:
        outcome, error = "cannot_start", str(e)
    except Exception as e:
        outcome, error = "failed", f"{type(e).__name__}: {e}"
        traceback.print_exc()
    events = dict(ctx.events) if ctx is not None else {"registered": False, "step_times": []}
    if ctx is not None:
        ctx._write_weights()
    events.update(outcome=outcome, error=error)
    write_json(events_path, events)


# -- in the job: launch, watch, report --------------------------------------------------------
_PROCESSES: Any = None
# Imported once by the fork server: what every run's child would otherwise import again
# (a missing one is skipped). A child also re-imports the parent's main module (the start
# method's preparation step); under Snakemake that is its CLI, 1.5 s a child otherwise.
PRELOAD = (
    "snakemake.cli",
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "dlrepro.jobs",
    "dlrepro.trainer",
    "dlrepro.preflight",
)


def _processes() -> Any:
    """Where preflight children come from. Where the OS can fork (Linux), the child is a fork
    of this job's process, which has imported torch already (this module does) but run no
    torch operation, so no thread pool is copied half-made: a run starts in milliseconds.
    Snakemake runs each job in a process of its own, so a fork server would be started (and
    PRELOAD imported, ~5 s) once per job, not shared. Elsewhere: a fork server, else spawn."""
    global _PROCESSES
    if _PROCESSES is None:
        methods = multiprocessing.get_all_start_methods()
        if sys.platform == "linux" and "fork" in methods:
            _PROCESSES = multiprocessing.get_context("fork")
        else:
            _PROCESSES = multiprocessing.get_context(
                "forkserver" if "forkserver" in methods else "spawn"
            )
            if "forkserver" in methods:
                _PROCESSES.set_forkserver_preload(list(PRELOAD))
    return _PROCESSES


def _child_entry(spec_path: str, log: str) -> None:
    """A child's first act: its output (and its task's prints) go to the run's log."""
    with open(log, "a", buffering=1) as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        child_main(Path(spec_path))
        sys.stdout.flush()


def _memory_mb(pid: int) -> float | None:
    """The memory a process allocated (anonymous + shared resident pages; not the mapped
    library files, which are most of a fresh torch process's RSS), in MiB; None off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = 0
    for line in status.splitlines():
        if line.startswith(("RssAnon:", "RssShmem:")):
            kib += int(line.split()[1])
    return kib / 1024


def _available_mb() -> float:
    """Memory available to new work on this machine (Linux), in MiB; inf where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.inf


def launch(spec: dict[str, Any], *, log: Path, seconds: float) -> dict[str, Any]:
    """Run the child for `spec` and watch it: stop it after `seconds` (`slow`) or when it
    takes MEMORY_SHARE of the memory free at its start (`out_of_memory`); return its events
    with its peak memory."""
    events_path = Path(spec["events"])
    events_path.unlink(missing_ok=True)
    spec_path = events_path.with_suffix(".spec.json")
    write_json(spec_path, spec)
    # A paper-scale model on a small machine must not take the machine down with it.
    cap_mb = MEMORY_SHARE * _available_mb()
    t0 = time.time()
    stopped, peak = "", 0.0
    proc = _processes().Process(target=_child_entry, args=(str(spec_path), str(log)))
    proc.start()
    while proc.is_alive():
        mem = _memory_mb(proc.pid) or 0.0
        peak = max(peak, mem)
        if mem > cap_mb:
            stopped = "out_of_memory"
        elif time.time() - t0 > seconds:
            stopped = "slow"
        if stopped:
            proc.kill()
            break
        time.sleep(POLL_SECONDS)
    proc.join()
    spec_path.unlink(missing_ok=True)
    try:
        events = json.loads(events_path.read_text())
    except (OSError, ValueError):
        events = {"registered": False, "step_times": []}
    if stopped:
        events["outcome"] = stopped
        limit = (
            f"{cap_mb:.0f} MB (half the memory free at its start)"
            if stopped == "out_of_memory"
            else (f"{seconds:g} s (preflight_seconds)")
        )
        events["error"] = f"stopped by the preflight at {limit}"
    elif "outcome" not in events:
        events.update(outcome="failed", error=f"the process exited with {proc.exitcode}")
    events["peak_mem_mb"] = peak or None
    events["wall_s"] = time.time() - t0
    return events


def summarize(
    events: dict[str, Any], run: Any, *, resources: dict[str, Any], seeds: int
) -> dict[str, Any]:
    """One report row: did it start, memory, seconds per step, projected hours and GPU-hours.

    Seconds per step come from the steps after the first when there are several (the first
    carries one-off costs: allocation, autotuning); from the first step alone otherwise,
    which overstates. The projection is setup + total steps x seconds per step: runs that
    stop early (a target accuracy reached) finish sooner, and periodic evaluations add to it.
    A run that completed within the preflight (no step loop, e.g. a classical classifier's
    fit) is projected by its own wall time.
    """
    times = events.get("step_times") or []
    t_loop = events.get("t_loop")
    if len(times) >= 2:
        per_step = (times[-1] - times[0]) / (len(times) - 1)
    elif len(times) == 1 and t_loop is not None:
        per_step = times[0] - t_loop
    else:
        per_step = math.nan
    setup = (t_loop - events["t_start"]) if t_loop is not None else math.nan
    total = events.get("total_steps") or math.nan
    projected_s = setup + per_step * total
    status = events.get("outcome", "failed")
    if status == "completed":  # the whole run fit in the preflight: its time is the answer
        projected_s = float(events.get("wall_s", math.nan))
    gpus = int(resources.get("gpu") or 0)
    runtime_min = resources.get("runtime")
    mem_mb = resources.get("mem_mb")
    row = {
        "reproduction": run.reproduction,
        "run_id": run.run_id,
        "sweep": run.sweep,
        "seeds": seeds,
        "status": status,
        "started": status not in ("failed", "cannot_start") or bool(events.get("registered")),
        "error": events.get("error", ""),
        "steps_timed": len(times),
        "n_params": events.get("n_params"),
        "peak_mem_mb": events.get("peak_mem_mb"),
        "peak_gpu_mb": events.get("peak_gpu_mb"),
        "setup_s": setup,
        "s_per_step": per_step,
        "total_steps": total,
        "projected_h": projected_s / 3600,
        "gpus": gpus,
        "gpu_h": projected_s / 3600 * gpus if gpus else 0.0,
        "requested_mem_mb": mem_mb,
        "requested_runtime_min": runtime_min,
        "fits_runtime": bool(runtime_min and projected_s <= runtime_min * 60)
        if math.isfinite(projected_s)
        else None,
        "fits_mem": bool(mem_mb and events["peak_mem_mb"] <= mem_mb)
        if events.get("peak_mem_mb")
        else None,
    }
    return row


def run_one(
    *,
    config: dict[str, Any],
    run_json: str,
    device: str,
    threads: int,
    datasets: list[str],
    init_weights: str | None,
    resources: dict[str, Any],
    seeds: int,
    out: Path,
    weights: Path,
    log: Path,
) -> dict[str, Any]:
    """The preflight job of one run: launch it, watch it, write its report row to `out`."""
    from dlrepro.reproduction import Run

    run = Run.from_json(run_json)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    spec = {
        "config": {k: config[k] for k in ("reproductions_dir", "set") if k in config},
        "run": run_json,
        "device": device,
        "threads": threads,
        "datasets": datasets,
        "init_weights": init_weights,
        "steps": int(config["preflight_steps"]),
        "events": str(Path(out).with_suffix(".events.json")),
        "weights": str(weights),
    }
    events = launch(spec, log=Path(log), seconds=float(config["preflight_seconds"]))
    if not Path(weights).exists():  # killed before its model was registered
        write_with(Path(weights), lambda tmp: torch.save({}, tmp))
    row = summarize(events, run, resources=resources, seeds=seeds)
    row["device"] = events.get("device", device)
    row["data"] = stand_in_notes(datasets)
    write_json(out, row)
    Path(spec["events"]).unlink(missing_ok=True)
    return row


def run_rule(
    config: dict[str, Any],
    input: Any,
    output: Any,
    params: Any,
    threads: int,
    resources: Any,
    log: Any,
) -> dict[str, Any]:
    """The `preflight_run` rule's body (workflow/rules/preflight.smk): `run_one` with the
    rule's objects unpacked (a `run:` job; Snakemake runs it in a process of its own, from
    which the run's child is forked: `_processes`)."""
    datasets = input.get("datasets", [])
    return run_one(
        config=config,
        run_json=params.run,
        device=config["device"],
        threads=threads,
        datasets=[datasets] if isinstance(datasets, str) else list(datasets),
        init_weights=input.get("init"),
        resources=dict(resources.items()),
        seeds=params.seeds,
        out=output.row,
        weights=output.weights,
        log=log[0],
    )


# -- data --------------------------------------------------------------------------------------
def prepare_data(name: str, out: Path, data_config: dict[str, Any]) -> dict[str, Any]:
    """Prepare a dataset for the preflight: the real one, or a random stand-in of its shape
    when it cannot be found (and one is declared in STAND_INS)."""
    from dlrepro import data

    try:
        return data.prepare(name, Path(out), data_config)
    except UserError as e:
        if name not in STAND_INS:
            raise
        reason = str(e).splitlines()[0]
    from dlrepro.data import images

    shape = STAND_INS[name]
    g = torch.Generator().manual_seed(0)
    n_cls = int(shape["classes"])
    tensors = {
        f"{split}_x": torch.randint(0, 256, shape[split], generator=g, dtype=torch.uint8)
        for split in ("train", "test")
    }
    for split in ("train", "test"):
        n = shape[split][0]
        # Balanced like the real sets (CIFAR-10: exactly 5,000 training images a class), so
        # that a run taking k images per class starts on the stand-in as it would on the data.
        balanced = torch.arange(n, dtype=torch.int64) % n_cls
        tensors[f"{split}_y"] = balanced[torch.randperm(n, generator=g)]
    source = f"STAND-IN: random data of {name}'s shape ({reason})"
    info = images.save_prepared(Path(out), name, tensors, [str(i) for i in range(n_cls)], source)
    write_text(_note_path(Path(out)), source + "\n")
    return info


def _note_path(dataset_file: Path) -> Path:
    return dataset_file.with_suffix(".stand-in.txt")


def stand_in_notes(datasets: list[str]) -> str:
    """Which of the run's datasets were random stand-ins ('' when all were real)."""
    notes = []
    for p in datasets:
        note = _note_path(Path(p))
        if note.exists():
            notes.append(f"{Path(p).stem}: stand-in")
    return "; ".join(notes)


# -- the report ---------------------------------------------------------------------------------
COLUMNS_SHOWN = [
    ("reproduction", "{}"),
    ("run_id", "{}"),
    ("seeds", "{}"),
    ("status", "{}"),
    ("n_params", "{:.3g}"),
    ("peak_mem_mb", "{:.0f}"),
    ("peak_gpu_mb", "{:.0f}"),
    ("s_per_step", "{:.3g}"),
    ("total_steps", "{:.0f}"),
    ("projected_h", "{:.3g}"),
    ("gpu_h", "{:.3g}"),
    ("fits_runtime", "{}"),
    ("fits_mem", "{}"),
    ("data", "{}"),
]


def report(rows: list[dict[str, Any]], scale: str, device: str) -> str:
    """The preflight report as plain text: one line per run, totals per reproduction."""
    import pandas as pd

    df = pd.DataFrame(rows)

    def fmt(value: Any, pattern: str) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "-"
        try:
            return pattern.format(value)
        except (ValueError, TypeError):
            return str(value)

    lines = [
        f"dlrepro preflight: scale {scale}, on {device}; one seed per grid point, "
        "`seeds` = how many runs it stands for",
        "",
    ]
    header = [c for c, _ in COLUMNS_SHOWN]
    table = [header] + [[fmt(r.get(c), p) for c, p in COLUMNS_SHOWN] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    lines.append("")
    for name, part in df.groupby("reproduction", sort=True):
        gpu_h = (part["gpu_h"].fillna(0) * part["seeds"]).sum()
        hours = (part["projected_h"].fillna(0) * part["seeds"]).sum()
        unknown = int(part["projected_h"].isna().sum())
        bad = part[~part["status"].isin(["ok", "completed", "slow"])]
        lines.append(
            f"{name}: {len(part)} grid points ({int(part['seeds'].sum())} runs), "
            f"{len(bad)} cannot run; projected {hours:.3g} h, {gpu_h:.3g} GPU-h on {device}"
            + (f" ({unknown} without a projection)" if unknown else "")
        )
        for _, r in bad.iterrows():
            lines.append(f"  {r['run_id']}: {r['status']}: {r['error']}")
        for _, r in part.iterrows():
            if r["fits_runtime"] is False:
                lines.append(
                    f"  {r['run_id']}: projected {r['projected_h']:.3g} h exceeds its runtime "
                    f"request of {r['requested_runtime_min']} min on this device"
                )
            if r["fits_mem"] is False:
                lines.append(
                    f"  {r['run_id']}: peak memory {r['peak_mem_mb']:.0f} MB exceeds its "
                    f"mem_mb request of {r['requested_mem_mb']}"
                )
    stand_ins = sorted({d for d in df["data"] if d})
    if stand_ins:
        lines.append(
            f"NOTE: random stand-ins were used for missing data ({'; '.join(stand_ins)}): "
            "the real runs need the real datasets"
        )
    return "\n".join(lines) + "\n"


def write_report(row_files: list[str], txt: Path, csv: Path, scale: str) -> str:
    """Gather the per-run rows into `csv` and the text report into `txt`; return the text."""
    import pandas as pd

    rows = [json.loads(Path(f).read_text()) for f in row_files]
    devices = sorted({str(r.get("device", "")) for r in rows})
    text = report(rows, scale, ", ".join(devices))
    write_with(Path(csv), lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))
    write_text(Path(txt), text)
    return text
