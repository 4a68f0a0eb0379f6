"""The power-law fits recover known exponents from synthetic data (dlrepro/fits.py)."""

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
