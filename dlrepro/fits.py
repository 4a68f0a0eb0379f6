"""Scaling-law fits: power laws (with and without a constant), IsoFLOP optima, Chinchilla's form.

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


def _as_pos(x: Any, name: str) -> np.ndarray:
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
    x, y = _as_pos(x, "x"), _as_pos(y, "y")
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
    t = stats.t.ppf(0.975, dof)
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
        alpha_ci=(alpha - t * alpha_se, alpha + t * alpha_se),
        x_ref=x_ref,
        cov=cov,
        rmse_log=float(np.sqrt(np.mean((ly - np.log(yhat)) ** 2))),
    )


def is_monotone_decreasing(x: Any, y: Any) -> bool:
    """Whether y strictly falls as x rises (ties in x are averaged first)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xs = np.unique(x)
    ym = np.array([y[x == v].mean() for v in xs])
    return bool(np.all(np.diff(ym) < 0))


@dataclass
class IsoFlopFit:
    """A parabola in log10(N) through one IsoFLOP profile: L = c0 + c1·u + c2·u², u = log10 N."""

    coef: tuple[float, float, float]  # (c0, c1, c2)
    n_opt: float  # argmin of the parabola (nan if it opens downwards)
    loss_opt: float
    interior: bool  # the vertex lies inside the sampled range of N
    u_shaped: bool  # opens upwards, vertex interior, and the sampled minimum is not at an end
    r2: float
    n: int


def fit_isoflop(N: Any, L: Any) -> IsoFlopFit:
    """Fit a parabola in log N to the losses of one compute budget (Chinchilla approach 2)."""
    N, L = _as_pos(N, "N"), np.asarray(L, float)
    if N.size < 3 or np.unique(N).size < 3:
        raise ValueError(f"an IsoFLOP profile needs at least 3 distinct sizes, got {N.size}")
    u = np.log10(N)
    c2, c1, c0 = np.polyfit(u, L, 2)
    interior = False
    if c2 > 0:
        u_opt = -c1 / (2 * c2)
        n_opt, loss_opt = 10**u_opt, c0 + c1 * u_opt + c2 * u_opt**2
        interior = bool(u.min() < u_opt < u.max())
    else:
        n_opt = loss_opt = math.nan
    k = int(np.argmin(L))
    ends = {int(np.argmin(u)), int(np.argmax(u))}
    u_shaped = bool(c2 > 0 and interior and k not in ends)
    pred = c0 + c1 * u + c2 * u**2
    return IsoFlopFit(
        coef=(float(c0), float(c1), float(c2)),
        n_opt=float(n_opt),
        loss_opt=float(loss_opt),
        interior=interior,
        u_shaped=u_shaped,
        r2=r_squared(L, pred),
        n=int(N.size),
    )


@dataclass
class ExponentFit:
    """y = k · x^a fitted by least squares in log-log space, e.g. N_opt ∝ C^a."""

    a: float
    k: float
    a_se: float  # nan with only two points
    r2: float
    n: int

    def predict(self, x: Any) -> np.ndarray:
        return self.k * np.asarray(x, float) ** self.a


def fit_exponent(x: Any, y: Any) -> ExponentFit:
    x, y = _as_pos(x, "x"), _as_pos(y, "y")
    if x.size < 2:
        raise ValueError("need at least 2 points to fit an exponent")
    lx, ly = np.log(x), np.log(y)
    a, log_k = np.polyfit(lx, ly, 1)
    resid = ly - (log_k + a * lx)
    se = math.nan
    if x.size > 2:
        sxx = float(np.sum((lx - lx.mean()) ** 2))
        se = math.sqrt(float(np.sum(resid**2)) / (x.size - 2) / sxx)
    return ExponentFit(
        a=float(a),
        k=float(math.exp(log_k)),
        a_se=se,
        r2=r_squared(ly, log_k + a * lx) if x.size > 2 else 1.0,
        n=int(x.size),
    )


# -- Chinchilla approach 3: L(N, D) = E + A / N^alpha + B / D^beta ------------------------------


@dataclass
class ParametricFit:
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def predict(self, N: Any, D: Any) -> np.ndarray:
        N, D = np.asarray(N, float), np.asarray(D, float)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    @property
    def a(self) -> float:
        """N_opt ∝ C^a with a = β/(α+β) (Hoffmann et al. 2022, eq. 4)."""
        return self.beta / (self.alpha + self.beta)

    def n_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal N for C = 6ND (closed form, Hoffmann et al. 2022 eq. 4)."""
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        return G * (np.asarray(C, float) / 6) ** self.a

    def tokens_per_param(self, C: Any) -> np.ndarray:
        n = self.n_opt(C)
        return np.asarray(C, float) / 6 / n / n


CHINCHILLA = ParametricFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
BESIROGLU = ParametricFit(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


def fit_parametric(N: Any, D: Any, L: Any, delta: float = 1e-3) -> ParametricFit:
    """Approach 3: minimise the Huber loss of log L over a grid of starts (BFGS; the paper: L-BFGS).

    As in Hoffmann et al. (App. D.2), the model is log L = LSE(a - α log N, b - β log D, e)
    with A = e^a, B = e^b, E = e^e, and Huber δ = 1e-3.
    """
    N, D, L = _as_pos(N, "N"), _as_pos(D, "D"), _as_pos(L, "L")
    lN, lD, lL = np.log(N), np.log(D), np.log(L)

    def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
        a, b, e, al, be = p
        terms = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
        pred = np.logaddexp.reduce(terms, axis=0)
        w = np.exp(terms - pred)  # softmax weights: d pred / d (a, b, e)
        r = pred - lL
        hub = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
        dr = np.clip(r, -delta, delta)  # the Huber loss's derivative
        grad = np.array(
            [
                np.sum(dr * w[0]),
                np.sum(dr * w[1]),
                np.sum(dr * w[2]),
                np.sum(-dr * w[0] * lN),
                np.sum(-dr * w[1] * lD),
            ]
        )
        return float(np.sum(hub)), grad

    best = None
    # A grid of starts, as in Hoffmann et al.: the Huber objective has many local minima.
    for a0 in (0.0, 5.0, 10.0):
        for b0 in (0.0, 5.0, 10.0):
            for e0 in (-1.0, 0.5):
                for al0 in (0.2, 0.5):
                    for be0 in (0.2, 0.5):
                        r = optimize.minimize(
                            objective,
                            np.array([a0, b0, e0, al0, be0]),
                            jac=True,
                            method="BFGS",  # scipy 1.17 L-BFGS-B costs ~2 ms a step here
                        )
                        if best is None or r.fun < best.fun:
                            best = r
    a, b, e, al, be = best.x
    return ParametricFit(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=al, beta=be)
