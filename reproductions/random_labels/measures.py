"""The claims' measures. Each reads the summary rows (one per run) of its claim's sweeps; the
thresholds live in reproduction.yaml. A run that never reached the fit threshold has
`epochs_to_fit` NaN; where order matters it counts as slower than every run that did."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from dlrepro import longform
from dlrepro.claims import Measurement


def _at(rows: pd.DataFrame, corruption: float | None) -> pd.DataFrame:
    """The rows at one corruption fraction (all rows when None)."""
    if corruption is None:
        return rows
    return rows[np.isclose(rows["corruption"].astype(float), float(corruption))]


def _per_run(rows: pd.DataFrame, column: str) -> dict[str, float]:
    return {str(r["run_id"]): float(r[column]) for _, r in rows.iterrows()}


def lowest_train_acc(rows: pd.DataFrame, corruption: float | None = None) -> Measurement:
    """The lowest final training accuracy (eval mode, all training images) over the runs at
    `corruption` (all runs when None): every run has to fit, not just a typical one."""
    sel = _at(rows, corruption)
    if sel.empty:
        return Measurement(None, reason=f"no runs at corruption {corruption}")
    acc = sel["train_acc"].astype(float)
    worst = sel.loc[acc.idxmin()]
    return Measurement(
        float(acc.min()),
        reason=f"lowest: {worst['run_id']} {float(worst['train_acc']):.4f}",
        details={
            "train_acc": _per_run(sel, "train_acc"),
            "epochs_to_fit": _per_run(sel, "epochs_to_fit"),
        },
    )


def farthest_from_chance(rows: pd.DataFrame, corruption: float, chance: float) -> Measurement:
    """The test accuracy, among the runs at `corruption`, that lies farthest from `chance`:
    the claim's band must hold for every seed."""
    sel = _at(rows, corruption)
    if sel.empty:
        return Measurement(None, reason=f"no runs at corruption {corruption}")
    acc = sel["test_acc"].astype(float)
    far = sel.loc[(acc - chance).abs().idxmax()]
    return Measurement(
        float(far["test_acc"]),
        reason=f"farthest from {chance:g}: {far['run_id']} {float(far['test_acc']):.4f}",
        details={"test_acc": _per_run(sel, "test_acc"), "chance": chance},
    )


def _epochs(rows: pd.DataFrame) -> pd.Series:
    """Epochs to fit, with never-fitted (or diverged) runs as +inf."""
    return rows["epochs_to_fit"].astype(float).fillna(math.inf)


def fit_time_rank_correlation(rows: pd.DataFrame) -> Measurement:
    """Spearman's rank correlation between the corruption fraction and the epochs to fit,
    over every run (seeds not averaged: their spread counts against the trend)."""
    if rows["corruption"].nunique() < 3:
        return Measurement(None, reason="fewer than 3 corruption fractions were run")
    epochs = _epochs(rows)
    if epochs.nunique() < 2:
        return Measurement(None, reason="every run took the same time (or none fitted)")
    rho = float(spearmanr(rows["corruption"].astype(float), epochs).statistic)
    medians = longform.over_seeds(
        rows.assign(epochs_to_fit=epochs), "epochs_to_fit", by="corruption"
    )
    return Measurement(
        rho,
        reason=f"Spearman rho {rho:.3f} over {len(rows)} runs",
        details={
            "median_epochs_by_corruption": {f"{k:g}": float(v) for k, v in medians.items()},
            "epochs_to_fit": _per_run(rows, "epochs_to_fit"),
        },
    )


def fit_time_ratio(
    rows: pd.DataFrame, low: float, high: float, decisive_above: float
) -> Measurement:
    """Median epochs to fit at corruption `high` over those at `low` (medians over seeds).

    If the `high` runs mostly never fitted, the ratio is only known to be at least
    budget / median(low). That bound is the value when it exceeds `decisive_above` (the
    claim's upper limit: the verdict is then "not reproduced" whatever the true ratio);
    otherwise the claim is inconclusive.
    """
    lo, hi = _at(rows, low), _at(rows, high)
    if lo.empty or hi.empty:
        return Measurement(None, reason=f"need runs at corruption {low} and {high}")
    e_lo, e_hi = float(np.median(_epochs(lo))), float(np.median(_epochs(hi)))
    details: dict[str, Any] = {
        "median_epochs": {f"{low:g}": e_lo, f"{high:g}": e_hi},
        "epochs_to_fit": _per_run(pd.concat([lo, hi]), "epochs_to_fit"),
    }
    if not math.isfinite(e_lo):
        return Measurement(None, reason=f"corruption {low:g} never fitted", details=details)
    if math.isfinite(e_hi):
        return Measurement(e_hi / e_lo, reason=f"{e_hi:g} / {e_lo:g} epochs", details=details)
    bound = float(pd.concat([lo, hi])["epoch_budget"].max()) / e_lo
    details["lower_bound"] = bound
    if bound > decisive_above:
        return Measurement(
            bound,
            reason=f"corruption {high:g} never fitted within the budget: ratio ≥ {bound:.3g}",
            details=details,
        )
    return Measurement(
        None,
        reason=(
            f"corruption {high:g} never fitted within the budget; the ratio is only known to "
            f"be at least {bound:.3g}"
        ),
        details=details,
    )


def linear_train_acc(rows: pd.DataFrame) -> Measurement:
    """The highest final training accuracy of the linear control runs (per training-set size
    in the details)."""
    if rows.empty:
        return Measurement(None, reason="no linear control runs")
    acc = rows["train_acc"].astype(float)
    by_size = {str(int(r["train_images"])): float(r["train_acc"]) for _, r in rows.iterrows()}
    return Measurement(
        float(acc.max()),
        reason=f"train accuracy on random labels by training images: {by_size}",
        details={"train_acc_by_train_images": by_size},
    )


def median_test_acc(rows: pd.DataFrame, corruption: float) -> Measurement:
    """Median over seeds of the final test accuracy at `corruption`."""
    sel = _at(rows, corruption)
    if sel.empty:
        return Measurement(None, reason=f"no runs at corruption {corruption}")
    return Measurement(
        float(longform.over_seeds(sel, "test_acc")),
        details={"test_acc": _per_run(sel, "test_acc")},
    )


MEASURES = {
    "lowest_train_acc": lowest_train_acc,
    "farthest_from_chance": farthest_from_chance,
    "fit_time_rank_correlation": fit_time_rank_correlation,
    "fit_time_ratio": fit_time_ratio,
    "linear_train_acc": linear_train_acc,
    "median_test_acc": median_test_acc,
}
