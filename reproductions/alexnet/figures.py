"""Figures: Fig. 1 (ReLU vs tanh) with the paper's points, baselines vs Xiao et al., dropout."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dlrepro.figures import PAPER_STYLE, FigureData, new
from dlrepro.longform import over_seeds, series

from .measures import best_lr

COLORS = {"relu": "tab:blue", "tanh": "tab:red"}


def _empty(message: str) -> Figure:
    fig, (ax,) = new(width=6, height=3)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def relu_vs_tanh(data: FigureData) -> Figure:
    """Running training error vs epoch, best learning rate per activation, per configuration."""
    summ = data.summary
    sub = summ[summ["sweep"].astype(str).str.startswith("fig1")]
    if sub.empty or "activation" not in sub.columns:
        return _empty("no ReLU/tanh runs at this scale")
    sweeps = sorted(sub["sweep"].unique())
    fig, axes = new(ncols=len(sweeps))
    ref = data.reference
    paper = ref[
        ref["source"].astype(str).str.contains("Krizhevsky") & ref["series"].isin(["ReLU", "tanh"])
    ]
    for ax, sweep in zip(axes, sweeps, strict=True):
        rows = sub[sub["sweep"] == sweep]
        thr = float(rows["error_threshold"].iloc[0]) if "error_threshold" in rows else None
        for act in ("relu", "tanh"):
            ra = rows[rows["activation"] == act]
            if ra.empty:
                continue
            lr = best_lr(ra)
            for i, r in enumerate(ra[ra["lr"] == lr].itertuples()):
                c = series(data.metrics, "train", "error", index="epoch", run_id=r.run_id)
                ax.plot(
                    c.index,
                    c.values,
                    color=COLORS[act],
                    alpha=0.9 if i == 0 else 0.4,
                    label=f"{act} (ours, lr {lr:g})" if i == 0 else None,
                )
        for p in paper.itertuples():
            act = "relu" if p.series == "ReLU" else "tanh"
            ax.scatter(
                p.x,
                p.y,
                **{**PAPER_STYLE, "color": COLORS[act], "edgecolors": "black"},
                label=f"paper {p.series}: {p.x:g} epochs to {p.y:g} (CIFAR-10)",
            )
        if thr is not None:
            ax.axhline(thr, color="gray", ls="--", lw=1, label=f"our threshold {thr:g}")
        for y in sorted(set(paper["y"])):  # the paper's threshold (Fig. 1: 25%)
            ax.axhline(y, color="k", ls=":", lw=1)
        ax.set_xlim(0, max(40.0, float(rows["epochs_run"].max())))  # the paper's axis: 40
        ax.set_ylim(0, 0.8)
        ax.set_title(sweep)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training error (running)")
        ax.legend(fontsize=7)
    return fig


def baselines(data: FigureData) -> Figure:
    """Test error per method: ours beside Table 3's number for the same method (reference.csv),
    the CNN, and the README's submissions (other estimators) on rows of their own."""
    summ = data.summary
    ref = data.reference
    acc = ref[ref["y_label"] == "Fashion-MNIST test accuracy"]
    table3 = acc[acc["source"].astype(str).str.startswith("Xiao")]
    published = {str(r.series): (1 - float(r.y), str(r.source)) for r in table3.itertuples()}
    # (label, our error or None, (published error, source) or None)
    rows: list[tuple[str, float | None, tuple[float, str] | None]] = []
    if "method" in summ.columns:
        for m, g in summ[summ["method"].notna()].groupby("method"):
            rows.append((str(m), over_seeds(g, "test_error"), published.get(str(m))))
    cnn = summ[summ["sweep"] == "cnn"]
    if len(cnn):
        rows.append(("AlexNet-style CNN", over_seeds(cnn, "test_error"), None))
    if not rows:
        return _empty("no baseline runs at this scale")
    for series_name, g in acc[~acc.index.isin(table3.index)].groupby("series", sort=False):
        many = f", median of {len(g)}" if len(g) > 1 else ""
        err = 1 - float(g["y"].astype(float).median())
        rows.append((f"{series_name}{many}", None, (err, str(g["source"].iloc[0]))))
    rows.sort(key=lambda r: r[1] if r[1] is not None else r[2][0], reverse=True)
    fig, (ax,) = new(width=7.5, height=4.5)
    y = np.arange(len(rows))
    for yi, (_, ours, paper) in zip(y, rows, strict=True):
        if ours is not None:
            ax.barh(yi - 0.2, ours, height=0.4, color="tab:blue")
            ax.text(ours, yi - 0.2, f" {ours:.3f}", va="center", fontsize=7)
        if paper is not None:
            err, source = paper
            unverified = "README" in source
            ax.barh(
                yi + 0.2,
                err,
                height=0.4,
                color="tab:gray" if unverified else "tab:orange",
                hatch="//" if unverified else None,
            )
            ax.text(err, yi + 0.2, f" {err:.3f} ({source.split(',')[0]})", va="center", fontsize=6)
    handles = [
        Patch(color="tab:blue", label="ours"),
        Patch(color="tab:orange", label="Xiao et al. 2017, Table 3 (same method)"),
        Patch(
            facecolor="tab:gray",
            hatch="//",
            label="Fashion-MNIST README (unverified, other estimators)",
        ),
    ]
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlabel("Fashion-MNIST test error")
    values = [r[1] for r in rows if r[1] is not None] + [r[2][0] for r in rows if r[2]]
    ax.set_xlim(0, 1.45 * max(values))
    ax.legend(handles=handles, fontsize=7, loc="upper right")
    return fig


def dropout_curves(data: FigureData) -> Figure:
    """Train and test accuracy (eval mode) per epoch, with and without dropout."""
    summ = data.summary
    sub = summ[summ["sweep"] == "dropout"]
    if sub.empty:
        return _empty("no dropout runs at this scale")
    fig, (ax,) = new(width=6)
    for (p, seed), g in sub.groupby(["dropout", "seed"]):
        rid = g["run_id"].iloc[0]
        color = "tab:green" if p > 0 else "tab:purple"
        first = seed == sub["seed"].min()
        for split, ls in (("train_eval", "-"), ("test", "--")):
            c = pd.concat(
                [
                    series(data.metrics, split, "acc", index="epoch", run_id=rid),
                    series(data.metrics, f"{split}_final", "acc", index="epoch", run_id=rid),
                ]
            )
            ax.plot(
                c.index,
                c.values,
                ls=ls,
                color=color,
                alpha=1.0 if first else 0.4,
                label=f"dropout {p:g}, {split.split('_')[0]}" if first else None,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (eval mode)")
    ax.legend(fontsize=8)
    return fig


FIGURES = {"relu_vs_tanh": relu_vs_tanh, "baselines": baselines, "dropout_curves": dropout_curves}
