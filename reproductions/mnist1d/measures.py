"""MNIST-1D benchmark measures: final test accuracy, and its change when the 40 positions of
every sequence are shuffled by one fixed permutation. Accuracies are in percent, as published."""

from __future__ import annotations

import pandas as pd

from dlrepro.claims import Measurement, median_over_seeds

PCT = 100.0


def _per_seed(rows: pd.DataFrame, shuffled: bool) -> dict[int, float | None]:
    sub = rows[rows["shuffle"] == shuffled]
    return {int(r.seed): PCT * float(r.test_acc) for r in sub.itertuples()}


def test_accuracy(rows: pd.DataFrame, shuffled: bool = False) -> Measurement:
    """Median over seeds of the final test accuracy (%) on the original (or shuffled) data."""
    per_seed = _per_seed(rows, shuffled)
    if not per_seed:
        return Measurement(None, reason=f"no runs with shuffle={shuffled}")
    return median_over_seeds(per_seed, "test accuracy")


def shuffle_drop(rows: pd.DataFrame) -> Measurement:
    """Median over seeds of (original − shuffled) final test accuracy, in points, paired by
    seed (the same seed gives the same initialization and batch order in both runs)."""
    original, shuffled = _per_seed(rows, False), _per_seed(rows, True)
    paired = sorted(set(original) & set(shuffled))
    if not paired:
        return Measurement(None, reason="no seed has both an original and a shuffled run")
    per_seed: dict[int, float | None] = {s: original[s] - shuffled[s] for s in paired}
    m = median_over_seeds(per_seed, "accuracy drop")
    m.details.update(original=original, shuffled=shuffled)
    return m


MEASURES = {"test_accuracy": test_accuracy, "shuffle_drop": shuffle_drop}
