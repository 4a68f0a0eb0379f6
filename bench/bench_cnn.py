"""The shared image-classification trainer (dlrepro.trainer.train_classifier) against a bare
torch loop training the same CNN on the same images.

    .venv/bin/python bench/bench_cnn.py [--data results/data/fashion_mnist.pt] [--epochs 2]

The engine side is the alexnet reproduction's cpu-scale `cnn` run (AlexNetStyleCNN, 3 conv
stages + FC 256-256 with dropout, SGD momentum, cosine learning rate) on a fixed 8,192-image
subset of Fashion-MNIST, under run_job: train_classifier with its running training error,
logs, progress, checkpoint checks and final evaluation. The bare loop does the same science
(same subset, normalisation, initialisation, batch order, optimizer, schedule, dropout and
final evaluation) and nothing else. Rounds alternate; medians are printed with their range.
Target: engine/bare speed >= 0.95 (the median of the rounds' ratios; bench/common.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_ROUNDS,
    ROOT,
    Report,
    Series,
    bare_process_state,
    engine_run,
    engine_speed,
    interleave,
)

from dlrepro import data, reproduction  # noqa: E402
from dlrepro.errors import UserError  # noqa: E402
from dlrepro.models.cnn import build_cnn, config_from_settings  # noqa: E402
from dlrepro.paths import REPRODUCTIONS  # noqa: E402
from dlrepro.trainer import EVAL_BATCH, lr_at, split_indices  # noqa: E402

# Shorter than the cpu-scale run, same shape of work: no periodic evaluation, a final one on
# 1,000 test and 1,000 training images.
OVERRIDES = {"n_train": 8192, "n_test": 1000, "n_final_train_eval": 1000, "eval_every_epochs": 100}


def bare_loop(s: dict, path: Path, threads: int) -> float:
    """Seconds for the trainer's science on `s` without the engine."""
    bare_process_state(threads, s["seed"])
    t0 = time.perf_counter()
    blob = data.load_prepared(path)
    tr = split_indices(len(blob["train_x"]), s["n_train"], s["split_seed"])
    te = split_indices(len(blob["test_x"]), s["n_test"], s["split_seed"])
    x, y = blob["train_x"][tr].unsqueeze(1), blob["train_y"][tr]
    xt, yt = blob["test_x"][te].unsqueeze(1), blob["test_y"][te]
    mean = x.float().mean(dim=(0, 2, 3), keepdim=True)
    std = x.float().std(dim=(0, 2, 3), keepdim=True)
    cfg = config_from_settings(s, in_channels=1, image_size=28, num_classes=10)
    model = build_cnn(cfg, seed=s["seed"]).to(memory_format=torch.channels_last)  # as the engine
    opt = torch.optim.SGD(
        model.parameters(), lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"]
    )
    g = torch.Generator().manual_seed(s["seed"])
    bs = s["batch_size"]
    per_epoch = len(x) // bs
    total = s["epochs"] * per_epoch
    model.train()
    for step in range(1, total + 1):
        pos = (step - 1) % per_epoch
        if pos == 0:
            perm = torch.randperm(len(x), generator=g)
        idx = perm[pos * bs : (pos + 1) * bs]
        lr = lr_at(step, total, s["lr"], s["lr_schedule"], s["warmup_frac"], s["final_lr_ratio"])
        for group in opt.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(model((x[idx].float() - mean) / std), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
    model.eval()
    with torch.no_grad():
        k = s["n_final_train_eval"]
        for xs, ys in ((x[:k], y[:k]), (xt, yt)):
            for i in range(0, len(xs), EVAL_BATCH):
                logits = model((xs[i : i + EVAL_BATCH].float() - mean) / std)
                F.cross_entropy(logits, ys[i : i + EVAL_BATCH], reduction="sum").item()
                (logits.argmax(1) == ys[i : i + EVAL_BATCH]).sum().item()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "results" / "data" / "fashion_mnist.pt")
    ap.add_argument("--epochs", type=int, default=2, help="passes over the 8,192 images")
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    repro = reproduction.load(REPRODUCTIONS / "alexnet")
    proto = next(r for r in repro.runs("cpu") if r.sweep == "cnn")
    s = {**proto.settings, **OVERRIDES, "epochs": args.epochs}
    run = dataclasses.replace(proto, run_id="bench", settings=s)
    steps = args.epochs * (s["n_train"] // s["batch_size"])
    report = Report("bench_cnn")
    report.section(
        f"AlexNet-style CNN, Fashion-MNIST {s['n_train']} images, batch {s['batch_size']}, "
        f"{steps} steps",
        args.threads,
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = args.data
        if not path.exists():  # build the cache once, as the workflow's prepare rule would
            path = tmp / "fashion_mnist.pt"
            try:
                data.prepare("fashion_mnist", path, {"download": False})
            except UserError as e:
                raise SystemExit(f"bench_cnn cannot run: {e}") from None
        datasets = {s["dataset"]: path}
        engine_run(repro, run, args.threads, tmp / "warm", datasets)  # warm-up

        def engine() -> float:
            return engine_run(repro, run, args.threads, tmp / "e", datasets).seconds

        times, ceiling = interleave(
            args.rounds,
            args.threads,
            {"engine": engine, "bare": lambda: bare_loop(s, path, args.threads)},
        )
    for name in ("bare", "engine"):
        ms = Series([1000 * t / steps for t in times[name].values])
        ips = s["batch_size"] * steps / times[name].median
        report.figure(
            f"{name} loop",
            f"{ms.median:6.1f} ms/step, {ips:5.0f} img/s ({ms.spread('.1f')})",
            ceiling,
        )
    engine_speed(report, "CNN trainer ", times, ceiling)
    report.finish()


if __name__ == "__main__":
    main()
