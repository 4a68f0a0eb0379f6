"""MNIST-1D: generated offline by the package, saved checksummed, equal to the package's arrays."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrepro import data
from dlrepro.data import mnist1d
from dlrepro.errors import UserError

SMALL = {"num_samples": 400, "train_split": 0.25}  # the notebook's split on a tenth of the size


@pytest.fixture
def small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build 400 sequences instead of 16,000 (the code path is the same; 10x faster)."""
    monkeypatch.setattr(mnist1d, "NOTEBOOK_SIZES", SMALL)


def test_prepared_file_equals_the_packages_own_arrays(tmp_path: Path, small_sizes: None) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    info = data.prepare("mnist1d", tmp_path / "mnist1d.pt", {})
    blob = mnist1d.load_mnist1d(tmp_path / "mnist1d.pt")
    args = get_dataset_args()
    args.num_samples, args.train_split = SMALL["num_samples"], SMALL["train_split"]
    ref = make_dataset(args)
    assert np.array_equal(blob["train_x"].numpy(), ref["x"])
    assert np.array_equal(blob["test_x"].numpy(), ref["x_test"])
    assert np.array_equal(blob["train_y"].numpy(), ref["y"])
    assert np.array_equal(blob["test_y"].numpy(), ref["y_test"])
    assert info["train_shape"] == [100, 40] and info["test_shape"] == [300, 40]
    assert "offline" in info["source"] and "seed 42" in info["source"]


def test_two_builds_give_the_same_checksum(tmp_path: Path, small_sizes: None) -> None:
    a = mnist1d.build_mnist1d(tmp_path / "a.pt", {})
    b = mnist1d.build_mnist1d(tmp_path / "b.pt", {})
    assert a["sha256"] == b["sha256"]


def test_generation_leaves_the_global_random_generators_as_they_were() -> None:
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    mnist1d.generate(num_samples=20)
    assert (np.random.rand(), random.random()) == expected


def test_the_notebook_sizes_give_4000_train_and_12000_test_sequences_of_40() -> None:
    arrays = mnist1d.generate(**mnist1d.NOTEBOOK_SIZES)
    assert arrays["x"].shape == (4000, 40) and arrays["x_test"].shape == (12000, 40)
    # Every class is present in both splits (the package draws 1,600 per class, then shuffles).
    assert set(np.unique(arrays["y"])) == set(range(10)) == set(np.unique(arrays["y_test"]))


def test_an_edited_file_fails_its_checksum(tmp_path: Path, small_sizes: None) -> None:
    path = tmp_path / "mnist1d.pt"
    mnist1d.build_mnist1d(path, {})
    blob = torch.load(path, weights_only=True)
    blob["train_x"][0, 0] += 1.0
    torch.save(blob, path)
    with pytest.raises(UserError, match="sha256"):
        mnist1d.load_mnist1d(path)


def test_a_missing_file_names_the_prepare_step(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="prepare step"):
        mnist1d.load_mnist1d(tmp_path / "absent.pt")


def test_an_unknown_dataset_argument_is_refused() -> None:
    with pytest.raises(UserError, match="no dataset argument 'num_sample'"):
        mnist1d.package_args(num_sample=10)
