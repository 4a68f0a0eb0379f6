"""Random labels (Zhang et al. 2017): fit partly or fully random labels, time the fit.

A run loads its images (a fixed subset), optionally centre-crops them and replaces them by
shuffled pixels, random pixels or Gaussian noise (Fig. 1a), redraws a fraction of the
training labels (dlrepro.data.labels, Zhang's definition: uniform over all classes), and
trains on the shared image-classification trainer until the running training accuracy
reaches `fit_train_acc` or the epoch budget runs out. Test labels are never touched.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd
import torch

from dlrepro import longform
from dlrepro.data.labels import corrupt_labels, n_corrupted
from dlrepro.errors import UserError
from dlrepro.runner import RunContext
from dlrepro.trainer import ImageData, load_images, train_classifier

from .model import build_model, n_params

INPUTS = ("real", "shuffled_pixels", "random_pixels", "gaussian")


# -- data ------------------------------------------------------------------------------------
def centre_crop(data: ImageData, size: int | None) -> ImageData:
    """Both splits cut to their central size×size pixels (Zhang et al. use 28×28 of CIFAR-10)."""
    if size is None:
        return data
    h, w = data.x_train.shape[-2:]
    if not 0 < size <= min(h, w):
        raise UserError(f"crop = {size}, but the images are {h}x{w}; use 1..{min(h, w)} or null")
    top, left = (h - size) // 2, (w - size) // 2
    return replace(
        data,
        x_train=data.x_train[..., top : top + size, left : left + size],
        x_test=data.x_test[..., top : top + size, left : left + size],
    )


def randomize_inputs(data: ImageData, kind: str, generator: torch.Generator) -> ImageData:
    """Zhang et al.'s randomized inputs, applied to training and test images alike:
    `shuffled_pixels` one fixed permutation of pixel positions for every image,
    `random_pixels` a different permutation per image, `gaussian` noise with the training
    images' per-channel mean and standard deviation. Normalisation statistics are then those
    of the new training inputs."""
    if kind not in INPUTS:
        raise UserError(f"inputs = {kind!r}; use one of {list(INPUTS)}")
    if kind == "real":
        return data
    dev = data.x_train.device

    def change(x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        if kind == "shuffled_pixels":
            return flat[:, perm.to(dev)].view_as(x)
        if kind == "random_pixels":
            order = torch.rand(flat.shape, generator=generator).argsort(dim=1)
            return flat.gather(1, order.to(dev)).view_as(x)
        noise = torch.randn(x.shape, generator=generator).to(dev)
        return mean + std * noise  # float inputs; normalize() takes uint8 and float alike

    # The real training images' statistics on their own scale, whatever `preprocess` is.
    pixels = data.x_train.float()
    mean, std = pixels.mean(dim=(0, 2, 3), keepdim=True), pixels.std(dim=(0, 2, 3), keepdim=True)
    d = data.x_train[0].numel()
    perm = torch.randperm(d, generator=generator)
    return replace(data, x_train=change(data.x_train), x_test=change(data.x_test))


def prepare_data(run: RunContext) -> tuple[ImageData, dict[str, float]]:
    """The run's images and (corrupted) training labels, and what to log about them.

    One CPU generator seeded with the run's seed draws first the corrupted labels, then the
    input randomization: the same seed gives the same labels on any device, whatever the
    inputs, and the examples corrupted at a lower fraction are among those at a higher one.
    """
    s = run.settings
    data = load_images(
        run,
        s["dataset"],
        n_train=s["n_train"],
        n_test=s["n_test"],
        split_seed=s["split_seed"],
        preprocess=s["preprocess"],
    )
    data = centre_crop(data, s["crop"])
    g = torch.Generator().manual_seed(run.seed)
    true = data.y_train.cpu()
    labels = corrupt_labels(true, float(s["corruption"]), data.n_classes, g, s["noise_mode"])
    data = randomize_inputs(data, s["inputs"], g)
    data = replace(data, y_train=labels.to(data.y_train.device))
    n = len(labels)
    info = {
        "train_images": float(n),
        "test_images": float(len(data.y_test)),
        "corrupted_fraction": n_corrupted(n, float(s["corruption"])) / n,
        "labels_changed": int((labels != true).sum()) / n,
    }
    return data, info


# -- training --------------------------------------------------------------------------------
def train(run: RunContext) -> None:
    s = run.settings
    if not 0.0 < float(s["fit_train_acc"]) <= 1.0:
        raise UserError(f"fit_train_acc = {s['fit_train_acc']!r}; use a fraction in (0, 1]")
    data, info = prepare_data(run)
    model = build_model(s, tuple(data.x_train.shape[1:]), data.n_classes, run.seed)
    info["n_params"] = float(n_params(model))
    run.data_info["labels"] = {k: info[k] for k in ("corrupted_fraction", "labels_changed")}
    run.log(0, "data", info, epoch=0.0)
    run.print(
        f"{int(info['train_images'])} training images, {info['labels_changed']:.1%} of labels "
        f"changed, {int(info['n_params']):,} parameters"
    )
    train_classifier(
        run,
        model,
        data,
        stop_at_train_error=1.0 - float(s["fit_train_acc"]),
        logs_per_epoch=int(s["logs_per_epoch"]),
        eval_every_epochs=int(s["eval_every_epochs"]),
        n_eval=int(s["n_eval"]),
    )


# -- one run's summary -----------------------------------------------------------------------
def _data_value(metrics: pd.DataFrame, name: str) -> float:
    return longform.last_value(metrics, "data", name)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Epochs and steps to the fit threshold (NaN: never within the budget), the budget, and
    the final eval-mode accuracies on all training and test images."""
    error = 1.0 - float(settings["fit_train_acc"])
    epochs_to_fit = longform.first_step(metrics, "train", "error", error, below=True, index="epoch")
    steps_to_fit = longform.first_step(metrics, "train", "error", error, below=True)
    train_epochs = longform.series(metrics, "train", "error", index="epoch")
    return {
        "epochs_to_fit": epochs_to_fit,
        "steps_to_fit": steps_to_fit,
        "fitted": float(not math.isnan(epochs_to_fit)),
        "epoch_budget": float(settings["epochs"]),
        "epochs_run": float(train_epochs.index.max()) if len(train_epochs) else math.nan,
        "train_acc": longform.last_value(metrics, "train_eval_final", "acc"),
        "test_acc": longform.last_value(metrics, "test_final", "acc"),
        "final_train_loss": longform.last_value(metrics, "train", "loss"),
        "train_images": _data_value(metrics, "train_images"),
        "n_params": _data_value(metrics, "n_params"),
        "corrupted_fraction": _data_value(metrics, "corrupted_fraction"),
        "labels_changed": _data_value(metrics, "labels_changed"),
    }
