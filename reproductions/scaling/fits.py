"""The scaling finding's own fits: IsoFLOP parabolas (Chinchilla approach 2), the exponent of
N_opt ∝ C^a, and the parametric law L(N, D) = E + A/N^α + B/D^β (approach 3).

The generic power-law fits are the engine's (dlrepro.fits); the papers' constants are rows of
reference.csv, read by `published_fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from dlrepro.fits import as_positive, r_squared
from dlrepro.longform import reference_value


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
    N, L = as_positive(N, "N"), np.asarray(L, float)
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
    x, y = as_positive(x, "x"), as_positive(y, "y")
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


def published_fit(reference: pd.DataFrame, prefix: str) -> ParametricFit:
    """A published approach-3 law from reference.csv: the rows `<prefix>_E`, `_A`, `_B`,
    `_alpha`, `_beta` (e.g. prefix `approach3` for Hoffmann et al., `besiroglu`)."""
    return ParametricFit(
        **{k: reference_value(reference, f"{prefix}_{k}") for k in ("E", "A", "B", "alpha", "beta")}
    )


def fit_parametric(N: Any, D: Any, L: Any, delta: float = 1e-3) -> ParametricFit:
    """Approach 3: minimise the Huber loss of log L over a grid of starts (BFGS; the paper: L-BFGS).

    As in Hoffmann et al. (App. D.2), the model is log L = LSE(a - α log N, b - β log D, e)
    with A = e^a, B = e^b, E = e^e, and Huber δ = 1e-3.
    """
    N, D, L = as_positive(N, "N"), as_positive(D, "D"), as_positive(L, "L")
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
