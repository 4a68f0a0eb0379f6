"""AlexNet-style findings on real images: ReLU vs tanh, CNN vs classical, dropout, LRN.

Three kinds of run share the engine's tables:
    kind: cnn        train an AlexNetStyleCNN with the shared trainer (dlrepro.trainer)
    kind: convnet18  train Fig. 1's net (cuda-convnet's 18pct layout, convnet18.py) with the
                     same trainer, on images or on MNIST-1D sequences
    kind: classical  fit one scikit-learn pipeline (Xiao et al. Table 3) on the same split
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import torch

from dlrepro.errors import UserError
from dlrepro.longform import first_step, last_value, series
from dlrepro.models.cnn import build_cnn, config_from_settings, describe
from dlrepro.runner import RunContext
from dlrepro.trainer import ImageData, crop_flip, load_images, split_indices, train_classifier
from reproductions.mnist1d import training as mnist1d_training

from . import classical, convnet18


def load(run: RunContext) -> ImageData:
    """The run's fixed training subset and test set (the same for every run and method)."""
    s = run.settings
    return load_images(
        run,
        s["dataset"],
        n_train=s["n_train"],
        n_test=s["n_test"],
        split_seed=s["split_seed"],
        preprocess=s["preprocess"],
    )


def train(run: RunContext) -> None:
    kind = run.settings["kind"]
    if kind == "cnn":
        train_cnn(run)
    elif kind == "convnet18":
        train_convnet18(run)
    elif kind == "classical":
        train_classical(run)
    else:
        raise UserError(
            f"run {run.run_id}: settings.kind = {kind!r}; use cnn, convnet18 or classical"
        )


def train_cnn(run: RunContext) -> None:
    s = run.settings
    data = load(run)
    c, h = data.x_train.shape[1], data.x_train.shape[2]
    cfg = config_from_settings(s, in_channels=c, image_size=h, num_classes=data.n_classes)
    model = build_cnn(cfg, seed=s["seed"])
    # describe() builds a throwaway net, whose default init draws from torch's global RNG
    # (the dropout masks' stream); it stays here, before training, as in every earlier run.
    run.model_info.update(describe(cfg))
    train_classifier(
        run,
        model,
        data,
        augment=crop_flip(s["augment_pad"], s["augment_flip"]),
        stop_at_train_error=s["stop_at_train_error"],
        logs_per_epoch=s["logs_per_epoch"],
        eval_every_epochs=s["eval_every_epochs"],
        n_eval=s["n_eval"],
        n_final_train_eval=s["n_final_train_eval"],
    )


def train_convnet18(run: RunContext) -> None:
    """Fig. 1's four-layer net; MNIST-1D sequences go through 1-D convolutions."""
    s = run.settings
    if s["dataset"] == "mnist1d":
        loaded = mnist1d_training.load(run)
        run.data_info, data, dims = loaded.info, loaded.images, 1
    else:
        data = load(run)
        dims = 2
    model = convnet18.build(
        in_channels=data.x_train.shape[1],
        size=data.x_train.shape[-1],
        n_classes=data.n_classes,
        activation=s["activation"],
        dims=dims,
        input_scale=s["input_scale"],
        seed=s["seed"],
    )
    run.model_info.update(
        layout="cuda-convnet 18pct", dims=dims, params=sum(p.numel() for p in model.parameters())
    )
    train_classifier(
        run,
        model,
        data,
        stop_at_train_error=s["stop_at_train_error"],
        logs_per_epoch=s["logs_per_epoch"],
        eval_every_epochs=s["eval_every_epochs"],
        n_eval=s["n_eval"],
        n_final_train_eval=s["n_final_train_eval"],
    )


def train_classical(run: RunContext) -> None:
    s = run.settings
    method = s["method"]
    data = load(run)
    train_x, train_y = data.x_train.cpu(), data.y_train.cpu()
    n_fit = s["n_fit"].get(method)  # n_fit lists only the methods fitted on a subsample
    if n_fit is not None and n_fit < len(train_x):
        # The RBF SVM scales quadratically: it fits on a stated subsample of the split.
        idx = split_indices(len(train_x), int(n_fit), s["split_seed"] + 1)
        train_x, train_y = train_x[idx], train_y[idx]
    t0 = time.perf_counter()
    feats = classical.features(method, train_x)
    clf = classical.make_classifier(method, s, int(s["seed"]))
    clf.fit(feats, train_y.numpy())
    fit_s = time.perf_counter() - t0
    test_pred = clf.predict(classical.features(method, data.x_test.cpu()))
    test_acc = float((torch.as_tensor(test_pred) == data.y_test.cpu()).float().mean())
    run.log(1, "test_final", {"acc": test_acc, "error": 1 - test_acc, "n_fit": len(train_x)})
    run.log(1, "timing", {"fit_s": fit_s})
    run.progress(1, 1, test_acc=test_acc)


# -- one run's summary -----------------------------------------------------------------------
SUMMARY_KEYS = (
    "error_threshold",
    "epochs_to_threshold",
    "epochs_run",
    "final_running_error",
    "train_acc",
    "test_acc",
    "test_error",
    "gap",
    "n_fit",
)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Scalars of one run: epochs to the error threshold, final accuracies and their gap.

    CNN and classical runs return the same keys (NaN where a kind has none), so that every
    summary column has one type.
    """
    out = dict.fromkeys(SUMMARY_KEYS, math.nan)
    if settings["kind"] == "classical":
        acc = last_value(metrics, "test_final", "acc")
        n_fit = last_value(metrics, "test_final", "n_fit")
        out.update(test_acc=acc, test_error=1 - acc, n_fit=n_fit)
        return out
    train_acc = last_value(metrics, "train_eval_final", "acc")
    test_acc = last_value(metrics, "test_final", "acc")
    running_error = series(metrics, "train", "error", index="epoch")
    threshold = float(settings["error_threshold"])
    out.update(
        error_threshold=threshold,
        # The first quarter-epoch at which the running training error is at most the threshold.
        epochs_to_threshold=first_step(
            metrics, "train", "error", threshold, below=True, index="epoch"
        ),
        epochs_run=float(running_error.index.max()) if len(running_error) else math.nan,
        final_running_error=last_value(metrics, "train", "error"),
        train_acc=train_acc,
        test_acc=test_acc,
        test_error=1 - test_acc,
        gap=train_acc - test_acc,
    )
    return out
