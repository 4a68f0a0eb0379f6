"""The image loaders and their cache: Fashion-MNIST IDX files and CIFAR-10 python batches
written here in the real formats, the search order, and every way a file can be bad."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrepro import data
from dlrepro.data import images
from dlrepro.errors import UserError


# -- writers for the real file formats --------------------------------------------------------
def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """An IDX file as LeCun's format defines it: magic (0, 0, 0x08, ndim), big-endian dims."""
    raw = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    raw += b"".join(struct.pack(">I", d) for d in array.shape) + array.astype(np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_fashion(folder: Path, n_train: int = 30, n_test: int = 20, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in images.FASHION_FILES.items():
        write_idx(folder / stem, arrays[key], gz=gz)
    return arrays


def write_cifar(folder: Path, monkeypatch: pytest.MonkeyPatch | None, per_batch: int = 4) -> dict:
    """cifar-10-batches-py/ as the official archive unpacks: pickled dicts with bytes keys.

    The real batches are 30 MB each, so these small ones stand in for them: with `monkeypatch`
    their MD5 sums replace torchvision's published list for the test (the check itself runs
    unchanged); without it they are what they are, files that are not the official ones.
    """
    rng = np.random.default_rng(1)
    out = folder / "cifar-10-batches-py"
    out.mkdir(parents=True)
    xs, ys, md5 = [], [], {}
    for name in [*images.CIFAR10_TRAIN_BATCHES, images.CIFAR10_TEST_BATCH]:
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": y, b"data": x, b"filenames": []}
        (out / name).write_bytes(pickle.dumps(batch, protocol=2))
        md5[name] = hashlib.md5((out / name).read_bytes()).hexdigest()
        xs.append(x)
        ys.append(y)
    (out / "batches.meta").write_bytes(pickle.dumps({b"label_names": images.CIFAR10_CLASSES}))
    if monkeypatch is not None:
        monkeypatch.setattr(images, "cifar10_md5", lambda: md5)
    return {"train_x": np.concatenate(xs[:5]), "train_y": sum(ys[:5], []), "test_x": xs[5]}


NO_DEBIAN = {"fashion_mnist": None, "download": False}


@pytest.fixture
def no_debian(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide the machine's Debian Fashion-MNIST so that the tests see only their own files."""
    monkeypatch.setattr(images, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-here")


# -- Fashion-MNIST ------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_idx_files_load_exactly(tmp_path: Path, gz: bool, no_debian: None) -> None:
    arrays = write_fashion(tmp_path / "fm", gz=gz)
    cfg = {**NO_DEBIAN, "fashion_mnist": str(tmp_path / "fm")}
    info = data.prepare("fashion_mnist", tmp_path / "fm.pt", cfg)
    blob = data.load_prepared(tmp_path / "fm.pt")
    assert blob["train_x"].dtype == torch.uint8 and blob["train_y"].dtype == torch.int64
    assert np.array_equal(blob["train_x"].numpy(), arrays["train_x"])
    assert np.array_equal(blob["test_y"].numpy(), arrays["test_y"])
    assert info["train_shape"] == [30, 28, 28] and info["sha256"] == blob["sha256"]
    assert "configured path" in info["source"]


def test_fashion_search_order_prefers_configured_then_debian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "debian"
    write_fashion(debian, n_train=12)
    write_fashion(tmp_path / "mine", n_train=7)
    monkeypatch.setattr(images, "DEBIAN_FASHION_MNIST", debian)
    folder, how = images.locate_fashion_mnist({"fashion_mnist": str(tmp_path / "mine")})
    assert folder == tmp_path / "mine" and how == "configured path"
    folder, how = images.locate_fashion_mnist({"fashion_mnist": None, "download": False})
    assert folder == debian and "Debian" in how


def test_fashion_torchvision_layout_in_root_is_found(tmp_path: Path, no_debian: None) -> None:
    write_fashion(tmp_path / "root" / "FashionMNIST" / "raw", gz=False)
    folder, how = images.locate_fashion_mnist({**NO_DEBIAN, "root": str(tmp_path / "root")})
    assert folder == tmp_path / "root" / "FashionMNIST" / "raw"


def test_missing_fashion_names_all_three_remedies(tmp_path: Path, no_debian: None) -> None:
    with pytest.raises(UserError) as e:
        data.prepare("fashion_mnist", tmp_path / "x.pt", {**NO_DEBIAN, "root": str(tmp_path)})
    msg = str(e.value)
    assert "data.fashion_mnist" in msg and "dataset-fashion-mnist" in msg and "download" in msg
    assert not (tmp_path / "x.pt").exists()


def test_configured_fashion_path_without_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not hold the four Fashion-MNIST IDX files"):
        images.locate_fashion_mnist({"fashion_mnist": str(tmp_path)})


def test_truncated_idx_download_is_rejected(tmp_path: Path, no_debian: None) -> None:
    write_fashion(tmp_path / "fm", gz=False)
    path = tmp_path / "fm" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])  # a half-written download
    with pytest.raises(UserError, match="truncated or corrupt.*train-images|train-images.*trunc"):
        data.prepare("fashion_mnist", tmp_path / "fm.pt", {"fashion_mnist": str(tmp_path / "fm")})
    assert not (tmp_path / "fm.pt").exists()


def test_truncated_gzip_is_rejected(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(50) % 10)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(UserError, match="half-written download"):
        images.read_idx(path)


def test_mismatched_image_and_label_counts_are_rejected(tmp_path: Path) -> None:
    write_fashion(tmp_path / "fm")
    write_idx(tmp_path / "fm" / "train-labels-idx1-ubyte", np.zeros(5))
    with pytest.raises(UserError, match="do not match"):
        images.parse_fashion_mnist(tmp_path / "fm")


# -- CIFAR-10 -----------------------------------------------------------------------------------
def test_cifar_python_batches_load_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = write_cifar(tmp_path / "c", monkeypatch)
    cfg = {"cifar10": str(tmp_path / "c"), "download": False}
    info = data.prepare("cifar10", tmp_path / "c.pt", cfg)
    blob = data.load_prepared(tmp_path / "c.pt")
    assert blob["train_x"].shape == (20, 3, 32, 32) and blob["test_x"].shape == (4, 3, 32, 32)
    # The official layout: 1024 red, then 1024 green, then 1024 blue values, row-major.
    assert np.array_equal(blob["train_x"].reshape(20, -1).numpy(), arrays["train_x"])
    assert blob["train_y"].tolist() == arrays["train_y"]
    assert info["test_shape"] == [4, 3, 32, 32]


def test_published_md5_list_is_torchvisions() -> None:
    md5 = images.cifar10_md5()
    assert sorted(md5) == sorted([*images.CIFAR10_TRAIN_BATCHES, images.CIFAR10_TEST_BATCH])
    assert md5["data_batch_1"] == "c99cafc152244af753f735de768cd75f"
    assert md5["test_batch"] == "40351d587109b95175f43aff81a1287e"


def test_cifar_batch_that_is_not_the_official_file_is_never_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cifar(tmp_path / "c", monkeypatch=None)  # the published list stays torchvision's
    unpickled = []
    monkeypatch.setattr(images.pickle, "load", lambda *a, **k: unpickled.append(a))
    with pytest.raises(UserError) as e:
        data.prepare("cifar10", tmp_path / "c.pt", {"cifar10": str(tmp_path / "c")})
    msg = str(e.value)
    assert "\n" not in msg and "data_batch_1 has MD5" in msg
    assert "not the published c99cafc152244af753f735de768cd75f" in msg and "fetch it again" in msg
    assert unpickled == [] and not (tmp_path / "c.pt").exists()


def test_cifar_file_with_an_unknown_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "my_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(UserError, match="my_batch is not an official CIFAR-10 batch file"):
        images.read_cifar_batch(path)


def test_cifar_contents_folder_is_accepted(tmp_path: Path) -> None:
    write_cifar(tmp_path / "c", monkeypatch=None)
    folder, _ = images.locate_cifar10({"cifar10": str(tmp_path / "c" / "cifar-10-batches-py")})
    assert folder.name == "cifar-10-batches-py"


def test_cifar_truncated_batch_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path / "c", monkeypatch)
    path = tmp_path / "c" / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match="data_batch_3 has MD5 .* truncated or corrupt"):
        data.prepare("cifar10", tmp_path / "c.pt", {"cifar10": str(tmp_path / "c")})


