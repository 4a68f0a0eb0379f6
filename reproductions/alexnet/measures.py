"""The claims' measures: each turns summary rows (one per run) into one number.

Every function receives the summary rows of its claim's sweeps and the claim's `args` from
reproduction.yaml; none of them knows a threshold unless the file
passes it (the censoring rule of `activation_speedup` needs it to stay honest).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlrepro.claims import Measurement
from dlrepro.longform import over_seeds, reference_value
from dlrepro.reproduction import load_reference

REFERENCE = Path(__file__).with_name("reference.csv")  # the papers' numbers
XIAO = "Xiao et al. 2017, Table 3"
ILSVRC = "Krizhevsky et al. 2012, Table 2"


def xiao_table3() -> dict[str, float]:
    """Fashion-MNIST test accuracy of the best setting of each family in Xiao et al. Table 3."""
    ref = load_reference(REFERENCE)
    rows = ref[ref["source"] == XIAO]
    return {str(r.series): float(r.y) for r in rows.itertuples()}


def _select(rows: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    for key, want in where.items():
        if key not in rows.columns:
            return rows.iloc[0:0]
        rows = rows[rows[key] == want]
    return rows


def rate_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per learning rate, the median over seeds of the epochs to the error threshold (a seed
    that never reached it counts as never, +inf, so the rate's median is "never" once half
    its seeds are) and of the final running training error."""
    never_inf = rows.assign(epochs_to_threshold=rows["epochs_to_threshold"].fillna(math.inf))
    return pd.DataFrame(
        {
            "epochs": over_seeds(never_inf, "epochs_to_threshold", by="lr"),
            "final_error": over_seeds(rows, "final_running_error", by="lr"),
        }
    )


def best_lr(rows: pd.DataFrame) -> float:
    """The rate with the fewest epochs to the threshold; among rates that never reach it, the
    lowest final running error (this only names the rate; a censored value never enters a
    ratio). The Fig. 1 claim and figure both use it."""
    table = rate_table(rows).sort_values(["epochs", "final_error"], kind="stable")
    return float(table.index[0])


def activation_speedup(
    rows: pd.DataFrame,
    where: dict[str, Any] | None = None,
    max_epochs: float | None = None,
    decisive_above: float | None = None,
) -> Measurement:
    """Epochs-to-threshold of tanh divided by ReLU's, each at its best learning rate.

    Each activation runs at its `best_lr` (tuned on the same grid for both, as in Fig. 1). If
    tanh never reaches the threshold but ReLU does, the ratio is only known to exceed
    max_epochs / relu; that lower bound is reported as the value only
    when it is at least `decisive_above` (then the claim holds whatever the true ratio), and
    the claim is inconclusive otherwise.
    """
    rows = _select(rows, where or {})
    if rows.empty:
        return Measurement(None, reason=f"no runs match {where}")
    best: dict[str, tuple[float, float]] = {}
    per_lr: dict[str, dict[str, float]] = {}
    for act in ("relu", "tanh"):
        sub = rows[rows["activation"] == act]
        if sub.empty:
            return Measurement(None, reason=f"no {act} runs among {where}")
        table = rate_table(sub)
        per_lr[act] = {f"{lr:g}": float(e) for lr, e in table["epochs"].items()}
        lr_best = best_lr(sub)
        best[act] = (lr_best, float(table.loc[lr_best, "epochs"]))
    seeds = sorted(int(s) for s in rows["seed"].unique())
    details = {
        "epochs_by_lr": per_lr,
        "best_lr": {a: best[a][0] for a in best},
        "epochs": {a: best[a][1] for a in best},
        "where": where or {},
    }
    relu, tanh = best["relu"][1], best["tanh"][1]
    if not math.isfinite(relu):
        return Measurement(
            None, seeds, "ReLU never reached the error threshold at any rate", details
        )
    if not math.isfinite(tanh):
        cap = max_epochs if max_epochs is not None else float(rows["epochs_run"].max())
        bound = cap / relu
        details["lower_bound"] = bound
        if decisive_above is not None and bound >= decisive_above:
            return Measurement(
                bound,
                seeds,
                f"tanh never reached the threshold within {cap:g} epochs; ratio ≥ {bound:.3g}",
                details,
            )
        return Measurement(
            None,
            seeds,
            f"tanh never reached the threshold within {cap:g} epochs; the ratio is only known "
            f"to exceed {bound:.3g}",
            details,
        )
    return Measurement(tanh / relu, seeds, "", details)


