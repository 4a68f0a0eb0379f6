"""MNIST-1D benchmark figure: our test accuracies beside the published ones."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dlrepro.figures import FigureData, new

MODELS = ["logistic", "mlp", "cnn", "gru"]
BARS = [  # (label, where the value comes from, colour)
    ("ours", None, "tab:blue"),
    ("README", "Greydanus & Kobak, README benchmark", "tab:orange"),
    ("notebook re-run", "MNIST-1D classification notebook (re-run)", "tab:gray"),
]


def benchmark(data: FigureData) -> Figure:
    fig, axes = new(ncols=2, width=5.2, height=4.0)
    summ, ref = data.summary, data.reference
    done = summ[summ["status"] == "completed"]
    x = np.arange(len(MODELS))
    width = 0.26
    for ax, shuffled in zip(axes, (False, True), strict=True):
        series = "shuffled" if shuffled else "original"
        for k, (label, source, color) in enumerate(BARS):
            offset = (k - 1) * width
            if source is None:
                for i, model in enumerate(MODELS):
                    rows = done[(done["sweep"] == model) & (done["shuffle"] == shuffled)]
                    if rows.empty:
                        continue
                    acc = 100 * rows["test_acc"].to_numpy()
                    ax.bar(i + offset, np.median(acc), width, color=color,
                           label=label if i == 0 else None)  # fmt: skip
                    ax.plot(np.full(len(acc), i + offset), acc, "k.", ms=3)
                    ax.text(i + offset, np.median(acc) + 1, f"{np.median(acc):.1f}",
                            ha="center", fontsize=6.5)  # fmt: skip
                continue
            pts = ref[(ref["source"] == source) & (ref["series"] == series)]
            vals = {str(r.x): 100 * float(r.y) for r in pts.itertuples()}
            heights = [vals.get(m, np.nan) for m in MODELS]
            ax.bar(x + offset, heights, width, color=color, label=label, alpha=0.85)
        ax.set_xticks(x, MODELS)
        ax.set_ylim(0, 105)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("spatially shuffled sequences" if shuffled else "original sequences")
        ax.legend(fontsize=7, loc="upper left")
    return fig


FIGURES = {"benchmark": benchmark}
