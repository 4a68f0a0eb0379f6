"""Datasets: a builder per name turns raw files into one cached file that training loads.

`prepare(name, out_path, data_config)` is what the workflow's prepare rule calls; `data_config`
is the configuration's `data` section. Add a dataset by adding an entry to BUILDERS, as
"module:function" so that naming the datasets (the workflow does it on every start, to check
reproduction files) does not import torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from dlrepro.errors import UserError

BUILDERS: dict[str, str] = {
    "fashion_mnist": "dlrepro.data.images:build_fashion_mnist",
    "cifar10": "dlrepro.data.images:build_cifar10",
    "corpus": "dlrepro.data.text:prepare_corpus",
    "mnist1d": "dlrepro.data.mnist1d:build_mnist1d",
}


def prepare(name: str, out_path: Path, data_config: dict[str, Any]) -> dict[str, Any]:
    """Build dataset `name` into `out_path`; return its info (source, checksum, shapes)."""
    if name not in BUILDERS:
        raise UserError(f"unknown dataset {name!r}; the datasets are {sorted(BUILDERS)}")
    module, function = BUILDERS[name].split(":")
    build = getattr(importlib.import_module(module), function)
    return build(Path(out_path), dict(data_config or {}))


def load_prepared(path: Path) -> dict[str, Any]:
    """Load and verify a prepared image dataset (see dlrepro.data.images.load_prepared)."""
    from dlrepro.data import images

    return images.load_prepared(Path(path))
