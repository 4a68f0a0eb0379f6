"""Grokking's claim measures: each turns the summary rows of a claim's sweeps into one number."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dlrepro.claims import Measurement, median_over_seeds
from dlrepro.longform import over_seeds, series


def _per_seed(rows: pd.DataFrame, column: str) -> dict[int, float | None]:
    return {int(r.seed): getattr(r, column) for r in rows.itertuples()}


def median_of(rows: pd.DataFrame, column: str) -> Measurement:
    """The median over seeds of one summary column (inconclusive if a seed lacks it)."""
    return median_over_seeds(_per_seed(rows, column), column)


def val_acc_within(
    rows: pd.DataFrame,
    metrics: pd.DataFrame,
    sweep: str,
    reference_sweep: str,
    factor: float,
) -> Measurement:
    """Best val accuracy of `sweep` within `factor` × the reference sweep's median steps to
    99% val accuracy; inconclusive if its budget was shorter than that."""
    ref = median_of(rows[rows["sweep"] == reference_sweep], "steps_val_99")
    if ref.value is None:
        return Measurement(
            None, reason=f"the {reference_sweep} runs did not generalize: {ref.reason}"
        )
    horizon = factor * ref.value
    per_seed: dict[int, float | None] = {}
    for r in rows[rows["sweep"] == sweep].itertuples():
        if r.budget_steps < horizon:
            return Measurement(
                None,
                reason=f"{r.run_id} ran {r.budget_steps:.0f} steps < {factor}× {ref.value:.0f}",
            )
        acc = series(metrics, "val", "acc", run_id=r.run_id)
        per_seed[int(r.seed)] = float(acc[acc.index <= horizon].max())
    m = median_over_seeds(per_seed, "val accuracy")
    m.details.update(horizon_steps=horizon, reference_steps_val_99=ref.value)
    return m


def faster_with_more_data(rows: pd.DataFrame, param: str = "frac") -> Measurement:
    """Share of adjacent fraction pairs (ascending) where median steps to 99% val accuracy
    falls; a run that never generalized counts as slower than any that did."""
    never_last = rows.assign(steps_val_99=rows["steps_val_99"].fillna(math.inf))
    by_frac = over_seeds(never_last, "steps_val_99", by=param)
    if len(by_frac) < 3:
        return Measurement(None, reason=f"{len(by_frac)} fractions run, 3 needed")
    t = by_frac.to_numpy()
    if np.isinf(t).all():
        return Measurement(None, reason="no fraction reached 99% validation accuracy")
    falls = [bool(b < a) for a, b in zip(t[:-1], t[1:], strict=True)]
    return Measurement(
        sum(falls) / len(falls),
        seeds=sorted(set(rows["seed"].astype(int))),
        details={"median_steps_val_99": {str(k): v for k, v in by_frac.items()}},
    )


MEASURES = {
    "median_of": median_of,
    "val_acc_within": val_acc_within,
    "faster_with_more_data": faster_with_more_data,
}
