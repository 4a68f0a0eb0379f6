"""Figures: epochs to fit and accuracies against the corruption fraction (Zhang et al. Fig. 1b
and 1c, Table 1), and the training-loss curves (Fig. 1a)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from dlrepro import figures, longform

MODELS = {"mlp": ("tab:blue", "MLP 1x512"), "cnn": ("tab:red", "small CNN")}


def _empty(message: str) -> Figure:
    fig, (ax,) = figures.new(width=6, height=3)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def _corruption_sweeps(summary: pd.DataFrame) -> list[str]:
    return [s for s in MODELS if (summary["sweep"] == s).any()]


def fit_time(data: Any) -> Figure:
    """Epochs to 99% running training accuracy per run and their median, per network."""
    summ = data.summary
    sweeps = _corruption_sweeps(summ)
    if not sweeps:
        return _empty("no corruption sweeps at this scale")
    fig, (ax,) = figures.new(width=6.5, height=4.2)
    top = float(summ["epoch_budget"].max())
    bounds = [0.0]
    for sweep in sweeps:
        color, name = MODELS[sweep]
        rows = summ[summ["sweep"] == sweep]
        x = rows["corruption"].astype(float)
        y = rows["epochs_to_fit"].astype(float)
        fitted = y.notna()
        ax.scatter(x[fitted], y[fitted], color=color, alpha=0.6, s=22)
        ax.scatter(x[~fitted], [top] * int((~fitted).sum()), facecolors="none", edgecolors=color)
        med = longform.over_seeds(
            rows.assign(epochs_to_fit=y.fillna(math.inf)), "epochs_to_fit", by="corruption"
        )
        shown = med.replace(math.inf, top)
        ax.plot(shown.index.astype(float), shown.to_numpy(), color=color, label=f"{name} (median)")
        if 0.0 in med.index and math.isfinite(med.loc[0.0]):
            bounds.append(10 * med.loc[0.0])
            ax.axhline(
                10 * med.loc[0.0], color=color, ls="--", lw=1, label=f"{name}: 10x true labels"
            )
    ax.set_ylim(0, max(top, *bounds) * 1.05)
    ax.set_xlabel("label corruption (fraction of training labels redrawn)")
    ax.set_ylabel("epochs to 99% training accuracy")
    ax.legend(fontsize=7)
    return fig


def accuracy(data: Any) -> Figure:
    """Final training and test accuracy against corruption, with Table 1's points."""
    summ = data.summary
    sweeps = _corruption_sweeps(summ)
    if not sweeps:
        return _empty("no corruption sweeps at this scale")
    fig, (ax,) = figures.new(width=6.5, height=4.2)
    for sweep in sweeps:
        color, name = MODELS[sweep]
        rows = summ[summ["sweep"] == sweep]
        x = rows["corruption"].astype(float)
        ax.scatter(x, rows["train_acc"], marker="x", color=color, s=22)
        ax.scatter(x, rows["test_acc"], marker="o", color=color, s=22, alpha=0.6)
        for column, ls in (("train_acc", ":"), ("test_acc", "-")):
            med = longform.over_seeds(rows, column, by="corruption")
            ax.plot(
                med.index.astype(float),
                med.to_numpy(),
                color=color,
                ls=ls,
                label=f"{name} {column.split('_')[0]} (median)",
            )
    ax.axhline(0.1, color="gray", ls=":", lw=1, label="chance (10 classes)")
    ref = data.reference
    test_points = ref[ref["y_label"].astype(str).str.contains("test accuracy")]
    figures.overlay_reference(
        ax, test_points, label="Zhang et al. Table 1 (CIFAR-10), test", annotate=False
    )
    # The random-label points all sit near 10%: name the nets only at true labels.
    for r in test_points[test_points["x"].astype(float) == 0].itertuples():
        ax.annotate(
            str(r.series),
            (float(r.x), float(r.y)),
            textcoords="offset points",
            xytext=(6, 0),
            fontsize=6,
            va="center",
        )
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("label corruption")
    ax.set_ylabel("accuracy at the end of the run")
    ax.legend(fontsize=6, loc="lower left")
    return fig


def curves(data: Any) -> Figure:
    """Running training loss against epochs for seed 0 of each run, one panel per sweep."""
    summ = data.summary
    panels = [s for s in ("mlp", "cnn", "inputs") if (summ["sweep"] == s).any()]
    if not panels:
        return _empty("no runs to draw")
    fig, axes = figures.new(len(panels), width=4.5, height=3.6)
    for ax, sweep in zip(axes, panels, strict=True):
        rows = summ[(summ["sweep"] == sweep) & (summ["seed"] == summ["seed"].min())]
        key = "inputs" if sweep == "inputs" else "corruption"
        cmap = colormaps["viridis"]
        values = list(rows[key])
        for i, r in enumerate(rows.itertuples()):
            loss = longform.series(
                data.metrics, "train", "loss", index="epoch", run_id=str(r.run_id)
            )
            shade = cmap(i / max(1, len(values) - 1))
            label = f"{key} {getattr(r, key)}"
            ax.plot(loss.index, loss.to_numpy(), color=shade, lw=1, label=label)
        ax.set_yscale("log")
        ax.set_title(MODELS.get(sweep, ("", "randomized inputs (true labels)"))[1])
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (running)")
        ax.legend(fontsize=6)
    return fig


FIGURES = {"fit_time": fit_time, "accuracy": accuracy, "curves": curves}
