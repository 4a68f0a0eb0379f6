"""Figures: Yosinski et al.'s Fig. 2 layout with the paper's points, and data efficiency."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from dlrepro.figures import FigureData, new, overlay_reference

from .measures import POINTS, versus_base

# (our sweep, the paper's series in reference.csv, colour)
TREATMENTS = [
    ("bnb", "BnB", "tab:blue"),
    ("anb", "AnB", "tab:red"),
    ("bnb_plus", "BnB+", "tab:cyan"),
    ("anb_plus", "AnB+", "tab:orange"),
]
# data-efficiency method -> (its sweep, the sweep whose run at the same depth is its full-data
# point; None: baseB), colour
METHODS = {
    "scratch": ("scratch", None, "tab:gray"),
    "fine-tune from baseA": ("finetune", "anb_plus", "tab:orange"),
    "linear probe on baseA": ("probe", "anb", "tab:red"),
}


def fig2(data: FigureData) -> Figure:
    """One panel per treatment: (treatment - baseB) vs n, seeds as dots, mean as a line."""
    fig, axes = new(ncols=4, width=3.4, height=3.4)
    rows = data.summary
    for ax, (sweep, paper, color) in zip(axes, TREATMENTS, strict=True):
        ax.axhline(0, color="k", lw=0.8, ls="--", label="baseB")
        table = versus_base(rows, sweep) if (rows["sweep"] == sweep).any() else pd.DataFrame()
        for seed in table.columns:
            ax.scatter(table.index, table[seed], color=color, s=12, alpha=0.6)
        if not table.empty:
            mean = table.mean(axis=1)
            ax.plot(mean.index, mean.values, color=color, lw=2, marker="o", label=f"ours ({sweep})")
        overlay_reference(ax, data.reference, series=paper, label="paper", annotate=False)
        ax.set_title(paper)
        ax.set_xlabel("layers copied, n")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("accuracy on B minus baseB (points)")
    return fig


def efficiency_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Columns method, examples_per_class, seed, acc (points): the data-efficiency sweeps plus
    their full-data points from the transfer sweeps."""
    parts = []
    for method, (sweep, full_sweep, _) in METHODS.items():
        own = rows[rows["sweep"] == sweep]
        if own.empty:
            continue
        if full_sweep is None:
            full = rows[(rows["sweep"] == "base") & (rows["half"] == "B")]
        else:
            depth = own["copied_layers"].iloc[0]
            full = rows[(rows["sweep"] == full_sweep) & (rows["n"] == depth)]
        both = pd.concat([own, full])
        parts.append(
            pd.DataFrame(
                {
                    "method": method,
                    "examples_per_class": both["examples_per_class"].astype(float),
                    "seed": both["seed"],
                    "acc": both["test_acc"].astype(float) * POINTS,
                }
            )
        )
    cols = ["method", "examples_per_class", "seed", "acc"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def data_efficiency(data: FigureData) -> Figure:
    fig, (ax,) = new(width=6, height=4.2)
    table = efficiency_table(data.summary)
    for method, (_, _, color) in METHODS.items():
        t = table[table["method"] == method]
        if t.empty:
            continue
        ax.scatter(t["examples_per_class"], t["acc"], color=color, s=12, alpha=0.6)
        mean = t.groupby("examples_per_class")["acc"].mean()
        ax.plot(mean.index, mean.values, color=color, lw=2, marker="o", label=method)
    ax.set_xscale("log")
    ticks = sorted(table["examples_per_class"].unique())
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training images per class of B")
    ax.set_ylabel("test accuracy on B (%)")
    ax.legend(fontsize=8)
    return fig


FIGURES = {"fig2": fig2, "data_efficiency": data_efficiency}
