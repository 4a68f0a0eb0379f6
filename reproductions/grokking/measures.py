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


def speedup_over(
    rows: pd.DataFrame, sweep: str, reference_sweeps: list[str], decisive_above: float
) -> Measurement:
    """How many times longer `sweep` takes to reach 99% validation accuracy than the median
    of the `reference_sweeps`' seeds (median over `sweep`'s seeds).

    A run of `sweep` that never got there within its budget bounds its factor from below
    (budget / reference steps), so the median is then a lower bound too. It is the value
    when it is exact (the censored seeds cannot move it) or when even the bound is at least
    `decisive_above` (the claim holds whatever the true factor); otherwise the claim is
    inconclusive: the budget was too short to say.
    """
    ref = median_of(rows[rows["sweep"].isin(reference_sweeps)], "steps_val_99")
    reference = "+".join(reference_sweeps)
    if ref.value is None:
        return Measurement(None, reason=f"the {reference} runs did not generalize: {ref.reason}")
    bound: dict[int, float] = {}
    censored: dict[int, str] = {}
    for r in rows[rows["sweep"] == sweep].itertuples():
        reached = not math.isnan(r.steps_val_99)
        bound[int(r.seed)] = (r.steps_val_99 if reached else r.budget_steps) / ref.value
        if not reached:
            censored[int(r.seed)] = r.run_id
    if not bound:
        return Measurement(None, reason=f"no {sweep} runs")
    value = float(np.median(list(bound.values())))
    exact = value == float(np.median([math.inf if k in censored else v for k, v in bound.items()]))
    details = {
        "factor_per_seed": bound,
        "reference_steps_val_99": ref.value,
        "never_reached_99": sorted(censored.values()),
    }
    if not exact and value < decisive_above:
        return Measurement(
            None,
            reason=f"{', '.join(sorted(censored.values()))} did not reach 99% validation "
            f"accuracy within the budget; the factor is only known to exceed {value:.3g} "
            f"(< {decisive_above:g})",
            details=details,
        )
    how = "" if exact else "at least (a budget bound) "
    return Measurement(
        value,
        reason=f"{sweep} takes {how}{value:.3g}× the {reference} median "
        f"({ref.value:.0f} steps) to reach 99% validation accuracy",
        details=details,
    )


def norm_fall_vs(
    rows: pd.DataFrame, metrics: pd.DataFrame, sweeps: list[str], control: str
) -> Measurement:
    """Fall of the weight norm over the memorization-to-generalization window of the
    `sweeps`' runs (train 99% -> val 99%, median over seeds), minus the fall of the `control`
    run's norm over the same steps (the median window; negative fall: the norm rose).

    Positive: the norm falls more while the network generalizes than it does, over the same
    steps, without the regularizer.
    """
    main = rows[rows["sweep"].isin(sweeps)]
    windows = main[["steps_train_99", "steps_val_99"]].dropna()
    sweep = "+".join(sweeps)
    if windows.empty:
        return Measurement(None, reason=f"no {sweep} run reached 99% train and val accuracy")
    fall = median_of(main, "norm_window_fall")
    if fall.value is None:
        return fall
    start, end = float(windows["steps_train_99"].median()), float(windows["steps_val_99"].median())
    control_fall: dict[int, float] = {}
    for r in rows[rows["sweep"] == control].itertuples():
        norm = series(metrics, "model", "weight_norm", run_id=r.run_id)
        if norm.index.max() < end:
            return Measurement(
                None, reason=f"{r.run_id} stopped at step {norm.index.max():.0f} < {end:.0f}"
            )
        control_fall[int(r.seed)] = 1 - _logged_at(norm, end) / _logged_at(norm, start)
    if not control_fall:
        return Measurement(None, reason=f"no {control} runs")
    other = float(np.median(list(control_fall.values())))
    assert fall.per_seed is not None  # median_of sets it
    return Measurement(
        fall.value - other,
        reason=f"norm fell {fall.value:.1%} from train-99% to val-99% with {sweep} "
        f"(median); {other:+.1%} fall over steps {start:.0f}-{end:.0f} in {control}",
        details={
            f"{sweep}_fall_per_seed": fall.per_seed,
            f"{control}_fall_per_seed": control_fall,
            "window_steps": [start, end],
        },
        # each seed's fall against the control's median (the control runs one seed)
        per_seed={s: f - other for s, f in fall.per_seed.items()},
    )


def _logged_at(values: pd.Series, step: float) -> float:
    """The value logged at `step` or the last one before it."""
    return float(values.loc[:step].iloc[-1])


def grokking_delay(rows: pd.DataFrame, val_column: str, train_column: str) -> Measurement:
    """Median over seeds of (steps to the validation level) / (steps to 99% training accuracy).

    A run that never reached the validation level within its budget did not grok there: it
    counts as 0 (only a budget long enough for the claim should be declared). A run that
    never fit its training set is inconclusive.
    """
    per_seed: dict[int, float] = {}
    never: list[str] = []
    for r in rows.itertuples():
        t_val, t_train = getattr(r, val_column), getattr(r, train_column)
        if math.isnan(t_train):
            return Measurement(None, reason=f"{r.run_id} never reached 99% train accuracy")
        if math.isnan(t_val):
            never.append(r.run_id)
            per_seed[int(r.seed)] = 0.0
        else:
            per_seed[int(r.seed)] = t_val / t_train
    if not per_seed:
        return Measurement(None, reason="no runs")
    value = float(np.median(list(per_seed.values())))
    note = f"; never generalized within the budget (counted 0): {never}" if never else ""
    return Measurement(
        value,
        reason=f"{val_column} / {train_column}, median {value:.3g}{note}",
        details={"never_generalized": never},
        per_seed=per_seed,
    )


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
    # The seeds every fraction ran (not their union): what the medians actually rest on.
    per_frac = [set(g["seed"].astype(int)) for _, g in rows.groupby(param)]
    # Over the seeds that generalized (NaN where none did).
    spread = rows.groupby(param)["steps_val_99"].agg(lambda v: float(v.max() - v.min()))
    return Measurement(
        sum(falls) / len(falls),
        seeds=sorted(set.intersection(*per_frac)),
        details={
            "median_steps_val_99": {str(k): v for k, v in by_frac.items()},
            "seed_spread_steps_val_99": {str(k): v for k, v in spread.items()},
        },
    )


MEASURES = {
    "median_of": median_of,
    "speedup_over": speedup_over,
    "norm_fall_vs": norm_fall_vs,
    "grokking_delay": grokking_delay,
    "faster_with_more_data": faster_with_more_data,
}
