"""Image datasets (Fashion-MNIST, CIFAR-10) as compact cached uint8 tensors.

Every image reproduction reads its data through this module:

    prepare:  build_fashion_mnist(out, data_config) / build_cifar10(out, data_config)
              find the raw files, parse them, write one `torch.save` file atomically
    training: load_prepared(path) -> {"train_x", "train_y", "test_x", "test_y", ...}
              checked against its shapes and sha256 before anything trains on it

Raw files are parsed here rather than through torchvision's dataset classes: those check the
archives' MD5 sums, which Debian's recompressed Fashion-MNIST files fail, and would hide a
truncated file behind a generic "not found". torchvision is used to download, and its published
MD5 list is what every CIFAR-10 batch must match before it is unpickled (a pickle can run code).
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlrepro.atomic import write_with
from dlrepro.errors import UserError

FORMAT_VERSION = 1
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
CIFAR10_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST_BATCH = "test_batch"
TENSOR_KEYS = ("train_x", "train_y", "test_x", "test_y")

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes occur in these sets.
_IDX_UBYTE = 0x08


# -- IDX (Fashion-MNIST) ---------------------------------------------------------------------
def read_idx(path: Path) -> torch.Tensor:
    """Parse one IDX file (optionally gzipped) into a uint8 tensor of its declared shape.

    A truncated or padded file (a half-finished download) raises UserError naming the file:
    the header states the exact size, so a partial file is always detected.
    """
    path = Path(path)
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip raises these on truncated archives
        raise UserError(
            f"{path} cannot be read ({e}); it may be a half-written download: delete it "
            "and fetch it again"
        ) from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path} is not an IDX file (bad magic number); replace it")
    dtype, ndim = raw[2], raw[3]
    if dtype != _IDX_UBYTE or not 1 <= ndim <= 4:
        raise UserError(f"{path}: IDX type {dtype:#x} with {ndim} dims is not an image/label file")
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(
            f"{path} has {len(raw)} bytes but its header {dims} needs {expected}; the file "
            "is truncated or corrupt (a half-written download?): delete it and fetch it again"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(data.copy())


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _fashion_folder(folder: Path) -> Path | None:
    """`folder` itself or torchvision's layout below it, if it holds all four IDX files."""
    for cand in (folder, folder / "FashionMNIST" / "raw", folder / "raw"):
        if all(_idx_file(cand, stem) for stem in FASHION_FILES.values()):
            return cand
    return None


def locate_fashion_mnist(data_config: dict[str, Any]) -> tuple[Path, str]:
    """Find the four IDX files: configured path, then Debian's package, then a download.

    Returns (folder, how it was found). Raises UserError listing the three remedies.
    """
    configured = data_config.get("fashion_mnist")
    if configured:
        found = _fashion_folder(Path(configured))
        if found is None:
            raise UserError(
                f"data.fashion_mnist = {configured!r} does not hold the four Fashion-MNIST IDX "
                f"files ({', '.join(FASHION_FILES.values())}, optionally .gz); fix the path "
                "or set it to null to use Debian's package or a download"
            )
        return found, "configured path"
    found = _fashion_folder(DEBIAN_FASHION_MNIST)
    if found is not None:
        return found, "Debian package dataset-fashion-mnist"
    root = Path(data_config.get("root") or "data")
    found = _fashion_folder(root)  # an earlier download
    if found is not None:
        return found, f"earlier download in {root}"
    download_error = "downloads are disabled (data.download: false)"
    if data_config.get("download", True):
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
            found = _fashion_folder(root)
            if found is not None:
                return found, f"torchvision download into {root}"
            download_error = f"torchvision reported success but {root} lacks the IDX files"
        except Exception as e:  # no network, bad MD5: every failure leads to the same advice
            download_error = f"torchvision's download failed: {type(e).__name__}: {e}"
    raise UserError(
        "Fashion-MNIST was not found. Remedies, in the order dlrepro tries them:\n"
        "  1. set data.fashion_mnist to a folder with the four IDX files "
        "(e.g. --config data='{fashion_mnist: /path/to/folder}')\n"
        f"  2. install Debian's package: apt-get install dataset-fashion-mnist "
        f"(files in {DEBIAN_FASHION_MNIST})\n"
        f"  3. allow torchvision's download (data.download: true, network access) into {root}\n"
        f"Download attempt: {download_error}"
    )


