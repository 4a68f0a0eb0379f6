"""The scaling reproduction's claim measures: power-law fits, IsoFLOP optima, approach 3."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dlrepro.claims import Measurement
from dlrepro.fits import PowerLawFit, fit_power_law, is_monotone_decreasing, t_interval
from dlrepro.longform import over_seeds

from .fits import fit_exponent, fit_isoflop, fit_parametric


def points(rows: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(x, y) of the completed runs with finite values, averaged over seeds at equal x (the
    mean: a curve is fitted through these points; see longform.over_seeds)."""
    ok = rows[(rows["status"] == "completed")].dropna(subset=[x, y])
    ok = ok[(ok[x] > 0) & (ok[y] > 0)]
    g = over_seeds(ok, y, by=x, how="mean")
    return g.index.to_numpy(float), g.to_numpy(float), sorted({int(s) for s in ok["seed"]})


def _fit_details(fit: PowerLawFit) -> dict[str, Any]:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in fit.as_dict().items()}


def power_law_r2(rows: pd.DataFrame, x: str, y: str, constant: bool = True) -> Measurement:
    """R² (on log y) of y = E + A·x^-α (or the pure law); details carry both fits."""
    X, Y, seeds = points(rows, x, y)
    need = 4 if constant else 3
    if len(X) < need:
        return Measurement(None, seeds, f"{len(X)} distinct {x} values; the fit needs {need}")
    fit = fit_power_law(X, Y, constant=constant)
    pure = fit_power_law(X, Y, constant=False)
    return Measurement(
        fit.r2,
        seeds,
        f"R² {fit.r2:.4f}, α {fit.alpha:.3g} (95% CI {fit.alpha_ci[0]:.3g}–{fit.alpha_ci[1]:.3g}),"
        f" E {fit.E:.3g}; pure power law α {pure.alpha:.3g}, R² {pure.r2:.4f}; over "
        f"{X.min():.3g}–{X.max():.3g} ({math.log10(X.max() / X.min()):.2f} decades)",
        {
            "fit": _fit_details(fit),
            "pure": _fit_details(pure),
            "x": X.tolist(),
            "y": Y.tolist(),
            "decades": math.log10(X.max() / X.min()),
            "monotone": is_monotone_decreasing(X, Y),
        },
    )


def power_law_exponent(rows: pd.DataFrame, x: str, y: str, constant: bool = False) -> Measurement:
    m = power_law_r2(rows, x, y, constant=True)
    if not m.details:
        return m
    key = "fit" if constant else "pure"
    d = m.details[key]
    reason = (
        f"α {d['alpha']:.4g} (95% CI {d['alpha_ci_low']:.3g}–{d['alpha_ci_high']:.3g}, "
        f"{'with' if constant else 'without'} a constant); " + m.reason
    )
    interval = (d["alpha_ci_low"], d["alpha_ci_high"])
    return Measurement(d["alpha"], m.seeds, reason, m.details, interval=interval)


def monotone_fraction(rows: pd.DataFrame, x: str, y: str) -> Measurement:
    """The fraction of successive x values at which y is lower than at the previous one."""
    X, Y, seeds = points(rows, x, y)
    if len(X) < 2:
        return Measurement(None, seeds, f"{len(X)} distinct {x} values")
    falls = np.diff(Y) < 0
    bad = [f"{X[i]:.3g}→{X[i + 1]:.3g}" for i in np.flatnonzero(~falls)]
    reason = f"{int(falls.sum())} of {len(falls)} steps fall" + (f"; rises at {bad}" if bad else "")
    return Measurement(float(falls.mean()), seeds, reason, {"x": X.tolist(), "y": Y.tolist()})


def isoflop_profiles(rows: pd.DataFrame, n: str = "N_total") -> list[dict[str, Any]]:
    """One fitted parabola in log `n` per compute budget (C_budget), smallest budget first."""
    out = []
    for budget, g in rows.groupby("C_budget"):
        N, L, _ = points(g, n, "loss")
        if len(N) < 3:
            out.append({"C": float(budget), "N": N.tolist(), "L": L.tolist(), "fit": None})
            continue
        f = fit_isoflop(N, L)
        out.append({"C": float(budget), "N": N.tolist(), "L": L.tolist(), "fit": f})
    return out


