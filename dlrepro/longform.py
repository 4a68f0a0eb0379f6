"""Reading the long tables: metrics, summary rows aggregated over seeds, reference points.

The metrics table has one row per logged value (run_id, step, epoch, split, metric, value, ...;
see dlrepro.tables). Summaries, measures and figures ask it the same few questions, answered
here once:

    series(metrics, "val", "acc")                  # values by step, sorted
    series(metrics, "train", "error", index="epoch", run_id="fig1-s0")
    first_step(metrics, "val", "acc", 0.99)        # first logged step with acc >= 0.99, or NaN
    first_step(metrics, "train", "error", 0.1, below=True, index="epoch")
    last_value(metrics, "final", "test_error")     # the value at the last logged step, or NaN
    over_seeds(rows, "test_error", by="method")    # median over seeds per method
    reference_value(reference, "alpha_N")          # a paper's number, from reference.csv

Pass one run's metrics, or name the run with `run_id`.
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd

from dlrepro.errors import UserError


def select(
    metrics: pd.DataFrame, split: str, metric: str, run_id: str | None = None
) -> pd.DataFrame:
    """The rows of one (split, metric) pair (of one run if `run_id`), in step order."""
    keep = (metrics["split"] == split) & (metrics["metric"] == metric)
    if run_id is not None:
        keep &= metrics["run_id"] == run_id
    return metrics[keep].sort_values("step", kind="stable")


def series(
    metrics: pd.DataFrame,
    split: str,
    metric: str,
    *,
    index: str = "step",
    run_id: str | None = None,
) -> pd.Series:
    """The values of one (split, metric) pair indexed by `index` (step or epoch), in step order."""
    rows = select(metrics, split, metric, run_id)
    return pd.Series(rows["value"].to_numpy(), index=rows[index].to_numpy(), name=metric)


def first_step(
    metrics: pd.DataFrame,
    split: str,
    metric: str,
    threshold: float,
    *,
    below: bool = False,
    index: str = "step",
    run_id: str | None = None,
) -> float:
    """The first logged `index` (step or epoch) at which the metric is ≥ threshold (≤ with
    `below`); NaN if it never gets there."""
    s = series(metrics, split, metric, index=index, run_id=run_id)
    hit = s[s <= threshold] if below else s[s >= threshold]
    return float(hit.index[0]) if len(hit) else math.nan


def last_value(metrics: pd.DataFrame, split: str, metric: str, run_id: str | None = None) -> float:
    """The value at the last logged step; NaN if the metric was never logged."""
    s = series(metrics, split, metric, run_id=run_id)
    return float(s.iloc[-1]) if len(s) else math.nan


def over_seeds(
    rows: pd.DataFrame,
    column: str,
    by: str | list[str] | None = None,
    how: Literal["median", "mean"] = "median",
) -> pd.Series | float:
    """`column` of summary rows aggregated over seeds: per group of `by` (a Series indexed by
    the group, sorted), or over all rows (a float) when `by` is None. NaNs are skipped;
    fill them first (e.g. with inf for "never reached") when they must count.

    `median` is the default for claims: with the few seeds a reproduction affords, one odd
    seed cannot move it, and a value that more than half the seeds never reach (inf) stays
    "never". `mean` is for points a curve is fitted through (scaling's power laws): the
    fit then sees the expected value at each x, as the papers average their repeats.
    """
    if by is None:
        values = rows[column].astype(float)
        return float(values.median() if how == "median" else values.mean())
    grouped = rows.groupby(by)[column]
    return (grouped.median() if how == "median" else grouped.mean()).sort_index()


def reference_value(reference: pd.DataFrame, series: str, source: str | None = None) -> float:
    """The `y` of the one reference.csv row of `series` (and `source`, if given): paper
    numbers live there and nowhere else, so a verdict and its figure read the same value."""
    rows = reference[reference["series"] == series]
    if source is not None:
        rows = rows[rows["source"] == source]
    if len(rows) != 1:
        raise UserError(
            f"reference.csv has {len(rows)} rows of series {series!r}"
            + (f" from {source!r}" if source else "")
            + "; a measure or figure reads exactly one"
        )
    return float(rows["y"].iloc[0])
