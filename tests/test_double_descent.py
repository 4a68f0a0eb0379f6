"""Double descent: the peak finder behind claims 1 and 2, its measures, and the task's pieces."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from reproductions.double_descent.measures import (
    MEASURES,
    find_peak,
    peak_fall,
    peak_params_per_example,
    peak_rise,
)
from reproductions.double_descent.resnet import ResNet18
from reproductions.double_descent.task import summarize_run

WIDTHS = [2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 47, 61, 80, 104, 135, 177, 230, 300]
# The MNIST-1D notebook's printed final errors (%), 15% label noise and none (papers.md §5c).
NOISY_TEST = [69.59, 67.50, 62.55, 57.45, 54.80, 48.97, 50.28, 47.24, 50.84, 50.69, 52.80,
              54.05, 54.02, 52.08, 50.23, 48.39, 47.88, 46.54, 45.47]  # fmt: skip
NOISY_TRAIN = [71.68, 68.65, 62.75, 57.95, 54.45, 47.45, 46.47, 39.70, 38.08, 29.55, 19.02,
               5.47, 0, 0, 0, 0, 0, 0, 0]  # fmt: skip
CLEAN_TEST = [68.53, 66.83, 58.27, 61.37, 54.20, 49.33, 50.08, 44.55, 42.63, 41.02, 41.66,
              41.01, 41.24, 39.59, 38.61, 38.58, 38.09, 37.10, 37.25]  # fmt: skip
CLEAN_TRAIN = [67.15, 63.88, 54.78, 57.23, 48.03, 41.28, 38.40, 28.80, 19.95, 12.05, 1.35,
               0, 0, 0, 0, 0, 0, 0, 0]  # fmt: skip


def pct(values: list[float]) -> list[float]:
    return [v / 100 for v in values]


def test_a_real_peak_is_found_at_its_width_with_its_rise_and_fall() -> None:
    widths = [1, 2, 4, 8, 16, 32, 64]
    test = [0.50, 0.40, 0.45, 0.60, 0.50, 0.42, 0.35]  # minimum at 2, peak at 8
    train = [0.50, 0.30, 0.10, 0.005, 0.0, 0.0, 0.0]  # interpolates from width 8 on
    p = find_peak(widths, test, train)
    assert p is not None
    assert (p.threshold_width, p.peak_width, p.premin_width) == (8, 8, 2)
    assert p.rise == pytest.approx(0.20) and p.fall == pytest.approx(0.25)


def test_a_plateau_gives_a_rise_of_only_its_wobble() -> None:
    widths = [1, 2, 4, 8, 16, 32, 64]
    test = [0.60, 0.45, 0.41, 0.415, 0.41, 0.405, 0.40]
    train = [0.5, 0.2, 0.05, 0.0, 0.0, 0.0, 0.0]
    p = find_peak(widths, test, train)
    assert p is not None and p.peak_width == 8
    assert p.rise == pytest.approx(0.005)


def test_a_monotone_falling_curve_has_no_peak_and_zero_rise_and_fall() -> None:
    # The narrowest model has the highest error, but an end of the sweep is never a peak.
    widths = [1, 2, 4, 8, 16, 32, 64]
    test = [0.70, 0.60, 0.55, 0.50, 0.45, 0.40, 0.35]
    train = [0.7, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0]
    p = find_peak(widths, test, train)
    assert p is not None and p.peak_width is None
    assert (p.rise, p.fall) == (0.0, 0.0)


def test_a_peak_far_from_the_interpolation_threshold_does_not_count() -> None:
    widths = [1, 2, 4, 8, 16, 32, 64, 128]
    test = [0.60, 0.70, 0.50, 0.45, 0.44, 0.43, 0.42, 0.41]  # a bump at width 2 only
    train = [0.6, 0.5, 0.3, 0.2, 0.1, 0.05, 0.0, 0.0]  # interpolates at 64
    p = find_peak(widths, test, train, window=2.0)
    assert p is not None and p.threshold_width == 64 and p.peak_width is None


def test_no_interpolating_width_means_no_threshold() -> None:
    assert find_peak([1, 2, 4], [0.5, 0.6, 0.4], [0.3, 0.2, 0.1]) is None


def test_the_order_of_the_points_does_not_matter() -> None:
    widths, test, train = [8, 1, 4, 2], [0.3, 0.5, 0.45, 0.4], [0.0, 0.5, 0.0, 0.2]
    p = find_peak(widths, test, train)
    assert p is not None and p.peak_width == 4 and p.rise == pytest.approx(0.05)


def test_repeated_widths_are_refused() -> None:
    with pytest.raises(ValueError, match="widths repeat"):
        find_peak([1, 1, 2], [0.5, 0.5, 0.4], [0.0, 0.0, 0.0])


def test_the_notebooks_noisy_curve_gives_its_published_rise_and_fall() -> None:
    # papers.md §5c: peak 54.05% at n=47, +6.8 over the minimum before it, +8.6 over n=300.
    p = find_peak(WIDTHS, pct(NOISY_TEST), pct(NOISY_TRAIN))
    assert p is not None
    assert (p.threshold_width, p.peak_width, p.premin_width) == (61, 47, 16)
    assert 100 * p.rise == pytest.approx(6.81) and 100 * p.fall == pytest.approx(8.58)


def test_the_notebooks_clean_curve_is_a_plateau_under_two_points() -> None:
    p = find_peak(WIDTHS, pct(CLEAN_TEST), pct(CLEAN_TRAIN))
    assert p is not None and p.threshold_width == 47
    assert 100 * p.rise == pytest.approx(0.64) and p.rise < 0.02


def rows_for(test: list[float], train: list[float], seeds: list[int]) -> pd.DataFrame:
    out = []
    for seed in seeds:
        for w, te, tr in zip(WIDTHS, pct(test), pct(train), strict=True):
            n_params = 40 * w + w + w * w + w + 10 * w + 10
            out.append(
                {
                    "seed": seed,
                    "width": w,
                    "test_error": te + seed * 0.001,
                    "train_error": tr,
                    "n_params": n_params,
                    "n_train": 4000,
                }
            )
    return pd.DataFrame(out)


def test_the_measures_report_points_as_the_median_over_seeds() -> None:
    rows = rows_for(NOISY_TEST, NOISY_TRAIN, [0, 1, 2])
    rise, fall = peak_rise(rows), peak_fall(rows)
    assert rise.value == pytest.approx(6.81) and fall.value == pytest.approx(8.58)
    assert rise.seeds == [0, 1, 2] and "peak 54.05% at 47" in rise.reason
    assert set(MEASURES) >= {"peak_rise", "peak_fall", "peak_params_per_example"}


def test_the_peak_models_parameters_per_training_example() -> None:
    m = peak_params_per_example(rows_for(NOISY_TEST, NOISY_TRAIN, [0]))
    assert m.value == pytest.approx(4663 / 4000)  # the n=47 MLP has 4,663 parameters


def test_a_seed_that_never_interpolates_makes_the_measure_inconclusive() -> None:
    rows = rows_for(NOISY_TEST, NOISY_TRAIN, [0, 1])
    rows.loc[rows["seed"] == 1, "train_error"] = 0.2
    m = peak_rise(rows)
    assert m.value is None and "seed(s) [1]" in m.reason


# -- the task's pieces ---------------------------------------------------------------------
def test_resnet18_width_k_scales_its_channels_and_maps_images_to_10_logits() -> None:
    small, large = ResNet18(k=2), ResNet18(k=4)
    assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert small.linear.in_features == 16 and large.linear.in_features == 32
    assert sum(p.numel() for p in ResNet18(k=64).parameters()) > 11_000_000  # ResNet-18 size


def test_summarize_run_reads_the_final_errors_and_the_parameter_count() -> None:
    rows = [
        (0, 0.0, "model", "n_params", 4663.0),
        (0, 0.0, "data", "n_train", 4000.0),
        (0, 0.0, "data", "labels_changed", 546.0),
        (20, 0.5, "train", "error", 0.9),  # a running mean, not the final evaluation
        (40, 1.0, "train_eval_final", "error", 0.05),
        (40, 1.0, "test_final", "error", 0.54),
        (40, 1.0, "train_eval_final", "loss", 0.1),
        (40, 1.0, "test_final", "loss", 5.0),
        (40, 1.0, "train_clean_final", "error", 0.14),
    ]
    metrics = pd.DataFrame(rows, columns=["step", "epoch", "split", "metric", "value"])
    out = summarize_run(metrics, {})
    assert out["n_params"] == 4663 and out["train_error"] == 0.05 and out["test_error"] == 0.54
    assert out["train_clean_error"] == 0.14 and out["epochs_run"] == 1.0
