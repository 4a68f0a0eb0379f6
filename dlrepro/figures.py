"""Figures: the data a reproduction's figure functions get, and the shared drawing helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dlrepro.atomic import atomic_path  # noqa: E402

PAPER_STYLE = {"color": "black", "marker": "*", "s": 140, "zorder": 5, "edgecolors": "white"}


@dataclass
class FigureData:
    scale: str
    metrics: pd.DataFrame
    summary: pd.DataFrame
    runs: pd.DataFrame
    reference: pd.DataFrame


def new(ncols: int = 1, width: float = 5.0, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def overlay_reference(
    ax: Axes,
    reference: pd.DataFrame,
    series: str | None = None,
    label: str | None = None,
    annotate: bool = True,
) -> None:
    """Draw the papers' points (black stars), labelled with their source figure/table; with
    `annotate`, each point also carries its y_label (what the paper says is there)."""
    ref = reference if series is None else reference[reference["series"] == series]
    for source, rows in ref.groupby("source", sort=False):
        ax.scatter(
            rows["x"].astype(float),
            rows["y"].astype(float),
            label=label or f"paper: {source}",
            **PAPER_STYLE,
        )
        if annotate:
            for r in rows.itertuples():
                ax.annotate(
                    str(r.y_label),
                    (float(r.x), float(r.y)),
                    textcoords="offset points",
                    xytext=(0, -12),
                    ha="center",
                    fontsize=7,
                )


def _linear_where_nothing_to_log(fig: Figure) -> None:
    """A log axis with no positive value to draw (at smoke scale, say, no run reached 99%) would
    make matplotlib raise at save; draw it linear and say so, so the figure still shows the runs."""
    for ax in fig.axes:
        for axis, _lo, hi in (("x", *ax.dataLim.intervalx), ("y", *ax.dataLim.intervaly)):
            scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
            if scale == "log" and not (np.isfinite(hi) and hi > 0):
                (ax.set_xscale if axis == "x" else ax.set_yscale)("linear")
                ax.text(
                    0.5,
                    0.5,
                    f"no positive value to draw on the log {axis} axis",
                    transform=ax.transAxes,
                    ha="center",
                    fontsize=8,
                    color="0.4",
                )


def save(fig: Figure, png: str | Path, svg: str | Path, title: str = "") -> None:
    """Write the figure as PNG and SVG, each atomically."""
    if title:
        fig.suptitle(title)
    _linear_where_nothing_to_log(fig)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    with atomic_path(svg) as tmp:
        fig.savefig(tmp, format="svg")
    plt.close(fig)