def _profile_details(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for p in profiles:
        f = p["fit"]
        rows.append(
            {
                "C": p["C"],
                "N": p["N"],
                "L": p["L"],
                "n_opt": None if f is None else f.n_opt,
                "loss_opt": None if f is None else f.loss_opt,
                "curvature": None if f is None else f.coef[2],
                "interior": None if f is None else f.interior,
                "u_shaped": None if f is None else f.u_shaped,
            }
        )
    return rows


def isoflop_u_fraction(rows: pd.DataFrame, n: str = "N_total") -> Measurement:
    profiles = isoflop_profiles(rows, n)
    seeds = sorted({int(s) for s in rows["seed"]})
    if not profiles:
        return Measurement(None, seeds, "no IsoFLOP runs")
    u = [bool(p["fit"] is not None and p["fit"].u_shaped) for p in profiles]
    reason = f"{sum(u)} of {len(u)} budgets U-shaped; " + ", ".join(
        f"C={p['C']:.0e}: {'U' if ok else 'not U'}" for p, ok in zip(profiles, u, strict=True)
    )
    return Measurement(sum(u) / len(u), seeds, reason, {"profiles": _profile_details(profiles)})


def _optima(rows: pd.DataFrame, n: str) -> tuple[list[dict[str, Any]], list[int], str]:
    profiles = isoflop_profiles(rows, n)
    seeds = sorted({int(s) for s in rows["seed"]})
    outside = [p["C"] for p in profiles if p["fit"] is None or not p["fit"].interior]
    why = ""
    if outside:
        # Say which way the optimum lies: a best run at an end of the sampled sizes bounds it.
        bounds = []
        for p in profiles:
            if p["C"] not in outside or not p["N"]:
                continue
            k = int(np.argmin(p["L"]))
            ratio = p["C"] / 6 / p["N"][k] ** 2
            side = "smallest" if k == 0 else "largest" if k == len(p["N"]) - 1 else "inner"
            bounds.append(
                f"C={p['C']:.0e}: best at the {side} size N={p['N'][k]:.3g} (D/N={ratio:.3g})"
            )
        why = (
            f"the optimum of budget(s) {[f'{c:.0e}' for c in outside]} lies outside the sampled "
            "sizes (or the profile opens downwards), so it cannot be located; " + "; ".join(bounds)
        )
    elif len(profiles) < 3:
        why = f"{len(profiles)} budgets; at least 3 are needed"
    return profiles, seeds, why


def _relabel(rows: pd.DataFrame, budget: float, n_opt: float, n: str, other: str) -> float:
    """The `other` count of the (fictitious) size whose `n` count is n_opt: interpolated in
    log-log between the budget's sampled sizes."""
    g = rows[rows["C_budget"] == budget].sort_values(n)
    return math.exp(np.interp(math.log(n_opt), np.log(g[n]), np.log(g[other])))


def isoflop_exponent(rows: pd.DataFrame, n: str = "N_total", also: str = "N") -> Measurement:
    """a in N_opt ∝ C^a from the vertices of the IsoFLOP parabolas in log `n`; the details
    also give a with the optima relabelled in the `also` count (same vertices)."""
    profiles, seeds, why = _optima(rows, n)
    details: dict[str, Any] = {"profiles": _profile_details(profiles), "count": n}
    if why:
        return Measurement(None, seeds, why, details)
    C = [p["C"] for p in profiles]
    n_opt = [p["fit"].n_opt for p in profiles]
    e = fit_exponent(C, n_opt)
    other = [_relabel(rows, c, v, n, also) for c, v in zip(C, n_opt, strict=True)]
    e_other = fit_exponent(C, other)
    details.update(
        {
            "a": e.a,
            "a_se": e.a_se,
            "k": e.k,
            "r2": e.r2,
            f"a_{also}": e_other.a,
            f"n_opt_{also}": other,
        }
    )
    # the slope's interval through n vertices (n - 2 degrees of freedom); none through two
    interval = t_interval(e.a, e.a_se, e.n - 2) if e.n > 2 and math.isfinite(e.a_se) else None
    return Measurement(
        e.a,
        seeds,
        f"a = {e.a:.3f} ± {e.a_se:.3f} (SE) from {len(C)} budgets {C[0]:.0e}–{C[-1]:.0e}; "
        f"{n}_opt {', '.join(f'{v:.3g}' for v in n_opt)}; the same optima counted as {also}: "
        f"a = {e_other.a:.3f}",
        details,
        interval=interval,
    )


def allocation_balance(rows: pd.DataFrame, n: str = "N_total") -> Measurement:
    """|b − a| for N_opt ∝ C^a and D_opt ∝ C^b at the IsoFLOP optima: 0 when tokens per
    parameter stay constant as compute grows (Chinchilla's a ≈ b ≈ 0.5). With D_opt =
    C / (6·N_opt) exactly, b = 1 − a and |b − a| = |1 − 2a|."""
    m = isoflop_exponent(rows, n)
    if m.value is None:
        return m
    C = [p["C"] for p in m.details["profiles"]]
    d_opt = [c / 6 / p["n_opt"] for c, p in zip(C, m.details["profiles"], strict=True)]
    b = fit_exponent(C, d_opt).a
    value = abs(b - m.value)
    m.details.update({"b": b})
    interval = None
    if m.interval is not None:  # |b - a| = |1 - 2a| over a's interval
        lo, hi = (abs(1 - 2 * a) for a in m.interval)
        low = 0.0 if m.interval[0] <= 0.5 <= m.interval[1] else min(lo, hi)
        interval = (low, max(lo, hi))
    return Measurement(
        value,
        m.seeds,
        f"a = {m.value:.3f}, b = {b:.3f}: |b − a| = {value:.3f}",
        m.details,
        interval=interval,
    )


def tokens_per_param(
    rows: pd.DataFrame, n: str = "N_total", bytes_per_token: float = 4.0
) -> Measurement:
    """D_opt/N_opt at the IsoFLOP optima (geometric mean over budgets), in bytes per
    parameter; the details give it in token-equivalents (bytes / bytes_per_token) and with
    the optima counted without embeddings (Kaplan's N)."""
    profiles, seeds, why = _optima(rows, n)
    details: dict[str, Any] = {"profiles": _profile_details(profiles), "count": n}
    if why:
        return Measurement(None, seeds, why, details)
    per = [p["C"] / 6 / p["fit"].n_opt ** 2 for p in profiles]
    other = "N" if n == "N_total" else "N_total"
    per_other = [
        p["C"] / 6 / p["fit"].n_opt / _relabel(rows, p["C"], p["fit"].n_opt, n, other)
        for p in profiles
    ]
    geo = float(np.exp(np.mean(np.log(per))))
    details.update(
        {
            "bytes_per_param": per,
            "token_equivalents_per_param": [r / bytes_per_token for r in per],
            "bytes_per_token_assumed": bytes_per_token,
            f"bytes_per_param_{other}": per_other,
        }
    )
    return Measurement(
        geo,
        seeds,
        f"D/{n} at the optima {', '.join(f'{r:.3g}' for r in per)} bytes per parameter "
        f"(geometric mean {geo:.3g}; ≈{geo / bytes_per_token:.3g} tokens at "
        f"{bytes_per_token:g} bytes per token); per {other}: "
        f"{', '.join(f'{r:.3g}' for r in per_other)}",
        details,
    )


def lm_rows(rows: pd.DataFrame) -> pd.DataFrame:
    ok = rows[(rows["status"] == "completed")].dropna(subset=["N", "D", "loss"])
    return ok


def parametric_a(rows: pd.DataFrame, n: str = "N_total") -> Measurement:
    ok = lm_rows(rows)
    seeds = sorted({int(s) for s in ok["seed"]})
    if len(ok) < 8:
        return Measurement(None, seeds, f"{len(ok)} runs; approach 3 needs at least 8")
    f = fit_parametric(ok[n], ok["D"], ok["loss"])
    resid = np.log(ok["loss"]) - np.log(f.predict(ok[n], ok["D"]))
    return Measurement(
        f.a,
        seeds,
        f"E {f.E:.3g}, A {f.A:.3g}, B {f.B:.3g}, α {f.alpha:.3g}, β {f.beta:.3g}: a = {f.a:.3f}; "
        f"rms log residual {float(np.sqrt(np.mean(resid**2))):.3g} over {len(ok)} runs",
        {
            "E": f.E,
            "A": f.A,
            "B": f.B,
            "alpha": f.alpha,
            "beta": f.beta,
            "n_runs": len(ok),
            "count": n,
        },
    )


def lr_sensitivity(
    rows: pd.DataFrame, base_sweep: str, check_sweep: str, n: str = "N_total"
) -> Measurement:
    """The largest loss any size of `base_sweep` gains (base loss − best loss) from the other
    peak learning rates `check_sweep` tried on it; the details compare the IsoFLOP vertex with
    each size at its grid rate and at its best rate."""
    base = rows[(rows["sweep"] == base_sweep) & (rows["status"] == "completed")]
    check = rows[(rows["sweep"] == check_sweep) & (rows["status"] == "completed")]
    if base.empty or check.empty:
        return Measurement(None, reason=f"need completed runs of {base_sweep} and {check_sweep}")
    gains, best_loss = {}, {}
    for size, g in base.groupby(n):
        others = check[check[n] == size]
        own = float(g["loss"].mean())
        best_loss[size] = min([own, *others["loss"].astype(float)])
        if len(others):
            gains[float(size)] = own - float(others["loss"].min())
    if not gains:
        return Measurement(None, reason=f"{check_sweep} tried no size of {base_sweep}")
    details: dict[str, Any] = {"gain_per_size": gains}
    sizes = np.array(sorted(best_loss))
    if len(sizes) >= 3:
        grid_fit = fit_isoflop(*points(base, n, "loss")[:2])
        best_fit = fit_isoflop(sizes, np.array([best_loss[k] for k in sizes]))
        details.update(vertex_grid_rate=grid_fit.n_opt, vertex_best_rate=best_fit.n_opt)
    worst = max(gains, key=lambda k: gains[k])
    return Measurement(
        gains[worst],
        sorted(int(x) for x in base["seed"].unique()),
        f"largest gain from another rate: {gains[worst]:.4f} nats at {n} = {worst:.3g}",
        details,
    )


MEASURES = {
    "power_law_r2": power_law_r2,
    "power_law_exponent": power_law_exponent,
    "monotone_fraction": monotone_fraction,
    "isoflop_u_fraction": isoflop_u_fraction,
    "isoflop_exponent": isoflop_exponent,
    "allocation_balance": allocation_balance,
    "tokens_per_param": tokens_per_param,
    "parametric_a": parametric_a,
    "lr_sensitivity": lr_sensitivity,
}
