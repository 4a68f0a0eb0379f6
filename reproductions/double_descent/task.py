"""Double descent: one run trains one model of one width and logs its train/test error.

Every run trains with the shared trainer (dlrepro.trainer.train_classifier) on data kept on
the device: MNIST-1D through reproductions.mnist1d.training, and at paper scale CIFAR-10
through dlrepro.trainer.load_images with random crops and flips.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch

from dlrepro.data.labels import corrupt_labels
from dlrepro.errors import UserError
from dlrepro.longform import last_value
from dlrepro.trainer import crop_flip, load_images
from reproductions.mnist1d import models, training

from .resnet import ResNet18

CROP_PAD = 4


def load_cifar10(run: Any) -> training.Data:
    """CIFAR-10 on the device with the run's label noise (the same noisy labels per seed)."""
    s = run.settings
    clean: dict[str, torch.Tensor] = {}

    def noisy(y: torch.Tensor) -> torch.Tensor:
        clean["y"] = y
        g = torch.Generator().manual_seed(training.LABEL_NOISE_STREAM + int(run.seed))
        return corrupt_labels(y, s["label_noise"], 10, g, s["noise_mode"])

    images = load_images(run, "cifar10", labels=noisy)
    y_clean = clean["y"].to(run.device)
    info = {
        "dataset": "cifar10",
        "n_train": len(images.y_train),
        "n_test": len(images.y_test),
        "labels_changed": int((images.y_train != y_clean).sum()),
    }
    return training.Data(images, y_clean, info)


def train(run: Any) -> None:
    s = run.settings
    if s["model"] == "resnet18":
        if s["dataset"] != "cifar10":
            raise UserError(f"run {run.run_id}: resnet18 is for cifar10, not {s['dataset']!r}")
        data, model = load_cifar10(run), ResNet18(int(s["width"]))
        augment = crop_flip(CROP_PAD, True) if s["augment"] else None
    else:
        if s["dataset"] != "mnist1d":
            raise UserError(f"run {run.run_id}: model {s['model']!r} is for mnist1d")
        data = training.load(run, s["label_noise"], s["noise_mode"])
        model = models.build(s["model"], int(s["width"]))
        augment = None
    training.fit(run, model, data, augment)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Final errors and losses (on all training and test examples), parameter count and
    training-set size of one run."""
    epochs = metrics.loc[metrics["split"] == "test_final", "epoch"]
    return {
        "n_params": last_value(metrics, "model", "n_params"),
        "n_train": last_value(metrics, "data", "n_train"),
        "labels_changed": last_value(metrics, "data", "labels_changed"),
        "train_error": last_value(metrics, "train_eval_final", "error"),
        "test_error": last_value(metrics, "test_final", "error"),
        "train_loss": last_value(metrics, "train_eval_final", "loss"),
        "test_loss": last_value(metrics, "test_final", "loss"),
        # error against the true labels of the training set (NaN without label noise)
        "train_clean_error": last_value(metrics, "train_clean_final", "error"),
        "epochs_run": float(epochs.max()) if len(epochs) else math.nan,
    }
