"""Grokking's figures: accuracy curves, the embedding's Fourier spectrum, weight norm, data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dlrepro.figures import FigureData, new, overlay_reference
from dlrepro.longform import series

from . import analysis

# One colour per sweep; weight decay is shown by wd_long (seed 0), which runs on to 4× the
# grokking step.
COLORS = {"wd_long": "tab:blue", "none": "tab:red", "l1": "tab:green"}


def _x(values: pd.Series) -> np.ndarray:
    """Steps for a log axis: step 0 (initialization) is drawn at 1."""
    return np.maximum(values.index.to_numpy(), 1)


def _step_axis(ax: Axes, ylabel: str, legend: str = "best", fontsize: int = 7) -> None:
    """Optimization steps on a log x axis, as the papers draw grokking."""
    ax.set_xscale("log")
    ax.set_xlabel("optimization step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=fontsize, loc=legend)


def _curves(ax: Axes, metrics: pd.DataFrame, run_id: str, label: str, color: str) -> None:
    tr = series(metrics, "train", "acc", run_id=run_id)
    va = series(metrics, "val", "acc", run_id=run_id)
    ax.plot(_x(tr), tr.values, color=color, ls="--", lw=1, label=f"{label} train")
    ax.plot(_x(va), va.values, color=color, lw=1.5, label=f"{label} val")


def _first_run(summary: pd.DataFrame, sweep: str) -> str | None:
    rows = summary[summary["sweep"] == sweep].sort_values("seed")
    return rows["run_id"].iloc[0] if len(rows) else None


def _setting(data: FigureData, key: str) -> Any:
    """A setting shared by every run (from the runs table), e.g. the claims' top-k."""
    values = {json.dumps(json.loads(s)[key]) for s in data.runs["settings_json"]}
    if len(values) != 1:
        raise ValueError(f"runs differ in {key}: {sorted(values)}")
    return json.loads(values.pop())


def fig_curves(data: FigureData) -> Figure:
    fig, (ax,) = new(width=7, height=4.5)
    for sweep, color in COLORS.items():
        run_id = _first_run(data.summary, sweep)
        if run_id:
            _curves(ax, data.metrics, run_id, sweep, color)
    overlay_reference(ax, data.reference, series="acc_vs_step")
    _step_axis(ax, "accuracy", legend="center left")
    return fig


def fig_fourier(data: FigureData) -> Figure:
    fig, (ax1, ax2) = new(ncols=2, width=5.5)
    run_id = _first_run(data.summary, "wd_long")
    if run_id:
        m = data.metrics[data.metrics["run_id"] == run_id]
        row = data.summary[data.summary["run_id"] == run_id].iloc[0]
        for step, label in [
            (0, "init"),
            (row["steps_train_99"], "memorized"),
            (m["step"].max(), "final"),
        ]:
            if pd.notna(step):
                spec = analysis.spectrum_at(m, step)
                ax1.plot(
                    range(1, len(spec) + 1),
                    spec.values,
                    marker=".",
                    lw=1,
                    label=f"{label} (step {step:.0f})",
                )
    ax1.set_xlabel("frequency k")
    ax1.set_ylabel("embedding norm at frequency k")
    ax1.legend(fontsize=7)
    top_k = _setting(data, "fourier_top_k")  # the k the sparsity claims use
    for r in data.summary[data.summary["sweep"].isin(["wd", *COLORS])].itertuples():
        one_run = data.metrics[data.metrics["run_id"] == r.run_id]
        shares = analysis.top_share_by_step(one_run, top_k)
        ax2.plot(_x(shares), shares.values, lw=1, label=r.run_id)
    if run_id:
        tuned = series(data.metrics, "neurons", "single_freq_power_weighted", run_id=run_id)
        if len(tuned):
            ax2.plot(
                _x(tuned),
                tuned.values,
                color="k",
                ls="--",
                lw=1,
                label=f"{run_id}: single-frequency neurons (power share)",
            )
    overlay_reference(ax2, data.reference, series="fourier_top_share")
    _step_axis(ax2, f"share of power in top {top_k} frequencies", fontsize=6)
    return fig


def fig_norm(data: FigureData) -> Figure:
    fig, (ax,) = new(width=7, height=4.5)
    twin = ax.twinx()
    for sweep, color in COLORS.items():
        run_id = _first_run(data.summary, sweep)
        if not run_id:
            continue
        norm = series(data.metrics, "model", "weight_norm", run_id=run_id)
        va = series(data.metrics, "val", "acc", run_id=run_id)
        ax.plot(_x(norm), norm.values, color=color, lw=1.5, label=f"{sweep} weight norm")
        twin.plot(_x(va), va.values, color=color, lw=1, ls=":", label=f"{sweep} val acc")
    _step_axis(ax, "total weight norm (solid)", legend="lower left")
    twin.set_ylabel("validation accuracy (dotted)")
    return fig


def fig_fractions(data: FigureData) -> Figure:
    fig, (ax,) = new()
    s = data.summary[data.summary["sweep"].isin(["wd", "wd_long", "frac"])]
    ax.scatter(s["frac"], s["steps_val_99"], label="steps to 99% val acc")
    ax.scatter(s["frac"], s["steps_train_99"], marker="x", label="steps to 99% train acc")
    med = s.groupby("frac")["steps_val_99"].median()
    ax.plot(med.index, med.values, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("training fraction of all pairs")
    ax.set_ylabel("optimization steps")
    ax.legend(fontsize=8)
    return fig


FIGURES = {
    "curves": fig_curves,
    "fourier": fig_fourier,
    "norm": fig_norm,
    "fractions": fig_fractions,
}
