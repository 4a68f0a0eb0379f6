"""Double descent's claim measures, built on one peak finder.

`find_peak` reads one test-error-vs-width curve (one seed of one sweep) the way the claims
state it:

1. the interpolation threshold is the narrowest width whose final training error (on the
   labels it was trained on, noisy ones included) is at most `interp_error`;
2. the peak is the highest *interior* local maximum of the test error among widths within a
   factor `window` of that threshold (a point at either end of the sweep is not a peak: a
   curve that only falls has none);
3. its rise is the peak minus the lowest test error at any narrower width, its fall the peak
   minus the test error of the widest model.

A curve without such a local maximum has rise and fall 0 (no peak: a plateau or a monotone
curve), which fails a "peak of at least ..." claim and passes a "peak of at most ..." one. A
sweep in which no width interpolates has no threshold: the claim is then inconclusive, since
the peak would lie beyond the sweep.

Errors are fractions in the summary rows; the measures report percentage points, as the
papers do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from dlrepro.claims import Measurement, median_over_seeds

PTS = 100.0  # fractions -> percentage points


@dataclass(frozen=True)
class Peak:
    """What `find_peak` found on one curve (errors as fractions, widths as swept)."""

    threshold_width: float  # first width with train error <= interp_error
    peak_width: float | None  # None: no local maximum near the threshold
    peak_error: float | None
    premin_width: float | None  # the narrower width with the lowest test error
    premin_error: float | None
    widest_width: float
    widest_error: float
    rise: float  # peak - premin (0 without a peak)
    fall: float  # peak - widest (0 without a peak)


def find_peak(
    widths: list[float] | np.ndarray,
    test_error: list[float] | np.ndarray,
    train_error: list[float] | np.ndarray,
    interp_error: float = 0.01,
    window: float = 2.0,
) -> Peak | None:
    """The double-descent peak of one curve (see the module docstring); None when no width
    reaches `interp_error` training error."""
    order = np.argsort(np.asarray(widths, dtype=float))
    w = np.asarray(widths, dtype=float)[order]
    test = np.asarray(test_error, dtype=float)[order]
    train = np.asarray(train_error, dtype=float)[order]
    if len(w) != len(set(w)):
        raise ValueError(f"widths repeat: {sorted(w)}; pass one curve (one seed) at a time")
    fitted = np.flatnonzero(train <= interp_error)
    if len(fitted) == 0:
        return None
    threshold = float(w[fitted[0]])
    candidates = [
        i
        for i in range(1, len(w) - 1)
        if threshold / window <= w[i] <= threshold * window
        and test[i] >= test[i - 1]
        and test[i] >= test[i + 1]
    ]
    widest = (float(w[-1]), float(test[-1]))
    if not candidates:
        return Peak(threshold, None, None, None, None, *widest, rise=0.0, fall=0.0)
    i = max(candidates, key=lambda k: (test[k], -k))  # the highest; the narrower on a tie
    j = int(np.argmin(test[:i]))
    return Peak(
        threshold_width=threshold,
        peak_width=float(w[i]),
        peak_error=float(test[i]),
        premin_width=float(w[j]),
        premin_error=float(test[j]),
        widest_width=widest[0],
        widest_error=widest[1],
        rise=float(test[i] - test[j]),
        fall=float(test[i] - widest[1]),
    )


def peaks_per_seed(
    rows: pd.DataFrame, param: str, interp_error: float, window: float
) -> dict[int, Peak | None]:
    """`find_peak` on each seed's curve of `param` (width or channels) vs final errors."""
    out: dict[int, Peak | None] = {}
    for seed, curve in rows.groupby("seed"):
        out[int(seed)] = find_peak(
            curve[param].to_numpy(),
            curve["test_error"].to_numpy(),
            curve["train_error"].to_numpy(),
            interp_error,
            window,
        )
    return out


def _peak_measure(
    rows: pd.DataFrame, what: str, param: str, interp_error: float, window: float
) -> Measurement:
    peaks = peaks_per_seed(rows, param, interp_error, window)
    per_seed = {s: None if p is None else PTS * getattr(p, what) for s, p in peaks.items()}
    m = median_over_seeds(per_seed, f"the interpolation threshold (train error <= {interp_error})")
    m.details["peaks"] = {s: None if p is None else asdict(p) for s, p in peaks.items()}
    if m.value is not None:
        found = [p for p in peaks.values() if p is not None and p.peak_width is not None]
        if not found:
            m.reason = "no local maximum of the test error near the interpolation threshold"
        else:
            p = found[0]
            m.reason = (
                f"seed {min(peaks)}: threshold at {param} {p.threshold_width:g}, peak "
                f"{PTS * p.peak_error:.2f}% at {p.peak_width:g}, lowest narrower "
                f"{PTS * p.premin_error:.2f}% at {p.premin_width:g}, widest "
                f"{PTS * p.widest_error:.2f}% at {p.widest_width:g}"
            )
    return m


def peak_rise(
    rows: pd.DataFrame, param: str = "width", interp_error: float = 0.01, window: float = 2.0
) -> Measurement:
    """Median over seeds of the peak's height above the lowest narrower model (points)."""
    return _peak_measure(rows, "rise", param, interp_error, window)


def peak_fall(
    rows: pd.DataFrame, param: str = "width", interp_error: float = 0.01, window: float = 2.0
) -> Measurement:
    """Median over seeds of the peak's height above the widest model (points)."""
    return _peak_measure(rows, "fall", param, interp_error, window)


def peak_params_per_example(
    rows: pd.DataFrame,
    param: str = "width",
    interp_error: float = 0.01,
    window: float = 2.0,
) -> Measurement:
    """Parameters of the peak model divided by the number of training examples (median over
    seeds); Belkin et al. place the peak where the two are comparable."""
    peaks = peaks_per_seed(rows, param, interp_error, window)
    per_seed: dict[int, float | None] = {}
    for seed, p in peaks.items():
        if p is None or p.peak_width is None:
            per_seed[seed] = None
            continue
        at = rows[(rows["seed"] == seed) & (rows[param] == p.peak_width)].iloc[0]
        per_seed[seed] = float(at["n_params"]) / float(at["n_train"])
    m = median_over_seeds(per_seed, "a peak near the interpolation threshold")
    m.details["peaks"] = {s: None if p is None else asdict(p) for s, p in peaks.items()}
    return m


MEASURES = {
    "peak_rise": peak_rise,
    "peak_fall": peak_fall,
    "peak_params_per_example": peak_params_per_example,
}