def baseline_deviation(rows: pd.DataFrame) -> Measurement:
    """Largest |our test accuracy − Xiao et al. Table 3| over the methods Table 3 lists."""
    paper = xiao_table3()
    if "method" not in rows.columns:
        return Measurement(None, reason="no classical runs (no 'method' column)")
    cls = rows[rows["method"].notna()]
    ours = over_seeds(cls, "test_acc", by="method").to_dict()
    compared = {m: ours[m] - paper[m] for m in paper if m in ours}
    missing = sorted(set(paper) - set(ours))
    if missing:
        return Measurement(None, reason=f"no runs for {missing}")
    worst = max(compared, key=lambda m: abs(compared[m]))
    return Measurement(
        abs(compared[worst]),
        sorted(int(s) for s in cls["seed"].unique()),
        f"largest deviation: {worst} {ours[worst]:.4f} vs {paper[worst]:.3f}",
        {"ours": ours, "paper": paper, "difference": compared},
    )


def cnn_vs_classical(rows: pd.DataFrame, cnn_sweep: str, classical_sweep: str) -> Measurement:
    """CNN test error / best classical test error (the paper's ILSVRC-2012 ratio, from
    reference.csv, goes into the details as context)."""
    cls = rows[rows["sweep"] == classical_sweep]
    cnn = rows[rows["sweep"] == cnn_sweep]
    if cls.empty or cnn.empty:
        return Measurement(None, reason=f"need runs of both {cnn_sweep} and {classical_sweep}")
    errors = over_seeds(cls, "test_error", by="method").to_dict()
    ref = load_reference(REFERENCE)
    best = min(errors, key=lambda m: errors[m])
    cnn_err = over_seeds(cnn, "test_error")
    return Measurement(
        cnn_err / errors[best],
        sorted(int(s) for s in cnn["seed"].unique()),
        f"CNN test error {cnn_err:.4f} vs best classical ({best}) {errors[best]:.4f}",
        {
            "cnn_error": cnn_err,
            "cnn_per_seed": {
                int(s): float(e) for s, e in zip(cnn["seed"], cnn["test_error"], strict=True)
            },
            "classical_errors": errors,
            "best_classical": best,
            "paper_ratio": reference_value(ref, "CNN vs SIFT+FVs", ILSVRC)
            / reference_value(ref, "SIFT+FVs", ILSVRC),
        },
    )


def paired_difference(
    rows: pd.DataFrame,
    column: str,
    param: str,
    off: Any,
    on: Any,
) -> Measurement:
    """Median over seeds of `column`(param=off) − `column`(param=on), paired by seed."""
    diffs: dict[int, float] = {}
    per: dict[str, dict[int, float]] = {"off": {}, "on": {}}
    for seed, grp in rows.groupby("seed"):
        a = grp[grp[param] == off][column]
        b = grp[grp[param] == on][column]
        if len(a) == 1 and len(b) == 1:
            diffs[int(seed)] = float(a.iloc[0]) - float(b.iloc[0])
            per["off"][int(seed)] = float(a.iloc[0])
            per["on"][int(seed)] = float(b.iloc[0])
    if not diffs:
        return Measurement(None, reason=f"no seed has both {param}={off} and {param}={on}")
    return Measurement(
        float(np.median(list(diffs.values()))),
        sorted(diffs),
        f"{column}: {param}={off} minus {param}={on}, median over seeds",
        {"per_seed_difference": diffs, f"{param}={off}": per["off"], f"{param}={on}": per["on"]},
    )


MEASURES = {
    "activation_speedup": activation_speedup,
    "baseline_deviation": baseline_deviation,
    "cnn_vs_classical": cnn_vs_classical,
    "paired_difference": paired_difference,
}
