"""The workflow configuration: validated once, before any job runs."""

from __future__ import annotations

import copy
import platform
import shutil
from pathlib import Path
from typing import Any

from dlrepro.errors import UserError
from dlrepro.paths import REPRODUCTIONS
from dlrepro.reproduction import Reproduction
from dlrepro.schema import validate


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return a validated copy of `config` with defaults filled; raise UserError otherwise."""
    cfg = validate(copy.deepcopy(dict(config)), "config.schema.yaml", "the configuration")
    # A folder given stays as written (relative to the working directory), so that the paths
    # the workflow records for its files do not change when the working directory moves.
    cfg["reproductions_dir"] = cfg["reproductions_dir"] or str(REPRODUCTIONS)
    return cfg


def selected(cfg: dict[str, Any], available: dict[str, Reproduction]) -> list[str]:
    """The reproductions the configuration enables, in a stable order."""
    want = cfg["reproductions"]
    if want == "all":
        return sorted(available)
    unknown = [w for w in want if w not in available]
    if unknown:
        raise UserError(
            f"the configuration: reproductions = {want!r} names unknown {unknown}; "
            f"the reproductions are {sorted(available)} (or use 'all')"
        )
    return list(dict.fromkeys(want))


def device_kind(preference: str) -> str:
    """The device kind `preference` means on this machine, without importing torch.

    The workflow computes it on every start (a run's numbers depend on it, so it is a param of
    training); the job itself resolves the device with torch (`resolve_device`). On a cluster
    whose login node has no GPU, say `device=cuda` rather than `auto`.
    """
    if preference != "auto":
        return preference
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        return "cuda"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def resolve_device(preference: str) -> str:
    """Turn `auto` into the best available device; fail clearly if a named one is missing."""
    import torch

    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if has_mps else "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda was asked for but torch sees no CUDA GPU; use device=auto")
    if preference == "mps" and not has_mps:
        raise UserError("device=mps was asked for but this torch has no MPS; use device=auto")
    return preference
