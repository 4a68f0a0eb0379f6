"""What produced a result: versions, device, threads, git commit."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from typing import Any

from dlrepro.paths import ROOT

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "pyarrow", "snakemake", "scikit-learn")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def git_commit() -> str:
    """The repository's commit, with `+dirty` when tracked files differ; '' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{sha}+dirty" if sha and dirty else sha


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return f"{device}:{platform.processor() or platform.machine()}"


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine()}
