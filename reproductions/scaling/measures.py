"""The scaling reproduction's claim measures: power-law fits, IsoFLOP optima, approach 3."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dlrepro.claims import Measurement
from dlrepro.fits import PowerLawFit, fit_power_law, is_monotone_decreasing
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
    return Measurement(d["alpha"], m.seeds, reason, m.details)


def monotone_fraction(rows: pd.DataFrame, x: str, y: str) -> Measurement:
    """The fraction of successive x values at which y is lower than at the previous one."""
    X, Y, seeds = points(rows, x, y)
    if len(X) < 2:
        return Measurement(None, seeds, f"{len(X)} distinct {x} values")
    falls = np.diff(Y) < 0
    bad = [f"{X[i]:.3g}→{X[i + 1]:.3g}" for i in np.flatnonzero(~falls)]
    reason = f"{int(falls.sum())} of {len(falls)} steps fall" + (f"; rises at {bad}" if bad else "")
    return Measurement(float(falls.mean()), seeds, reason, {"x": X.tolist(), "y": Y.tolist()})


def isoflop_profiles(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One fitted parabola per compute budget (C_budget), smallest budget first."""
    out = []
    for budget, g in rows.groupby("C_budget"):
        N, L, _ = points(g, "N", "loss")
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


def isoflop_u_fraction(rows: pd.DataFrame) -> Measurement:
    profiles = isoflop_profiles(rows)
    seeds = sorted({int(s) for s in rows["seed"]})
    if not profiles:
        return Measurement(None, seeds, "no IsoFLOP runs")
    u = [bool(p["fit"] is not None and p["fit"].u_shaped) for p in profiles]
    reason = f"{sum(u)} of {len(u)} budgets U-shaped; " + ", ".join(
        f"C={p['C']:.0e}: {'U' if ok else 'not U'}" for p, ok in zip(profiles, u, strict=True)
    )
    return Measurement(sum(u) / len(u), seeds, reason, {"profiles": _profile_details(profiles)})


def _optima(rows: pd.DataFrame) -> tuple[list[dict[str, Any]], list[int], str]:
    profiles = isoflop_profiles(rows)
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


def isoflop_exponent(rows: pd.DataFrame) -> Measurement:
    profiles, seeds, why = _optima(rows)
    details = {"profiles": _profile_details(profiles)}
    if why:
        return Measurement(None, seeds, why, details)
    C = [p["C"] for p in profiles]
    n_opt = [p["fit"].n_opt for p in profiles]
    e = fit_exponent(C, n_opt)
    details.update({"a": e.a, "a_se": e.a_se, "k": e.k, "r2": e.r2})
    return Measurement(
        e.a,
        seeds,
        f"a = {e.a:.3f} ± {e.a_se:.3f} (SE) from {len(C)} budgets {C[0]:.0e}–{C[-1]:.0e}; "
        f"N_opt {', '.join(f'{n:.3g}' for n in n_opt)}",
        details,
    )


def tokens_per_param(rows: pd.DataFrame) -> Measurement:
    profiles, seeds, why = _optima(rows)
    details: dict[str, Any] = {"profiles": _profile_details(profiles)}
    if why:
        return Measurement(None, seeds, why, details)
    per = [p["C"] / 6 / p["fit"].n_opt ** 2 for p in profiles]
    # The same ratio with all parameters counted (Chinchilla's N): embeddings of the run sizes
    # are interpolated in log N between the sampled shapes.
    total = []
    for p in profiles:
        g = rows[rows["C_budget"] == p["C"]].sort_values("N")
        emb = np.interp(math.log(p["fit"].n_opt), np.log(g["N"]), np.log(g["N_total"] - g["N"]))
        n_tot = p["fit"].n_opt + math.exp(emb)
        total.append(p["C"] / 6 / p["fit"].n_opt / n_tot)
    geo = float(np.exp(np.mean(np.log(per))))
    details.update({"per_budget": per, "per_budget_total_params": total})
    return Measurement(
        geo,
        seeds,
        f"D/N at the optima {', '.join(f'{r:.3g}' for r in per)} (geometric mean {geo:.3g}); "
        f"counting embeddings too: {', '.join(f'{r:.3g}' for r in total)}",
        details,
    )


def lm_rows(rows: pd.DataFrame) -> pd.DataFrame:
    ok = rows[(rows["status"] == "completed")].dropna(subset=["N", "D", "loss"])
    return ok


def parametric_a(rows: pd.DataFrame) -> Measurement:
    ok = lm_rows(rows)
    seeds = sorted({int(s) for s in ok["seed"]})
    if len(ok) < 8:
        return Measurement(None, seeds, f"{len(ok)} runs; approach 3 needs at least 8")
    f = fit_parametric(ok["N"], ok["D"], ok["loss"])
    resid = np.log(ok["loss"]) - np.log(f.predict(ok["N"], ok["D"]))
    return Measurement(
        f.a,
        seeds,
        f"E {f.E:.3g}, A {f.A:.3g}, B {f.B:.3g}, α {f.alpha:.3g}, β {f.beta:.3g}: a = {f.a:.3f}; "
        f"rms log residual {float(np.sqrt(np.mean(resid**2))):.3g} over {len(ok)} runs",
        {"E": f.E, "A": f.A, "B": f.B, "alpha": f.alpha, "beta": f.beta, "n_runs": len(ok)},
    )


MEASURES = {
    "power_law_r2": power_law_r2,
    "power_law_exponent": power_law_exponent,
    "monotone_fraction": monotone_fraction,
    "isoflop_u_fraction": isoflop_u_fraction,
    "isoflop_exponent": isoflop_exponent,
    "tokens_per_param": tokens_per_param,
    "parametric_a": parametric_a,
}
