"""MNIST-1D: generated offline by the package, saved checksummed, equal to the package's arrays."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dlrepro import data
from dlrepro.data import mnist1d
from dlrepro.errors import UserError
from reproductions.mnist1d import models, training

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


def test_an_image_file_is_not_read_as_mnist1d_nor_mnist1d_as_images(
    tmp_path: Path, small_sizes: None
) -> None:
    from dlrepro.data import images

    x = torch.zeros(4, 2, 2, dtype=torch.uint8)
    y = torch.zeros(4, dtype=torch.int64)
    tensors = {"train_x": x, "train_y": y, "test_x": x, "test_y": y}
    images.save_prepared(tmp_path / "img.pt", "stripes", tensors, ["a"], "test")
    with pytest.raises(UserError, match="holds dataset 'stripes', not 'mnist1d'"):
        mnist1d.load_mnist1d(tmp_path / "img.pt")
    mnist1d.build_mnist1d(tmp_path / "m.pt", {})
    with pytest.raises(UserError, match="expected uint8"):  # the image check by default
        data.load_prepared(tmp_path / "m.pt")


def test_an_unknown_dataset_argument_is_refused() -> None:
    with pytest.raises(UserError, match="no dataset argument 'num_sample'"):
        mnist1d.package_args(num_sample=10)


# -- the training data path and the networks (reproductions/mnist1d) -------------------------
def fake_run(path: Path, seed: int = 0) -> SimpleNamespace:
    return SimpleNamespace(datasets={"mnist1d": path}, seed=seed, device=torch.device("cpu"))


@pytest.fixture
def small_file(tmp_path: Path, small_sizes: None) -> Path:
    path = tmp_path / "mnist1d.pt"
    mnist1d.build_mnist1d(path, {})
    return path


def test_training_data_has_exactly_the_chosen_noisy_labels(small_file: Path) -> None:
    data = training.load(fake_run(small_file), label_noise=0.5, noise_mode="wrong")
    assert int((data.images.y_train != data.y_train_clean).sum()) == 50  # half of 100, all wrong
    assert data.info["labels_changed"] == 50
    assert data.images.x_train.shape == (100, 1, 1, 40)  # the trainer's image layout
    again = training.load(fake_run(small_file), label_noise=0.5, noise_mode="wrong")
    assert torch.equal(data.images.y_train, again.images.y_train)  # same seed: same labels


def test_shuffling_permutes_train_and_test_positions_alike(small_file: Path) -> None:
    plain = training.load(fake_run(small_file)).images
    shuffled = training.load(fake_run(small_file), shuffle_seed=0).images
    a, b = plain.x_train.flatten(1), shuffled.x_train.flatten(1)
    perm = [int((a == b[:, [j]]).all(0).nonzero()[0]) for j in range(40)]
    assert sorted(perm) == list(range(40)) and perm != list(range(40))
    assert torch.equal(plain.x_test.flatten(1)[:, perm], shuffled.x_test.flatten(1))
    assert torch.equal(plain.y_train, shuffled.y_train)


@pytest.mark.parametrize(
    ("kind", "width", "params"),
    [("logistic", 0, 410), ("residual_mlp", 100, 15_210), ("cnn", 25, 5_210), ("gru", 6, 5_134),
     ("mlp", 47, 4_663), ("cnn", 18, 2_998)],
)  # fmt: skip
def test_networks_have_the_notebooks_parameter_counts(kind: str, width: int, params: int) -> None:
    model = models.build(kind, width)
    assert models.n_params(model) == params
    assert model(torch.zeros(3, 40)).shape == (3, 10)
    assert model(torch.zeros(3, 1, 1, 40)).shape == (3, 10)  # the trainer's layout