def test_cifar_missing_batch_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path / "c", monkeypatch)
    (tmp_path / "c" / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(UserError, match="data_batch_5 is missing"):
        data.prepare("cifar10", tmp_path / "c.pt", {"cifar10": str(tmp_path / "c")})


def test_cifar_wrong_row_length_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setattr(images, "cifar10_md5", lambda: {"data_batch_1": md5})
    with pytest.raises(UserError, match="3072"):
        images.read_cifar_batch(path)


def test_missing_cifar_without_download_names_remedies(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="data.cifar10.*\n.*download"):
        data.prepare("cifar10", tmp_path / "c.pt", {"download": False, "root": str(tmp_path)})


# -- the cache file -----------------------------------------------------------------------------
@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_cifar(tmp_path / "c", monkeypatch)
    data.prepare("cifar10", tmp_path / "c.pt", {"cifar10": str(tmp_path / "c")})
    return tmp_path / "c.pt"


def test_cache_with_wrong_checksum_fails_naming_file_and_fix(cache: Path) -> None:
    blob = torch.load(cache, weights_only=True)
    blob["train_x"][0, 0, 0, 0] ^= 1  # one flipped bit, shapes unchanged
    torch.save(blob, cache)
    with pytest.raises(UserError, match=f"{cache}.*sha256.*delete {cache}"):
        data.load_prepared(cache)


def test_cache_with_wrong_shape_fails(cache: Path) -> None:
    blob = torch.load(cache, weights_only=True)
    blob["train_y"] = blob["train_y"][:-1]
    torch.save(blob, cache)
    with pytest.raises(UserError, match="train_y.*delete"):
        data.load_prepared(cache)


def test_truncated_cache_fails_naming_file(cache: Path) -> None:
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.raises(UserError, match=f"{cache} cannot be read.*delete"):
        data.load_prepared(cache)


def test_missing_cache_and_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        data.load_prepared(tmp_path / "nope.pt")
    with pytest.raises(UserError, match="unknown dataset 'imagenet'"):
        data.prepare("imagenet", tmp_path / "x.pt", {})


def test_builders_registry_names_a_function_per_dataset() -> None:
    """Entries are "module:function" text, so that listing the datasets imports no torch."""
    assert {"fashion_mnist", "cifar10"} <= set(data.BUILDERS)
    for entry in data.BUILDERS.values():
        module, function = entry.split(":")
        assert callable(getattr(importlib.import_module(module), function)), entry
