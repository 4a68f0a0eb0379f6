"""Throughput of the engine's CNN training vs a bare torch loop on the same model and tensors.

    .venv/bin/python bench/bench_cnn.py [--data results/data/fashion_mnist.pt] [--steps 120]

Both loops train the alexnet reproduction's AlexNetStyleCNN (3 conv + FC 256-256, dropout)
on the same cached Fashion-MNIST tensors with the same batch size. The engine's number comes
from `dlrepro.runner.run_job` running the reproduction's own `train` (logging, progress,
checkpoint checks, running error); its images per second are read from the metrics' elapsed
times between the first and the last training log, so setup and the final evaluation are
left out. The bare loop times forward+backward+step separately from batching, so it also
gives the share of the engine's wall time spent outside forward/backward.

Rounds alternate engine and bare loop, and medians are printed, because the machine may be
shared; the ratios come from one invocation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlrepro import data, reproduction, runner  # noqa: E402
from dlrepro.models.cnn import build_cnn, config_from_settings  # noqa: E402
from dlrepro.paths import REPRODUCTIONS  # noqa: E402

SETTINGS = {
    "n_train": 8192,
    "n_test": 1000,
    "batch_size": 128,
    "fc_widths": [256, 256],
    "dropout": 0.5,
    "lr": 0.03,
    "eval_every_epochs": 1000,
    "n_final_train_eval": 1000,
    "logs_per_epoch": 4,
}


def run_settings(steps: int) -> dict:
    """The cpu-scale `cnn` sweep's settings with the bench's overrides: both loops use these."""
    repro = reproduction.load(REPRODUCTIONS / "alexnet")
    proto = next(r for r in repro.runs("cpu") if r.sweep == "cnn")
    per_epoch = SETTINGS["n_train"] // SETTINGS["batch_size"]
    return {**proto.settings, **SETTINGS, "epochs": max(1, -(-steps // per_epoch))}


def engine_round(path: Path, steps: int, threads: int, device: str, out: Path) -> float:
    """Images per second of the reproduction's train() under run_job, between first/last log."""
    repro = reproduction.load(REPRODUCTIONS / "alexnet")
    settings = run_settings(steps)
    run = reproduction.Run("alexnet", "cpu", "cnn", "bench", 0, {}, settings, ("fashion_mnist",))
    with open(out / "log.txt", "w") as log:
        status = runner.run_job(
            repro,
            run,
            device,
            threads,
            {"fashion_mnist": path},
            out / "m.parquet",
            out / "r.json",
            out / "ckpt.pt",
            60.0,
            stream=log,
        )
    if status != "completed":
        raise SystemExit(f"engine run {status}; see {out / 'log.txt'}")
    m = pd.read_parquet(out / "m.parquet")
    tr = m[(m["split"] == "train") & (m["metric"] == "loss")].sort_values("step")
    first, last = tr.iloc[0], tr.iloc[-1]
    images = (last["step"] - first["step"]) * SETTINGS["batch_size"]
    return images / (last["elapsed_s"] - first["elapsed_s"])


def bare_round(path: Path, steps: int, device: str) -> tuple[float, float]:
    """(images per second, seconds per step inside forward+backward+step) of a plain loop."""
    blob = data.load_prepared(path)
    dev = torch.device(device)
    x = blob["train_x"][: SETTINGS["n_train"]].unsqueeze(1).to(dev)
    y = blob["train_y"][: SETTINGS["n_train"]].to(dev)
    mean, std = x.float().mean(), x.float().std()
    settings = run_settings(steps)
    cfg = config_from_settings(settings, in_channels=1, image_size=28)
    model = build_cnn(cfg, 0).to(dev)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=settings["lr"],
        momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
    )
    g = torch.Generator(device=dev).manual_seed(0)
    bs = SETTINGS["batch_size"]
    compute = 0.0
    torch.manual_seed(0)  # dropout masks, as the engine seeds them
    perm = torch.randperm(len(x), generator=g, device=dev)
    t0 = time.perf_counter()
    for step in range(steps):
        pos = step % (len(x) // bs)
        if pos == 0:
            perm = torch.randperm(len(x), generator=g, device=dev)
        idx = perm[pos * bs : (pos + 1) * bs]
        xb, yb = (x[idx].float() - mean) / std, y[idx]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        c0 = time.perf_counter()
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        compute += time.perf_counter() - c0
    wall = time.perf_counter() - t0
    return steps * bs / wall, compute / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "results" / "data" / "fashion_mnist.pt")
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_cnn_"))
    path = args.data
    if not path.exists():  # build the cache once, as the workflow's prepare rule would
        path = tmp / "fashion_mnist.pt"
        data.prepare("fashion_mnist", path, {"download": False})
    engine, bare, per_step = [], [], []
    for i in range(args.rounds):
        bare_ips, compute = bare_round(path, args.steps, args.device)
        bare.append(bare_ips)
        per_step.append(compute)
        engine.append(engine_round(path, args.steps, args.threads, args.device, tmp))
        print(f"round {i + 1}: engine {engine[-1]:.0f} img/s, bare {bare_ips:.0f} img/s")
    e, b, c = statistics.median(engine), statistics.median(bare), statistics.median(per_step)
    bs = SETTINGS["batch_size"]
    outside_engine = 1 - c * e / bs  # engine seconds per step = bs / e
    outside_bare = 1 - c * b / bs
    print(f"device {args.device}, {args.threads} thread(s), batch {bs}, {args.steps} steps")
    print(f"engine  {e:8.0f} img/s (median of {args.rounds})")
    print(f"bare    {b:8.0f} img/s")
    print(f"ratio engine/bare: {e / b:.3f} (target >= 0.95)")
    print(
        f"share of wall time outside forward/backward/step: engine {outside_engine:.1%}, "
        f"bare loop {outside_bare:.1%} (engine share from the bare loop's compute time per "
        "step; a value below 0 means the difference is within the machine's noise)"
    )


if __name__ == "__main__":
    main()
