"""The scaling-law fits recover known exponents from synthetic data (dlrepro/fits.py)."""

import numpy as np
import pytest

from dlrepro import fits


def noisy(y: np.ndarray, rel: float, seed: int = 0) -> np.ndarray:
    return y * np.exp(np.random.default_rng(seed).normal(0, rel, y.shape))


def test_power_law_plus_constant_recovers_parameters():
    N = np.geomspace(1e3, 1e6, 8)
    L = noisy(1.5 + 40.0 * N**-0.35, 0.003)
    fit = fits.fit_power_law(N, L, constant=True)
    assert fit.alpha == pytest.approx(0.35, abs=0.05)
    assert pytest.approx(1.5, abs=0.1) == fit.E
    assert fit.r2 > 0.99
    assert fit.alpha_ci[0] < 0.35 < fit.alpha_ci[1]


def test_pure_power_law_is_exact_on_exact_data():
    D = np.geomspace(1e5, 1e8, 6)
    fit = fits.fit_power_law(D, (5.4e13 / D) ** 0.095, constant=False)  # Kaplan's L(D)
    assert fit.E == 0.0
    assert fit.alpha == pytest.approx(0.095, rel=1e-9)
    assert pytest.approx(5.4e13**0.095, rel=1e-6) == fit.A
    assert fit.r2 == pytest.approx(1.0)


def test_band_contains_truth_and_widens_outside_the_data():
    N = np.geomspace(1e4, 1e6, 7)
    fit = fits.fit_power_law(N, noisy(2.0 + 30.0 * N**-0.3, 0.01, seed=3))
    lo, hi = fit.band(N)
    truth = 2.0 + 30.0 * N**-0.3
    assert np.all(lo <= fit.predict(N)) and np.all(fit.predict(N) <= hi)
    assert np.mean((lo <= truth) & (truth <= hi)) >= 0.7
    lo_out, hi_out = fit.band([1e8])
    assert (hi_out - lo_out)[0] / fit.predict([1e8])[0] > ((hi - lo) / fit.predict(N)).mean()


def test_power_law_rejects_bad_input():
    with pytest.raises(ValueError):
        fits.fit_power_law([1, 2, 3], [1, 1, 1], constant=True)  # 3 points, 3 parameters
    with pytest.raises(ValueError):
        fits.fit_power_law([1, 2, 3, 4], [1, -1, 1, 1])


def test_monotone():
    assert fits.is_monotone_decreasing([1, 2, 3], [3.0, 2.0, 1.0])
    assert not fits.is_monotone_decreasing([1, 2, 3], [3.0, 2.0, 2.5])


def test_isoflop_parabola_finds_the_optimum():
    N = np.geomspace(1e4, 1e6, 5)
    L = 2.0 + 0.3 * (np.log10(N) - np.log10(8e4)) ** 2
    f = fits.fit_isoflop(N, L)
    assert f.n_opt == pytest.approx(8e4, rel=1e-6)
    assert f.loss_opt == pytest.approx(2.0)
    assert f.u_shaped and f.interior


def test_isoflop_monotone_profile_is_not_u_shaped():
    N = np.geomspace(1e4, 1e6, 5)
    f = fits.fit_isoflop(N, 3.0 - 0.1 * np.log10(N) + 0.001 * np.log10(N) ** 2)
    assert not f.u_shaped  # the fitted vertex lies far outside the sampled sizes


def test_nopt_exponent_from_isoflop_profiles():
    """Profiles generated from a known N_opt ∝ C^0.5 give a = 0.5 back."""
    budgets = [1e11, 1e12, 1e13]
    n_opts = []
    for C in budgets:
        true_opt = 0.09 * C**0.5
        N = true_opt * np.geomspace(0.1, 10, 5)
        n_opts.append(fits.fit_isoflop(N, 2 + 0.2 * np.log10(N / true_opt) ** 2).n_opt)
    e = fits.fit_exponent(budgets, n_opts)
    assert e.a == pytest.approx(0.5, abs=1e-6)
    assert e.k == pytest.approx(0.09, rel=1e-4)


def test_parametric_fit_recovers_chinchilla_like_law():
    truth = fits.ParametricFit(E=1.8, A=400.0, B=800.0, alpha=0.35, beta=0.3)
    N = np.repeat(np.geomspace(1e4, 1e7, 6), 5)
    D = np.tile(np.geomspace(1e6, 1e9, 5), 6)
    got = fits.fit_parametric(N, D, truth.predict(N, D))
    assert got.alpha == pytest.approx(0.35, abs=0.03)
    assert got.beta == pytest.approx(0.3, abs=0.03)
    assert got.a == pytest.approx(truth.a, abs=0.03)


def test_published_constants_imply_their_exponents():
    assert fits.CHINCHILLA.a == pytest.approx(0.45, abs=0.01)  # β/(α+β) = 0.28/0.62
    assert fits.BESIROGLU.a == pytest.approx(0.5126, abs=1e-3)
    # Besiroglu's refit puts the optimum near Chinchilla's 20 tokens per parameter.
    assert 10 < fits.BESIROGLU.tokens_per_param(5.76e23) < 40
