"""Questions asked of the long metrics table, and aggregation over seeds (dlrepro.longform)."""

import math

import pandas as pd
import pytest

from dlrepro.longform import first_step, last_value, over_seeds, series


def metrics_of(rows):
    return pd.DataFrame(rows, columns=["run_id", "step", "epoch", "split", "metric", "value"])


METRICS = metrics_of(
    [
        ("a", 20, 0.5, "val", "acc", 0.6),  # logged out of step order
        ("a", 10, 0.25, "val", "acc", 0.2),
        ("a", 30, 0.75, "val", "acc", 0.995),
        ("a", 10, 0.25, "train", "error", 0.4),
        ("a", 20, 0.5, "train", "error", 0.09),
        ("b", 10, 0.25, "val", "acc", 1.0),
    ]
)


def test_series_is_one_split_and_metric_in_step_order():
    s = series(METRICS, "val", "acc", run_id="a")
    assert s.index.tolist() == [10, 20, 30] and s.tolist() == [0.2, 0.6, 0.995]
    assert series(METRICS, "train", "error", index="epoch").index.tolist() == [0.25, 0.5]


def test_first_step_finds_the_first_crossing_either_way_or_nan():
    assert first_step(METRICS, "val", "acc", 0.99, run_id="a") == 30
    assert first_step(METRICS, "train", "error", 0.1, below=True, index="epoch") == 0.5
    assert math.isnan(first_step(METRICS, "train", "error", 0.01, below=True))


def test_last_value_is_at_the_last_step_and_nan_when_never_logged():
    assert last_value(METRICS, "val", "acc", run_id="a") == 0.995
    assert math.isnan(last_value(METRICS, "test", "acc"))


def test_over_seeds_takes_the_median_or_the_mean_per_group():
    rows = pd.DataFrame({"x": [1, 1, 1, 2], "seed": [0, 1, 2, 0], "y": [1.0, 2.0, 6.0, 4.0]})
    assert over_seeds(rows, "y", by="x").tolist() == [2.0, 4.0]
    assert over_seeds(rows, "y", by="x", how="mean").tolist() == [3.0, 4.0]
    assert over_seeds(rows, "y") == pytest.approx(3.0)
    never = rows.assign(y=[1.0, math.inf, math.inf, 4.0])  # "never reached" as +inf
    assert over_seeds(never, "y", by="x").iloc[0] == math.inf
