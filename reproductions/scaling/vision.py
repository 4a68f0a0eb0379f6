"""One vision data-scaling run: the AlexNet-style CNN trained on n Fashion-MNIST images.

Subsets are class-balanced and nested (for one seed, the 200-image subset contains the
100-image one), so that the curve measures the effect of more data, not of different data.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from dlrepro.data import load_prepared
from dlrepro.longform import last_value
from dlrepro.models.cnn import CNNConfig, build_cnn

from .lm import lr_at


def cnn_config(s: dict[str, Any]) -> CNNConfig:
    return CNNConfig(
        width=int(s["width"]), conv_layers=int(s["conv_layers"]), kernel_size=int(s["kernel_size"])
    )


def balanced_subset(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """The first n // classes images of each class in a seeded per-class order (nested in n)."""
    classes = int(labels.max()) + 1
    per = n // classes
    if per < 1:
        raise ValueError(f"n_train = {n} is fewer than one image per class ({classes})")
    picks = []
    for c in range(classes):
        idx = torch.nonzero(labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:per]])
    return torch.sort(torch.cat(picks)).values


def steps_for(s: dict[str, Any]) -> int:
    samples = max(float(s["epochs"]) * int(s["n_train"]), float(s["min_samples"]))
    return max(1, math.ceil(samples / int(s["vision_batch"])))


@torch.no_grad()
def error_and_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    wrong, loss = 0, 0.0
    for i in range(0, len(x), 1000):
        out = model(x[i : i + 1000])
        wrong += int((out.argmax(1) != y[i : i + 1000]).sum())
        loss += F.cross_entropy(out, y[i : i + 1000], reduction="sum").item()
    model.train()
    return wrong / len(x), loss / len(x)


def train(run: Any) -> None:
    s = run.settings
    blob = load_prepared(run.datasets["fashion_mnist"])
    run.data_info["fashion_mnist"] = {"sha256": blob["sha256"], "source": blob["source"]}
    train_x = blob["train_x"].float().div_(255)
    mean, std = float(train_x.mean()), float(train_x.std())  # ≈ 0.2860, 0.3530
    norm = lambda x: ((x.float() / 255 - mean) / std).unsqueeze(1)  # noqa: E731
    gen = torch.Generator().manual_seed(int(s["seed"]))
    subset = balanced_subset(blob["train_y"], int(s["n_train"]), gen)
    x, y = norm(blob["train_x"][subset]), blob["train_y"][subset]
    limit = int(s.get("test_limit") or 0) or len(blob["test_y"])
    tx, ty = norm(blob["test_x"][:limit]), blob["test_y"][:limit]
    run.data_info["fashion_mnist"]["subset_size"] = len(subset)
    run.data_info["fashion_mnist"]["test_size"] = limit

    steps, B = steps_for(s), int(s["vision_batch"])
    # The sample order for the whole run, drawn up front: whole epochs of permutations.
    n_epochs = math.ceil(steps * B / len(x))
    order = torch.cat([torch.randperm(len(x), generator=gen) for _ in range(n_epochs)])

    model = build_cnn(cnn_config(s), int(s["seed"])).to(run.device)
    opt = torch.optim.Adam(model.parameters(), lr=float(s["vision_lr"]))
    log_every = max(1, steps // int(s["n_train_logs"]))
    acc_sum, acc_n, first = 0.0, 0, 1
    state = run.resume()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        acc_sum, acc_n, first = float(state["acc_sum"]), int(state["acc_n"]), state["step"] + 1
    else:
        run.log(
            0,
            "model",
            {
                "n_params": sum(p.numel() for p in model.parameters()),
                "n_train": len(x),
                "steps": steps,
            },
        )
    for step in range(first, steps + 1):
        lr = lr_at(
            step, steps, float(s["vision_lr"]), float(s["warmup_frac"]), float(s["final_lr_ratio"])
        )
        for group in opt.param_groups:
            group["lr"] = lr
        idx = order[(step - 1) * B : step * B]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc_sum += loss.item()
        acc_n += 1
        if step % log_every == 0 or step == steps:
            mean_loss = acc_sum / acc_n
            run.check_finite(loss=mean_loss)
            run.log(step, "train", {"loss": mean_loss, "lr": lr}, epoch=step * B / len(x))
            acc_sum, acc_n = 0.0, 0
        if step == steps:
            test_err, test_loss = error_and_loss(model, tx, ty)
            train_err, _ = error_and_loss(model, x, y)
            run.log(
                step,
                "final",
                {"test_error": test_err, "test_loss": test_loss, "train_error": train_err},
                epoch=step * B / len(x),
            )
        run.progress(step, steps, loss=loss.item())
        run.maybe_checkpoint(
            step,
            lambda acc_sum=acc_sum, acc_n=acc_n: {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "acc_sum": acc_sum,
                "acc_n": acc_n,
            },
        )


def summarize(metrics: Any, settings: dict[str, Any]) -> dict[str, float]:
    return {
        "n_train": float(settings["n_train"]),
        "test_error": last_value(metrics, "final", "test_error"),
        "test_loss": last_value(metrics, "final", "test_loss"),
        "train_error": last_value(metrics, "final", "train_error"),
    }
