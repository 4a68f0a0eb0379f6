"""Double descent's figures: error vs width (with the notebook's and Nakkiran's points) and
test error vs parameter count."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from dlrepro.figures import FigureData, new

from .measures import PTS, find_peak

PANELS = [  # sweep, title, the notebook's series of the same experiment
    ("mlp_noisy", "MLP, 15% label noise", "mlp_noisy"),
    ("mlp_clean", "MLP, no label noise", "mlp_clean"),
    ("cnn_noisy", "CNN, 15% label noise", "cnn_noisy"),
    ("resnet_noisy", "ResNet-18, CIFAR-10, 15% noise", None),
]
COLORS = {"mlp_noisy": "tab:red", "mlp_clean": "tab:blue", "cnn_noisy": "tab:purple"}


def _curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of the final errors per width, sorted by width."""
    cols = ["test_error", "train_error", "n_params"]
    return rows.groupby("width")[cols].median().sort_index()


def _reference(ax: Axes, ref: pd.DataFrame, series: str) -> None:
    for split, ls in (("test", "-"), ("train", "--")):
        pts = ref[ref["series"] == f"{series} {split}"]
        if len(pts):
            ax.plot(
                pts["x"].astype(float),
                PTS * pts["y"].astype(float),
                ls=ls,
                marker="o",
                ms=3,
                lw=1,
                color="0.55",
                label=f"notebook {split}",
            )


def _ours(ax: Axes, rows: pd.DataFrame, color: str) -> None:
    c = _curve(rows)
    ax.plot(c.index, PTS * c["test_error"], color=color, marker="o", ms=4, label="ours test")
    ax.plot(c.index, PTS * c["train_error"], color=color, ls="--", lw=1, label="ours train")
    seeds = sorted(rows["seed"].unique())
    if len(seeds) > 1:  # the spread over seeds, drawn faintly
        for _, g in rows.groupby("seed"):
            g = g.sort_values("width")
            ax.plot(g["width"], PTS * g["test_error"], color=color, lw=0.6, alpha=0.35)
    p = find_peak(c.index.to_numpy(), c["test_error"].to_numpy(), c["train_error"].to_numpy())
    if p is None:
        ax.text(0.5, 0.04, "no width fits the training set", transform=ax.transAxes, ha="center")
        return
    n_params = int(c.loc[p.threshold_width, "n_params"])
    ax.axvline(
        p.threshold_width,
        color=color,
        ls=":",
        lw=1.2,
        label=f"interpolation threshold ({p.threshold_width:g}; {n_params:,} params)",
    )
    if p.peak_width is not None:
        ax.plot(
            p.peak_width,
            PTS * p.peak_error,
            marker="v",
            ms=10,
            color=color,
            mec="k",
            ls="none",
            label=f"peak: +{PTS * p.rise:.1f} over narrower, +{PTS * p.fall:.1f} over widest",
        )


def _nakkiran(ax: Axes, ref: pd.DataFrame) -> None:
    pts = ref[ref["source"].astype(str).str.startswith("Nakkiran")]
    ax.scatter(
        pts["x"].astype(float),
        PTS * pts["y"].astype(float),
        marker="*",
        s=160,
        color="k",
        zorder=5,
        label="Nakkiran Fig. 1 (noisy test labels)",
    )
    ax.axvspan(6, 18, color="0.9", zorder=0, label="Fig. 1 peak region (k ≈ 6–18)")


def error_vs_width(data: FigureData) -> Figure:
    fig, axes = new(ncols=len(PANELS), width=4.6, height=4.2)
    summ, ref = data.summary, data.reference
    for ax, (sweep, title, series) in zip(axes, PANELS, strict=True):
        rows = summ[(summ["sweep"] == sweep) & (summ["status"] == "completed")]
        if series is not None:
            _reference(ax, ref, series)
        else:
            _nakkiran(ax, ref)
        if len(rows):
            _ours(ax, rows, COLORS.get(sweep, "tab:green"))
        elif series is None:
            ax.text(0.5, 0.6, f"not run at {data.scale} scale", transform=ax.transAxes, ha="center")
        ax.set_xscale("log")
        if series is None:
            ax.set_xlim(0.8, 90)  # Nakkiran's k = 1..64
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_ylim(0, 100)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("channels" if sweep.startswith("cnn") else "width")
        ax.set_ylabel("error (%)")
        ax.legend(fontsize=6.5, loc="upper right")
    return fig


def error_vs_params(data: FigureData) -> Figure:
    fig, (ax,) = new(width=6.5, height=4.4)
    summ = data.summary
    n_train = None
    for sweep in ("mlp_noisy", "mlp_clean"):
        rows = summ[(summ["sweep"] == sweep) & (summ["status"] == "completed")]
        if rows.empty:
            continue
        c = _curve(rows)
        label = "15% label noise" if sweep == "mlp_noisy" else "no label noise"
        ax.plot(c["n_params"], PTS * c["test_error"], marker="o", ms=4, color=COLORS[sweep],
                label=f"test, {label}")  # fmt: skip
        ax.plot(c["n_params"], PTS * c["train_error"], ls="--", lw=1, color=COLORS[sweep],
                label=f"train, {label}")  # fmt: skip
        n_train = float(rows["n_train"].median())
    if n_train is None:
        ax.text(0.5, 0.5, "no MLP runs at this scale", transform=ax.transAxes, ha="center")
        return fig
    ax.axvline(n_train, color="k", ls="--", lw=1, label=f"n = {n_train:,.0f} training examples")
    ax.axvspan(n_train, 10 * n_train, color="0.92", zorder=0, label="n to n·K (K = 10 classes)")
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("parameters")
    ax.set_ylabel("error (%)")
    ax.legend(fontsize=7)
    ax.set_xlim(left=max(10.0, float(np.nanmin(summ["n_params"])) / 2))
    return fig


FIGURES = {"error_vs_width": error_vs_width, "error_vs_params": error_vs_params}
