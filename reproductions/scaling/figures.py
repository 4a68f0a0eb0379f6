"""The scaling reproduction's figures: L(N), L(D), IsoFLOP profiles and the vision curve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from dlrepro import figures
from dlrepro.figures import FigureData
from dlrepro.fits import fit_power_law
from dlrepro.longform import reference_value

from .fits import fit_exponent, fit_parametric, published_fit
from .measures import isoflop_profiles, lm_rows, points


def _plain_log_ticks(ax: Any) -> None:
    """Log axes with plain numbers (2.2, not 2.2×10⁰): losses span less than a decade."""
    fmt = ticker.FormatStrFormatter("%.3g")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)


def _power_law_panel(ax: Any, data: Any, sweep: str, x: str, xlabel: str, paper: str) -> None:
    rows = data.summary[data.summary["sweep"] == sweep]
    X, Y, _ = points(rows, x, "loss" if x != "n_train" else "test_error")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel(xlabel)
    if len(X) == 0:
        ax.text(0.5, 0.5, "no completed runs", transform=ax.transAxes, ha="center")
        return
    ax.scatter(X, Y, color="C0", zorder=4, label="our runs")
    grid = np.geomspace(X.min() / 1.5, X.max() * 1.5, 200)
    if len(X) >= 4:
        fit = fit_power_law(X, Y, constant=True)
        lo, hi = fit.band(grid)
        ax.plot(
            grid,
            fit.predict(grid),
            color="C0",
            label=f"E + A·x^-α: α={fit.alpha:.3g}, E={fit.E:.3g}, R²={fit.r2:.3f}",
        )
        ax.fill_between(grid, lo, hi, color="C0", alpha=0.15, label="95% band")
    if len(X) >= 3:
        pure = fit_power_law(X, Y, constant=False)
        ax.plot(
            grid,
            pure.predict(grid),
            color="C1",
            ls="--",
            label=f"pure power law: α={pure.alpha:.3g}, R²={pure.r2:.3f}",
        )
        if paper:
            alpha = reference_value(data.reference, paper)
            # Kaplan's slope through our middle point: same loss there, the paper's exponent.
            xm = float(np.exp(np.mean(np.log(X))))
            ym = float(pure.predict([xm])[0])
            ax.plot(
                grid,
                ym * (grid / xm) ** (-alpha),
                color="k",
                ls=":",
                label=f"Kaplan slope α={alpha:g} (through our mid-point)",
            )
    ax.legend(fontsize=7)


def power_law_figure(
    sweep: str, x: str, xlabel: str, paper: str, ylabel: str
) -> Callable[[FigureData], Figure]:
    """A figure of one sweep's loss (or error) against `x` with the fits of `_power_law_panel`."""

    def draw(data: FigureData) -> Figure:
        fig, (ax,) = figures.new(width=6.0, height=4.5)
        _power_law_panel(ax, data, sweep, x, xlabel, paper)
        ax.set_ylabel(ylabel)
        return fig

    return draw


def fig_isoflop(data: FigureData) -> Figure:
    fig, (left, right) = figures.new(ncols=2, width=5.5, height=4.5)
    rows = data.summary[data.summary["sweep"].str.startswith("isoflop")]
    rows = rows.dropna(subset=["C_budget"]) if "C_budget" in rows else rows.iloc[0:0]
    profiles = isoflop_profiles(rows, "N_total") if len(rows) else []
    left.set_xscale("log")
    left.set_xlabel("all parameters N (embeddings included)")
    left.set_ylabel("validation loss (nats/byte)")
    C_ok, n_ok, C_end, n_end = [], [], [], []
    for i, p in enumerate(profiles):
        color = f"C{i}"
        left.scatter(p["N"], p["L"], color=color, label=f"C = {p['C']:.0e}")
        f = p["fit"]
        if f is None:
            continue
        if not f.interior:  # the best sampled size bounds the optimum
            C_end.append(p["C"])
            n_end.append(p["N"][int(np.argmin(p["L"]))])
        u = np.linspace(np.log10(min(p["N"])) - 0.1, np.log10(max(p["N"])) + 0.1, 100)
        left.plot(10**u, f.coef[0] + f.coef[1] * u + f.coef[2] * u**2, color=color, lw=1)
        if f.interior:
            left.scatter([f.n_opt], [f.loss_opt], color=color, marker="x", s=80, zorder=5)
            C_ok.append(p["C"])
            n_ok.append(f.n_opt)
    left.legend(fontsize=7, title="x: parabola minimum", title_fontsize=7)

    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("compute C = 6ND (FLOPs; N all parameters, D bytes)")
    right.set_ylabel("N_opt (all parameters)")
    if profiles:
        Cs = np.geomspace(min(p["C"] for p in profiles) / 2, max(p["C"] for p in profiles) * 2)
        per_param = reference_value(data.reference, "tokens_per_param")
        right.plot(
            Cs,
            np.sqrt(Cs / 6 / per_param),
            color="gray",
            ls="-.",
            label=f"{per_param:g} tokens/parameter (Chinchilla's BPE tokens; ours are bytes)",
        )
        if C_ok:
            right.scatter(C_ok, n_ok, color="C0", zorder=5, label="our IsoFLOP optima")
        if C_end:
            right.scatter(
                C_end,
                n_end,
                color="C0",
                marker="v",
                s=60,
                zorder=5,
                label="best sampled size (optimum not bracketed)",
            )
        if len(C_ok) >= 2:
            e = fit_exponent(C_ok, n_ok)
            right.plot(Cs, e.predict(Cs), color="C0", label=f"our fit: a = {e.a:.3f}")
            a_ch = reference_value(data.reference, "a_approach2")
            cm = float(np.exp(np.mean(np.log(C_ok))))
            nm = float(e.predict([cm])[0])
            right.plot(
                Cs,
                nm * (Cs / cm) ** a_ch,
                color="k",
                ls=":",
                label=f"Chinchilla a = {a_ch:g} (through our mid-point)",
            )
        lms = lm_rows(data.summary)
        lms = lms[lms["sweep"].str.startswith("isoflop") | (lms["sweep"] == "ln")]
        curves = [
            ("Chinchilla approach 3 (tokens)", published_fit(data.reference, "approach3"), "C3"),
            ("Besiroglu refit (tokens)", published_fit(data.reference, "besiroglu"), "C4"),
        ]
        if len(lms) >= 8:
            ours = fit_parametric(lms["N_total"], lms["D"], lms["loss"])
            curves.insert(0, (f"our approach 3 (a = {ours.a:.2f})", ours, "C2"))
        for label, law, color in curves:
            right.plot(Cs, law.n_opt(Cs), color=color, ls="--", lw=1, label=label)
    right.legend(fontsize=7)
    return fig


LOSS = "validation loss (nats/byte)"
FIGURES = {
    "loss_vs_n": power_law_figure("ln", "N", "non-embedding parameters N", "alpha_N", LOSS),
    "loss_vs_d": power_law_figure("ld", "D", "training tokens D (bytes)", "alpha_D", LOSS),
    "isoflop": fig_isoflop,
    "vision": power_law_figure("vision", "n_train", "training images n", "", "test error"),
}
