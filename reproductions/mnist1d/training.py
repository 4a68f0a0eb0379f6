"""MNIST-1D as the shared trainer's data, for the mnist1d and double_descent reproductions.

The whole dataset (4,000 × 40 training and 12,000 × 40 test values) lives on the run's
device as `dlrepro.trainer.ImageData` (each sequence a 1×1×40 "image"), so training is
`dlrepro.trainer.train_classifier`: minibatches indexed out of device tensors, no DataLoader.

    data = load(run, label_noise=0.15)   # on run.device, label noise / shuffle applied
    fit(run, model, data)                # train_classifier + the summaries both tasks read

The trainer standardizes inputs with the training set's mean and std; MNIST-1D is already
standardized over all 16,000 sequences, so this changes them only slightly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dlrepro.data.labels import NoiseMode, corrupt_labels
from dlrepro.data.mnist1d import load_mnist1d
from dlrepro.trainer import Augment, ImageData, evaluate, train_classifier

# Offsets that give each use of randomness its own stream from the run's seed.
LABEL_NOISE_STREAM = 1_000_003
SHUFFLE_STREAM = 3_000_017


@dataclass
class Data:
    images: ImageData  # what the trainer reads; y_train holds the labels trained on
    y_train_clean: torch.Tensor  # the dataset's own training labels, on the device
    info: dict[str, Any]


def load(
    run: Any,
    label_noise: float = 0.0,
    noise_mode: NoiseMode = "uniform",
    shuffle_seed: int | None = None,
) -> Data:
    """MNIST-1D on the run's device; `label_noise` of the training labels redrawn (seeded by
    the run's seed, so every width of a sweep sees the same noisy labels); with
    `shuffle_seed`, the 40 positions permuted by one fixed permutation."""
    blob = load_mnist1d(run.datasets["mnist1d"])
    x_train, x_test = blob["train_x"].float(), blob["test_x"].float()
    y_clean, y_test = blob["train_y"], blob["test_y"]
    if shuffle_seed is not None:
        # One permutation for train and test alike (the package's shuffle_seq does the same),
        # seeded by shuffle_seed, not by the run, so that every seed and model sees the same
        # shuffled dataset.
        g = torch.Generator().manual_seed(SHUFFLE_STREAM + int(shuffle_seed))
        perm = torch.randperm(x_train.shape[1], generator=g)
        x_train, x_test = x_train[:, perm], x_test[:, perm]
    y_train = y_clean
    if label_noise > 0:
        g = torch.Generator().manual_seed(LABEL_NOISE_STREAM + int(run.seed))
        y_train = corrupt_labels(y_clean, label_noise, len(blob["classes"]), g, noise_mode)
    info = {
        "dataset": "mnist1d",
        "sha256": blob["sha256"],
        "source": blob["source"],
        "n_train": len(y_train),
        "n_test": len(y_test),
        "labels_changed": int((y_train != y_clean).sum()),
    }
    dev = run.device
    images = ImageData(
        x_train=x_train[:, None, None, :].to(dev),
        y_train=y_train.to(dev),
        x_test=x_test[:, None, None, :].to(dev),
        y_test=y_test.to(dev),
        n_classes=len(blob["classes"]),
        classes=tuple(blob["classes"]),
    )
    return Data(images, y_clean.to(dev), info)


def fit(run: Any, model: nn.Module, data: Data, augment: Augment | None = None) -> None:
    """Train with `dlrepro.trainer.train_classifier` and log what the summaries read.

    Besides the trainer's splits (train, train_eval, test, train_eval_final, test_final: on
    all examples, every `eval_every_epochs` epochs), it logs `model` {n_params} and `data`
    {n_train, n_test, labels_changed} at step 0 and, with label noise, `train_clean_final`
    {error}: the final model's error against the true training labels.
    """
    run.data_info = data.info
    run.log(0, "model", {"n_params": sum(p.numel() for p in model.parameters())})
    run.log(0, "data", {k: data.info[k] for k in ("n_train", "n_test", "labels_changed")})
    out = train_classifier(
        run,
        model,
        data.images,
        augment=augment,
        logs_per_epoch=1,
        eval_every_epochs=int(run.settings["eval_every_epochs"]),
        n_eval=None,
    )
    if data.info["labels_changed"]:
        clean = evaluate(model, data.images.x_train, data.y_train_clean, data.images.normalize)
        run.log(out["steps"], "train_clean_final", {"error": clean["error"]}, out["epochs"])
