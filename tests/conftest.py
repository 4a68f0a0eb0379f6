"""Shared helpers for the tests: the repository root, the venv's snakemake, a smoke runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def snakemake(
    workdir: Path, *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the real workflow CLI with its working directory (and .snakemake/) in `workdir`."""
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(ROOT / "config" / "config.yaml"),
        "--directory",
        str(workdir),
        *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def smoke_grokking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grokking reproduction run once at smoke scale; returns the working directory."""
    workdir = tmp_path_factory.mktemp("smoke")
    snakemake(workdir, "--cores", "2", "--config", "scale=smoke", "reproductions=[grokking]")
    return workdir
