"""Scaling laws (Kaplan et al. 2020; Hoffmann et al. 2022) and a vision data-scaling curve.

Each run is one point: a GPT of shape `model` trained on D tokens (lm.py), or the CNN trained
on `n_train` Fashion-MNIST images (vision.py). The fits happen in the measures and figures
(measures.py, figures.py), over the summary rows of a claim's sweeps.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import lm, vision


def train(run: Any) -> None:
    (vision.train if run.settings["task"] == "vision" else lm.train)(run)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Scalars of one run. Both kinds return the same keys (NaN where a kind has no value), so
    that the summary table has one type per column."""
    lm_keys = [
        "N",
        "N_total",
        "N_kaplan",
        "D",
        "C",
        "C_total",
        "C_budget",
        "C_attn",
        "loss",
        "train_loss",
        "lr_peak",
        "epochs_at_best",
    ]
    vision_keys = ["n_train", "test_error", "test_loss", "train_error"]
    out = {k: float("nan") for k in lm_keys + vision_keys}
    out.update(
        (vision.summarize if settings["task"] == "vision" else lm.summarize)(metrics, settings)
    )
    return out
