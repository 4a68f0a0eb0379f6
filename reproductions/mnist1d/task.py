"""MNIST-1D benchmark: one run trains one of the four benchmark networks on the original or
the spatially shuffled sequences and logs train/test accuracy along the way."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dlrepro.longform import last_value, series

from . import models, training


def train(run: Any) -> None:
    s = run.settings
    shuffle_seed = int(s["shuffle_seed"]) if s["shuffle"] else None
    data = training.load(run, shuffle_seed=shuffle_seed)
    training.fit(run, models.build(s["model"], int(s["width"])), data)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Final train/test accuracy, the best test accuracy seen (the notebook's "max"), size."""
    test_acc = pd.concat([series(metrics, "test", "acc"), series(metrics, "test_final", "acc")])
    return {
        "n_params": last_value(metrics, "model", "n_params"),
        "train_acc": last_value(metrics, "train_eval_final", "acc"),
        "test_acc": last_value(metrics, "test_final", "acc"),
        "test_acc_max": float(test_acc.max()) if len(test_acc) else float("nan"),
    }