def parse_fashion_mnist(folder: Path) -> dict[str, torch.Tensor]:
    out = {key: read_idx(_idx_file(folder, stem)) for key, stem in FASHION_FILES.items()}
    for split in ("train", "test"):
        x, y = out[f"{split}_x"], out[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UserError(
                f"{folder}: {split} images {tuple(x.shape)} and labels {tuple(y.shape)} do not "
                "match; the IDX files are from different sets or corrupt"
            )
        out[f"{split}_y"] = y.long()
    return out


def build_fashion_mnist(out_path: Path, data_config: dict[str, Any]) -> dict[str, Any]:
    folder, how = locate_fashion_mnist(data_config)
    tensors = parse_fashion_mnist(folder)
    return save_prepared(out_path, "fashion_mnist", tensors, FASHION_CLASSES, f"{folder} ({how})")


# -- CIFAR-10 python batches -----------------------------------------------------------------
def cifar10_md5() -> dict[str, str]:
    """The MD5 of each official batch file, as torchvision publishes it (CIFAR10's lists)."""
    from torchvision.datasets import CIFAR10  # imported here: only CIFAR-10 preparation needs it

    return dict(CIFAR10.train_list + CIFAR10.test_list)


def verify_cifar_batch(path: Path) -> None:
    """Raise UserError unless `path` is an official batch file with its published MD5.

    The batches are pickles, and unpickling runs whatever code a file holds: only files whose
    bytes are exactly the official ones are opened. This also catches truncated downloads.
    """
    from torchvision.datasets.utils import calculate_md5

    path = Path(path)
    published = cifar10_md5()
    if path.name not in published:
        raise UserError(
            f"{path} is not an official CIFAR-10 batch file (those are "
            f"{', '.join(sorted(published))}); dlrepro unpickles only these"
        )
    if not path.is_file():
        raise UserError(f"CIFAR-10 batch {path} is missing; the folder is incomplete")
    got = calculate_md5(path)
    if got != published[path.name]:
        raise UserError(
            f"{path} has MD5 {got}, not the published {published[path.name]}: it is truncated "
            "or corrupt (a half-written download?) or not from the official archive; delete "
            "cifar-10-batches-py and fetch it again"
        )


def read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One CIFAR-10 python batch (a pickled dict with b'data' N×3072 and b'labels'),
    unpickled only after its MD5 matches torchvision's published list."""
    verify_cifar_batch(path)
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as e:  # unreachable for verified files unless the list itself is wrong
        raise UserError(
            f"{path} cannot be unpickled ({type(e).__name__}: {e}); it is truncated or "
            "corrupt (a half-written download?): delete cifar-10-batches-py and fetch it again"
        ) from e
    if not isinstance(batch, dict):
        raise UserError(f"{path} is not a CIFAR-10 batch (expected a dict)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise UserError(f"{path} lacks 'data' or 'labels'; it is not a CIFAR-10 python batch")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(
            f"{path}: data has shape {data.shape} and dtype {data.dtype}; a CIFAR-10 batch "
            "holds uint8 rows of 3072 values (3×32×32)"
        )
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if y.shape != (data.shape[0],) or (len(y) and (int(y.min()) < 0 or int(y.max()) > 9)):
        raise UserError(f"{path}: {len(y)} labels for {data.shape[0]} images, or labels not 0–9")
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return x, y


def _cifar_folder(folder: Path) -> Path | None:
    for cand in (folder / "cifar-10-batches-py", folder):
        if (cand / CIFAR10_TEST_BATCH).is_file() and (cand / CIFAR10_TRAIN_BATCHES[0]).is_file():
            return cand
    return None


def locate_cifar10(data_config: dict[str, Any]) -> tuple[Path, str]:
    configured = data_config.get("cifar10")
    if configured:
        found = _cifar_folder(Path(configured))
        if found is None:
            raise UserError(
                f"data.cifar10 = {configured!r} holds no CIFAR-10 python batches "
                "(cifar-10-batches-py/ with data_batch_1..5 and test_batch); fix the path"
            )
        return found, "configured path"
    root = Path(data_config.get("root") or "data")
    found = _cifar_folder(root)
    if found is not None:
        return found, f"earlier download in {root}"
    download_error = "downloads are disabled (data.download: false)"
    if data_config.get("download", True):
        try:
            from torchvision.datasets import CIFAR10

            # torchvision checks the archive's MD5 before extracting it, so a half-finished
            # download is never unpacked into a dataset that looks complete.
            CIFAR10(str(root), train=True, download=True)
            found = _cifar_folder(root)
            if found is not None:
                return found, f"torchvision download into {root}"
            download_error = f"torchvision reported success but {root} lacks the batches"
        except Exception as e:
            download_error = f"torchvision's download failed: {type(e).__name__}: {e}"
    raise UserError(
        "CIFAR-10 was not found. Remedies:\n"
        "  1. set data.cifar10 to the folder holding cifar-10-batches-py/ "
        "(from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz)\n"
        f"  2. allow torchvision's download (data.download: true, network access) into {root}\n"
        f"Download attempt: {download_error}"
    )


def parse_cifar10(folder: Path) -> dict[str, torch.Tensor]:
    parts = [read_cifar_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    test_x, test_y = read_cifar_batch(folder / CIFAR10_TEST_BATCH)
    return {
        "train_x": torch.cat([p[0] for p in parts]),
        "train_y": torch.cat([p[1] for p in parts]),
        "test_x": test_x,
        "test_y": test_y,
    }


def build_cifar10(out_path: Path, data_config: dict[str, Any]) -> dict[str, Any]:
    folder, how = locate_cifar10(data_config)
    tensors = parse_cifar10(folder)
    return save_prepared(out_path, "cifar10", tensors, CIFAR10_CLASSES, f"{folder} ({how})")


# -- the cache file --------------------------------------------------------------------------
def checksum(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes, in a fixed order."""
    h = hashlib.sha256()
    for key in TENSOR_KEYS:
        t = tensors[key].contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


# A check of a cache file's tensors: (blob, path) -> None, a UserError naming the fix if wrong.
TensorCheck = Callable[[dict[str, Any], Path], None]


def save_prepared(
    out_path: Path,
    name: str,
    tensors: dict[str, torch.Tensor],
    classes: list[str],
    source: str,
    check: TensorCheck | None = None,
) -> dict[str, Any]:
    """Write the cache file atomically and return its info (what the run record keeps).

    `check` replaces the image check (uint8 (N,H,W) or (N,C,H,W) images, int64 labels) for a
    dataset of other tensors in the same layout (dlrepro.data.mnist1d: float64 sequences).
    """
    blob: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "classes": list(classes),
        "source": source,
        **{k: tensors[k] for k in TENSOR_KEYS},
        "sha256": checksum(tensors),
    }
    (check or _check_tensors)(blob, Path(out_path))
    write_with(out_path, lambda tmp: torch.save(blob, tmp))
    return info(blob)


def info(blob: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": blob["name"],
        "source": blob["source"],
        "sha256": blob["sha256"],
        "train_shape": list(blob["train_x"].shape),
        "test_shape": list(blob["test_x"].shape),
    }


def _check_tensors(blob: dict[str, Any], path: Path) -> None:
    fix = f"delete {path} and rerun; it will be rebuilt from the raw files"
    for key in TENSOR_KEYS:
        if not isinstance(blob.get(key), torch.Tensor):
            raise UserError(f"{path} lacks tensor {key!r}; {fix}")
    for split in ("train", "test"):
        x, y = blob[f"{split}_x"], blob[f"{split}_y"]
        if x.dtype != torch.uint8 or x.ndim not in (3, 4):
            raise UserError(
                f"{path}: {split}_x has dtype {x.dtype} and shape {tuple(x.shape)}; expected "
                f"uint8 (N,H,W) or (N,C,H,W); {fix}"
            )
        if y.dtype != torch.int64 or y.shape != (len(x),):
            raise UserError(
                f"{path}: {split}_y has dtype {y.dtype}, shape {tuple(y.shape)} for {len(x)} "
                f"images; {fix}"
            )
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(blob["classes"])):
            raise UserError(f"{path}: {split}_y has labels outside 0..{len(blob['classes']) - 1}")
    if blob["train_x"].shape[1:] != blob["test_x"].shape[1:]:
        raise UserError(f"{path}: train and test images differ in shape; {fix}")


def load_prepared(
    path: Path, name: str | None = None, check: TensorCheck | None = None
) -> dict[str, Any]:
    """Load a cache file written by `save_prepared`, verifying its format, its dataset's
    `name` (if given), its tensors (`check`, as for `save_prepared`) and its checksum."""
    path = Path(path)
    fix = f"delete {path} and rerun; the prepare step will build it again"
    if not path.is_file():
        raise UserError(f"prepared dataset {path} does not exist; run the workflow's prepare step")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path} cannot be read ({type(e).__name__}: {e}); {fix}") from e
    if not isinstance(blob, dict) or blob.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not a dlrepro dataset file of format {FORMAT_VERSION}; {fix}")
    if name is not None and blob.get("name") != name:
        raise UserError(f"{path} holds dataset {blob.get('name')!r}, not {name!r}")
    (check or _check_tensors)(blob, path)
    if checksum(blob) != blob.get("sha256"):
        raise UserError(f"{path} fails its sha256 check (corrupted or edited); {fix}")
    return blob
