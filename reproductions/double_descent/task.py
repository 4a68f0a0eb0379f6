"""Double descent: one run trains one model of one width and logs its train/test error.

MNIST-1D runs use the shared MNIST-1D loop (reproductions.mnist1d.training: the dataset on
the device, minibatches indexed out of it). The paper-scale ResNet-18 runs read CIFAR-10 the
same way, as one normalized tensor on the GPU, with random crops and flips per minibatch.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from dlrepro.data import load_prepared
from dlrepro.data.labels import corrupt_labels
from dlrepro.errors import UserError
from dlrepro.longform import last_value
from reproductions.mnist1d import models, training

from .resnet import ResNet18

CROP_PAD = 4


def load_cifar10(run: Any) -> training.Data:
    """CIFAR-10 as float tensors on the device, standardized per channel, with label noise."""
    s = run.settings
    blob = load_prepared(run.datasets["cifar10"])
    x_train = blob["train_x"].float() / 255
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True)
    x_test = (blob["test_x"].float() / 255 - mean) / std
    x_train = (x_train - mean) / std
    y_clean = blob["train_y"]
    y_train = y_clean
    if s["label_noise"] > 0:
        g = torch.Generator().manual_seed(training.LABEL_NOISE_STREAM + int(run.seed))
        y_train = corrupt_labels(y_clean, s["label_noise"], 10, g, s["noise_mode"])
    dev = run.device
    info = {"dataset": "cifar10", "sha256": blob["sha256"], "n_train": len(y_train)}
    return training.Data(
        x_train.to(dev),
        y_train.to(dev),
        y_clean.to(dev),
        x_test.to(dev),
        blob["test_y"].to(dev),
        info,
    )


def crop_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random 32×32 crops of the zero-padded images and random horizontal flips."""
    b, c, h, w = x.shape
    padded = F.pad(x, (CROP_PAD,) * 4)
    dev = x.device
    top = torch.randint(0, 2 * CROP_PAD + 1, (b, 1), generator=g, device=dev)
    left = torch.randint(0, 2 * CROP_PAD + 1, (b, 1), generator=g, device=dev)
    rows = (top + torch.arange(h, device=dev))[:, None, :, None]
    cols = (left + torch.arange(w, device=dev))[:, None, None, :]
    out = padded[
        torch.arange(b, device=dev)[:, None, None, None],
        torch.arange(c, device=dev)[None, :, None, None],
        rows,
        cols,
    ]
    flip = torch.rand(b, generator=g, device=dev) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def train(run: Any) -> None:
    s = run.settings
    if s["model"] == "resnet18":
        if s["dataset"] != "cifar10":
            raise UserError(f"run {run.run_id}: resnet18 is for cifar10, not {s['dataset']!r}")
        data, model = load_cifar10(run), ResNet18(int(s["width"]))
        augment = crop_flip if s["augment"] else None
    else:
        if s["dataset"] != "mnist1d":
            raise UserError(f"run {run.run_id}: model {s['model']!r} is for mnist1d")
        data = training.load(run, s["label_noise"], s["noise_mode"])
        model = models.build(s["model"], int(s["width"]))
        augment = None
    run.data_info = data.info
    training.fit(run, model.to(run.device), data, augment)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Final errors and losses, parameter count and training-set size of one run."""
    return {
        "n_params": last_value(metrics, "model", "n_params"),
        "n_train": last_value(metrics, "data", "n_train"),
        "labels_changed": last_value(metrics, "data", "labels_changed"),
        "train_error": last_value(metrics, "train", "error"),
        "test_error": last_value(metrics, "test", "error"),
        "train_loss": last_value(metrics, "train", "loss"),
        "test_loss": last_value(metrics, "test", "loss"),
        # error against the true labels of the training set (NaN without label noise)
        "train_clean_error": last_value(metrics, "train_clean", "error"),
        "epochs_run": float(metrics.loc[metrics["split"] == "test", "epoch"].max())
        if (metrics["split"] == "test").any()
        else math.nan,
    }
