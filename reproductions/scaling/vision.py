"""One vision data-scaling run: the AlexNet-style CNN trained on n Fashion-MNIST images.

Subsets are class-balanced and nested (for one seed, the 200-image subset contains the
100-image one), so that the curve measures the effect of more data, not of different data.
Training is the shared trainer's (dlrepro.trainer), with its settings prefixed `vision_`
because the language-model runs of this reproduction use `lr` and `batch_size` too.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch

from dlrepro.errors import UserError
from dlrepro.longform import last_value
from dlrepro.models.cnn import CNNConfig, build_cnn
from dlrepro.runner import RunContext
from dlrepro.trainer import load_images, train_classifier


def cnn_config(s: dict[str, Any]) -> CNNConfig:
    return CNNConfig(
        width=int(s["width"]), conv_layers=int(s["conv_layers"]), kernel_size=int(s["kernel_size"])
    )


def balanced_subset(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """The first n // classes images of each class in a seeded per-class order (nested in n)."""
    classes = int(labels.max()) + 1
    per = n // classes
    if per < 1:
        raise UserError(f"n_train = {n} is fewer than one image per class ({classes})")
    picks = []
    for c in range(classes):
        idx = torch.nonzero(labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:per]])
    return torch.sort(torch.cat(picks)).values


def steps_for(s: dict[str, Any]) -> int:
    """Optimizer steps: `vision_epochs` passes over the subset, but at least `min_samples`
    images seen (the smallest subsets would otherwise train for a handful of steps)."""
    samples = max(float(s["vision_epochs"]) * int(s["n_train"]), float(s["min_samples"]))
    return max(1, math.ceil(samples / int(s["vision_batch_size"])))


def train(run: RunContext) -> None:
    s = run.settings
    # One generator draws the nested subset, then the batch order.
    gen = torch.Generator().manual_seed(run.seed)
    data = load_images(
        run,
        "fashion_mnist",
        n_test=s["n_test"],
        subset=lambda labels: balanced_subset(labels, int(s["n_train"]), gen),
    )
    model = build_cnn(cnn_config(s), run.seed)
    train_classifier(
        run, model, data, steps=steps_for(s), n_eval=0, generator=gen, settings_prefix="vision_"
    )


def summarize(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    return {
        "n_train": float(settings["n_train"]),
        "test_error": last_value(metrics, "test_final", "error"),
        "test_loss": last_value(metrics, "test_final", "loss"),
        "train_error": last_value(metrics, "train_eval_final", "error"),
    }
