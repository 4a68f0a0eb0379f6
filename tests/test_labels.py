"""Label noise (dlrepro.data.labels): exact fractions, the two definitions, reproducibility."""

from __future__ import annotations

import pytest
import torch

from dlrepro.data.labels import corrupt_labels, n_corrupted
from dlrepro.errors import UserError

K = 10


def true_labels(n: int = 4000) -> torch.Tensor:
    return torch.arange(n) % K


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fraction", [0.0, 0.15, 0.5, 1.0])
def test_wrong_mode_makes_exactly_the_fraction_wrong(fraction: float) -> None:
    y = true_labels()
    noisy = corrupt_labels(y, fraction, K, gen(), mode="wrong")
    assert int((noisy != y).sum()) == n_corrupted(len(y), fraction) == round(fraction * 4000)


def test_wrong_mode_never_returns_the_true_label_even_when_every_label_is_chosen() -> None:
    y = true_labels()
    for seed in range(5):
        assert bool((corrupt_labels(y, 1.0, K, gen(seed), mode="wrong") != y).all())


def test_wrong_mode_draws_uniformly_from_the_other_classes() -> None:
    y = torch.zeros(90_000, dtype=torch.int64)  # every true label is class 0
    noisy = corrupt_labels(y, 1.0, K, gen(), mode="wrong")
    counts = torch.bincount(noisy, minlength=K)
    assert counts[0] == 0
    # 10,000 expected per other class; 4 standard deviations is about ±380.
    assert ((counts[1:] - 10_000).abs() < 400).all()


def test_uniform_mode_redraws_the_exact_fraction_from_all_classes() -> None:
    # Notebook definition: a redrawn label may come back unchanged (about 1 in K).
    y = true_labels(100_000)
    noisy = corrupt_labels(y, 0.15, K, gen(), mode="uniform")
    changed = int((noisy != y).sum())
    chosen = n_corrupted(len(y), 0.15)
    assert chosen == 15_000
    assert abs(changed - chosen * (K - 1) / K) < 4 * (chosen * 0.1 * 0.9) ** 0.5
    assert changed < chosen


def test_uniform_mode_at_fraction_one_gives_labels_unrelated_to_the_truth() -> None:
    y = true_labels(50_000)
    noisy = corrupt_labels(y, 1.0, K, gen(), mode="uniform")
    agree = float((noisy == y).float().mean())
    assert abs(agree - 1 / K) < 0.01
    assert ((torch.bincount(noisy, minlength=K) - 5000).abs() < 300).all()


@pytest.mark.parametrize("mode", ["wrong", "uniform"])
def test_same_generator_seed_gives_the_same_labels(mode: str) -> None:
    y = true_labels()
    a = corrupt_labels(y, 0.15, K, gen(7), mode=mode)
    b = corrupt_labels(y, 0.15, K, gen(7), mode=mode)
    c = corrupt_labels(y, 0.15, K, gen(8), mode=mode)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_input_labels_are_left_untouched() -> None:
    y = true_labels()
    before = y.clone()
    corrupt_labels(y, 0.5, K, gen(), mode="wrong")
    assert torch.equal(y, before)


@pytest.mark.parametrize(
    ("fraction", "n_classes", "mode", "labels", "message"),
    [
        (1.5, K, "wrong", true_labels(10), "must lie in"),
        (0.1, K, "flip", true_labels(10), "unknown"),
        (0.1, 1, "wrong", torch.zeros(10, dtype=torch.int64), "at least 2 classes"),
        (0.1, K, "wrong", true_labels(10).float(), "int64"),
        (0.1, 5, "wrong", true_labels(10), "outside 0..4"),
    ],
)
def test_bad_arguments_raise_one_clear_error(
    fraction: float, n_classes: int, mode: str, labels: torch.Tensor, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        corrupt_labels(labels, fraction, n_classes, gen(), mode=mode)  # type: ignore[arg-type]
