"""Power-law fits (with and without a constant) with confidence bands, and R².

The fits specific to one finding (IsoFLOP parabolas, Chinchilla's parametric form) live with
that finding (reproductions/scaling/fits.py).

Conventions, chosen to match the papers and to make the fits well conditioned:

* Power laws are fitted to log(y), because losses spanning a decade should weigh equally in
  relative terms (Hoffmann et al. 2022 fit log-loss too). R² is therefore reported on log(y):
  1 - SS_res / SS_tot with both sums over log(y). For the narrow loss ranges of language models
  this differs from R² on y by well under 1%.
* x is divided by its geometric mean before fitting, so that A and α are not strongly
  correlated; the returned A is converted back to the original units.
* Confidence bands are pointwise, from the parameter covariance by the delta method, with
  Student-t quantiles on n - p degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats


def as_positive(x: Any, name: str) -> np.ndarray:
    """`x` as a flat float array; ValueError unless every value is finite and positive."""
    arr = np.asarray(x, dtype=float).ravel()
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr <= 0)):
        raise ValueError(f"{name} must be finite and positive, got {arr}")
    return arr


def r_squared(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Coefficient of determination; nan when y has no spread."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return math.nan
    return 1.0 - float(np.sum((y - y_hat) ** 2)) / ss_tot


@dataclass
class PowerLawFit:
    """y = E + A * x**(-alpha) (E = 0 for the pure power law), fitted on log(y)."""

    E: float
    A: float
    alpha: float
    r2: float  # on log(y)
    n: int
    with_constant: bool
    alpha_se: float  # standard error of alpha from the fit's covariance
    alpha_ci: tuple[float, float]  # 95% interval for alpha
    x_ref: float  # the geometric mean of x that the fit was done at
    cov: np.ndarray = field(repr=False)  # covariance of (log A_ref, alpha[, E]) at x_ref
    rmse_log: float = math.nan

    def predict(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return self.E + self.A * x ** (-self.alpha)

    def _params(self) -> np.ndarray:
        log_a_ref = math.log(self.A * self.x_ref ** (-self.alpha))
        base = [log_a_ref, self.alpha]
        return np.array(base + ([self.E] if self.with_constant else []))

    def band(self, x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence band for the fitted curve at `x` (delta method, on log y)."""
        x = np.asarray(x, dtype=float)
        p = self._params()
        dof = max(self.n - len(p), 1)
        t = stats.t.ppf(0.5 + level / 2, dof)
        u = np.log(x / self.x_ref)
        power = np.exp(p[0] - p[1] * u)  # A_ref * (x/x_ref)^-alpha
        y = (p[2] if self.with_constant else 0.0) + power
        # d log y / d params: the band is symmetric in log y, like the fit's residuals.
        cols = [power / y, -u * power / y]
        if self.with_constant:
            cols.append(1.0 / y)
        J = np.stack(cols, axis=-1)
        var = np.einsum("...i,ij,...j->...", J, self.cov, J)
        half = t * np.sqrt(np.clip(var, 0.0, None))
        return y * np.exp(-half), y * np.exp(half)

    def as_dict(self) -> dict[str, float]:
        return {
            "E": self.E,
            "A": self.A,
            "alpha": self.alpha,
            "alpha_se": self.alpha_se,
            "alpha_ci_low": self.alpha_ci[0],
            "alpha_ci_high": self.alpha_ci[1],
            "r2": self.r2,
            "n": self.n,
            "with_constant": self.with_constant,
        }


def fit_power_law(x: Any, y: Any, constant: bool = True) -> PowerLawFit:
    """Fit y = E + A·x^(-α) (constant=True) or y = A·x^(-α) to positive data.

    With a constant, E is searched on a grid in [0, min(y)) with the power law fitted linearly
    in log-log space at each E, then refined by nonlinear least squares; this finds the global
    optimum on the small, noisy sets that scaling studies produce, where a single local start
    often does not. E is kept in [0, min(y)): a loss floor above the smallest loss seen is
    impossible, and a negative one meaningless.
    """
    x, y = as_positive(x, "x"), as_positive(y, "y")
    n_params = 3 if constant else 2
    if x.size != y.size or x.size < n_params + 1:
        raise ValueError(f"need at least {n_params + 1} points of (x, y), got {x.size}")
    x_ref = float(np.exp(np.mean(np.log(x))))
    u, ly = np.log(x / x_ref), np.log(y)

    def loglin(e: float) -> tuple[float, float, float]:
        slope, icpt = np.polyfit(u, np.log(y - e), 1)
        pred = np.log(e + np.exp(icpt + slope * u))
        return float(np.sum((ly - pred) ** 2)), float(icpt), float(-slope)

    if not constant:
        _, log_a, alpha = loglin(0.0)
        p = np.array([log_a, alpha])
        resid = ly - (log_a - alpha * u)
        X = np.stack([np.ones_like(u), -u], axis=1)
    else:
        ymin = float(y.min())
        grid = ymin * (1 - np.geomspace(1.0, 1e-4, 200))  # dense near min(y), where E often is
        best = min((loglin(e) + (e,) for e in grid), key=lambda r: r[0])
        p0 = np.array([best[1], best[2], best[3]])

        def resid_fn(p: np.ndarray) -> np.ndarray:
            return ly - np.log(p[2] + np.exp(p[0] - p[1] * u))

        upper_e = ymin * (1 - 1e-9)
        res = optimize.least_squares(
            resid_fn,
            p0,
            bounds=([-np.inf, -10.0, 0.0], [np.inf, 10.0, upper_e]),
            method="trf",
            x_scale="jac",
        )
        p = res.x if res.cost * 2 <= best[0] else p0
        resid = resid_fn(p)
        power = np.exp(p[0] - p[1] * u)
        yhat = p[2] + power
        X = np.stack([power / yhat, -u * power / yhat, 1.0 / yhat], axis=1)

    dof = max(x.size - n_params, 1)
    s2 = float(np.sum(resid**2)) / dof
    cov = s2 * np.linalg.pinv(X.T @ X)
    alpha_se = math.sqrt(max(cov[1, 1], 0.0))
    E = float(p[2]) if constant else 0.0
    alpha = float(p[1])
    A = float(math.exp(p[0]) * x_ref**alpha)
    yhat = E + A * x ** (-alpha)
    return PowerLawFit(
        E=E,
        A=A,
        alpha=alpha,
        r2=r_squared(ly, np.log(yhat)),
        n=int(x.size),
        with_constant=constant,
        alpha_se=alpha_se,
        alpha_ci=t_interval(alpha, alpha_se, dof),
        x_ref=x_ref,
        cov=cov,
        rmse_log=float(np.sqrt(np.mean((ly - np.log(yhat)) ** 2))),
    )


def t_interval(value: float, se: float, dof: int, level: float = 0.95) -> tuple[float, float]:
    """A fitted parameter's confidence interval: value ± t(level, dof) standard errors."""
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return (value - half, value + half)


def is_monotone_decreasing(x: Any, y: Any) -> bool:
    """Whether y strictly falls as x rises (ties in x are averaged first)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xs = np.unique(x)
    ym = np.array([y[x == v].mean() for v in xs])
    return bool(np.all(np.diff(ym) < 0))
