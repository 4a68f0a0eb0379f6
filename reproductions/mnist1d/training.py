"""Training on MNIST-1D, shared by the mnist1d and double_descent reproductions.

The whole dataset (4,000 × 40 training and 12,000 × 40 test values) lives on the run's
device as four tensors; a step indexes a minibatch out of them (no DataLoader), so even a
20,000-step run of a small MLP costs seconds.

    data = load(run, label_noise=0.15)  # tensors on run.device, label noise/shuffle applied
    fit(run, model, data)               # minibatch SGD/Adam, whole-set evaluations, checkpoints

`fit` reads these settings (declared in each reproduction's `defaults`): optimizer, lr,
momentum, weight_decay, batch_size, epochs, eval_every_epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlrepro.data.labels import NoiseMode, corrupt_labels
from dlrepro.data.mnist1d import load_mnist1d
from dlrepro.errors import UserError

# Offsets that give each use of randomness its own stream from the run's seed.
LABEL_NOISE_STREAM = 1_000_003
BATCH_ORDER_STREAM = 2_000_003
SHUFFLE_STREAM = 3_000_017


@dataclass
class Data:
    x_train: torch.Tensor  # float32 (N, 40) on the run's device
    y_train: torch.Tensor  # the labels trained on (noisy ones if label_noise > 0)
    y_train_clean: torch.Tensor  # the dataset's own labels
    x_test: torch.Tensor
    y_test: torch.Tensor
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
    dev = run.device
    info = {
        "dataset": "mnist1d",
        "sha256": blob["sha256"],
        "source": blob["source"],
        "n_train": len(y_train),
        "n_test": len(y_test),
        "labels_changed": int((y_train != y_clean).sum()),
    }
    return Data(
        x_train.to(dev), y_train.to(dev), y_clean.to(dev), x_test.to(dev), y_test.to(dev), info
    )


def make_optimizer(params: Any, s: dict[str, Any]) -> torch.optim.Optimizer:
    if s["optimizer"] == "sgd":
        return torch.optim.SGD(
            params, lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"]
        )
    if s["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=s["lr"], weight_decay=s["weight_decay"])
    raise UserError(f"optimizer {s['optimizer']!r} is unknown; use sgd or adam")


EVAL_CHUNK = 4096  # examples per forward pass when evaluating (bounds memory for images)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits for all of `x`, in eval mode (batch-norm statistics frozen), chunk by chunk."""
    model.eval()
    logits = torch.cat([model(x[i : i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])
    model.train()
    return logits


def scores(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {
        "loss": F.cross_entropy(logits, y).item(),
        "error": (logits.argmax(1) != y).float().mean().item(),
    }


Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def fit(run: Any, model: nn.Module, data: Data, augment: Augment | None = None) -> None:
    """Train `model` on `data` and log whole-set train/test loss and error; `augment(x, g)`
    transforms each training minibatch (drawing from the batch-order generator `g`).

    Splits logged: `train` (the labels trained on), `train_clean` (the true labels, when there
    is label noise) and `test`, at step 0, every `eval_every_epochs` epochs and at the end;
    `model` {n_params} and `data` {n_train, n_test, labels_changed} once, at step 0.
    """
    s = run.settings
    n, bs = len(data.y_train), int(s["batch_size"])
    steps_per_epoch = n // bs
    if steps_per_epoch < 1:
        raise UserError(f"run {run.run_id}: batch_size {bs} exceeds the {n} examples")
    total = int(s["epochs"]) * steps_per_epoch
    eval_every = int(s["eval_every_epochs"]) * steps_per_epoch
    opt = make_optimizer(model.parameters(), s)
    order = torch.Generator(device=run.device).manual_seed(BATCH_ORDER_STREAM + int(run.seed))
    noisy = bool((data.y_train != data.y_train_clean).any())

    def log_eval(step: int) -> dict[str, float]:
        epoch = step / steps_per_epoch
        train_logits = predict(model, data.x_train)
        train = scores(train_logits, data.y_train)
        test = scores(predict(model, data.x_test), data.y_test)
        run.log(step, "train", train, epoch)
        run.log(step, "test", test, epoch)
        if noisy:
            clean = scores(train_logits, data.y_train_clean)
            run.log(step, "train_clean", {"error": clean["error"]}, epoch)
        return {"train_error": train["error"], "test_error": test["error"]}

    epoch_order: dict[str, torch.Tensor] = {}  # this epoch's permutation, for a resume
    run.register(model=model, optimizer=opt, generators=[order], epoch_order=epoch_order)
    start = run.resume()
    if start == 1:
        run.log(0, "model", {"n_params": sum(p.numel() for p in model.parameters())})
        changed = int((data.y_train != data.y_train_clean).sum())
        run.log(0, "data", {"n_train": n, "n_test": len(data.y_test), "labels_changed": changed})
        log_eval(0)
    model.train()
    for step in range(start, total + 1):
        pos = (step - 1) % steps_per_epoch
        if pos == 0:
            epoch_order["perm"] = torch.randperm(n, generator=order, device=run.device)
        idx = epoch_order["perm"][pos * bs : (pos + 1) * bs]
        xb = data.x_train[idx] if augment is None else augment(data.x_train[idx], order)
        loss = F.cross_entropy(model(xb), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % steps_per_epoch == 0:  # one sync per epoch, not per step
            loss_v = loss.item()
            run.check_finite(loss=loss_v)
            shown = log_eval(step) if step % eval_every == 0 or step == total else {}
            run.progress(step, total, loss=loss_v, **shown)
        run.maybe_checkpoint(step)
