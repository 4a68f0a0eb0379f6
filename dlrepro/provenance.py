"""What produced a result: versions, host, CPU, GPUs, scheduler job, git commit.

Float results depend on the CPU's kernels (the same seed on another CPU model moves the last
digits), so a run records the CPU model and the instruction set torch dispatched to, not
only `x86_64`. On a cluster it records the host and the SLURM job that ran it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import socket
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from dlrepro.paths import ROOT

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "pyarrow", "snakemake", "scikit-learn")
# CPU features that change which float kernels run (x86 and Arm); the rest of /proc/cpuinfo's
# flags do not matter for results and would only make records noisy.
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "asimd",
    "asimdhp",
    "asimddp",
    "sve",
    "sve2",
    "bf16",
    "i8mm",
)
# Environment variables a scheduler sets; recorded when present.
SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION")


@cache  # installed packages do not change under a running process; 7 ms a call
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


@cache  # once per process (~15 ms, two git calls): a process runs the code it imported then
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


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none, e.g. macOS)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor is enough: all cores of a node are alike
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


@cache
def cpu() -> dict[str, Any]:
    """CPU model, architecture, core count, ISA flags that matter and torch's kernel choice."""
    import torch

    info = _cpuinfo()
    model = info.get("model name") or info.get("Model") or info.get("Hardware") or ""
    if not model and platform.system() == "Darwin":
        try:
            model = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            model = ""
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return {
        "model": re.sub(r"\s+", " ", model) or platform.processor() or platform.machine(),
        "arch": platform.machine(),
        "cores": os.cpu_count() or 0,
        "isa": [f for f in ISA_FLAGS if f in flags],
        # What ATen's CPU kernels dispatch to (DEFAULT, AVX2, AVX512, SVE256, ...).
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
    }


@cache
def gpus() -> dict[str, Any]:
    """Visible CUDA GPUs (name per index) and the CUDA/cuDNN versions torch uses."""
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    out: dict[str, Any] = {
        "cuda_version": torch.version.cuda or "",
        "cudnn_version": str(cudnn or ""),
        "count": 0,
        "names": [],
    }
    if torch.cuda.is_available():
        out["count"] = torch.cuda.device_count()
        out["names"] = [torch.cuda.get_device_name(i) for i in range(out["count"])]
    return out


def scheduler() -> dict[str, str]:
    """The SLURM job this process runs in (empty outside SLURM)."""
    return {k.lower(): os.environ[k] for k in SLURM_VARS if os.environ.get(k)}


def device_name(device: str) -> str:
    """A short label for the device a run trained on: `cuda:<GPU name>` or `cpu:<model> [ISA]`."""
    import torch

    kind, _, index = str(device).partition(":")
    if kind == "cuda":
        return f"cuda:{torch.cuda.get_device_name(int(index or 0))}"
    if kind == "cpu":
        c = cpu()
        return f"cpu:{c['model']} [{c['arch']} {c['torch_capability']}]"
    return f"{kind}:{platform.machine()}"


def host(device: str = "cpu") -> dict[str, Any]:
    """Where a run executed: machine, CPU, GPUs, the device it used and its SLURM job."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "device": str(device),
        "cpu": cpu(),
        "gpu": gpus(),
        **scheduler(),
    }
