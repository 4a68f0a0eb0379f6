"""Shared helpers for the tests: the repository root, the venv's snakemake, a smoke runner, and
the whole pipeline at smoke scale, run once per session as the README prints it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
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


README = ROOT / "README.md"
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
WHOLE_PIPELINE = "# the whole pipeline"  # the comment that marks the README's smoke block


def bash_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number, body, the line before the fence) of every ```bash block."""
    blocks = []
    for m in FENCE.finditer(text):
        if m.group("lang") == "bash":
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            blocks.append((text.count("\n", 0, m.start()) + 1, m.group("body"), before))
    return blocks


def run_bash_block(body: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a README block in `cwd` as printed: `snakemake` is the venv's, pointed at this
    repository's Snakefile and config with `cwd` as its working directory; `dlrepro` is the
    installed console script."""
    prelude = f"""set -euo pipefail
snakemake() {{ "{SNAKEMAKE}" --snakefile "{ROOT}/Snakefile" \\
  --configfile "{ROOT}/config/config.yaml" --directory "$PWD" "$@"; }}
"""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.run(
        ["bash", "-c", prelude + body],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@dataclass(frozen=True)
class SmokeRun:
    """The README's whole-pipeline block run in `workdir`: its line, body and what it printed."""

    workdir: Path
    line: int
    body: str
    proc: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def smoke_all(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """Every reproduction at smoke scale, from an empty folder, by the README's whole-pipeline
    block as printed; run once per session (it is the slowest thing the tests do). Tests read
    its results; a test that changes anything works on a copy (`copy_workdir`)."""
    line, body = next(
        (ln, b) for ln, b, _ in bash_blocks(README.read_text()) if WHOLE_PIPELINE in b
    )
    workdir = tmp_path_factory.mktemp("smoke_all")
    proc = run_bash_block(body, workdir)
    assert proc.returncode == 0, (
        f"README.md line {line}:\n{body}\nfailed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return SmokeRun(workdir, line, body, proc)


def copy_workdir(src: Path, dst: Path) -> Path:
    """A finished working directory, copied with its Snakemake metadata and file times, so
    that Snakemake finds the copy as up to date as the original."""
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    return dst


@pytest.fixture(scope="session")
def smoke_grokking(smoke_all: SmokeRun) -> Path:
    """The working directory holding the grokking reproduction's smoke results (read only)."""
    return smoke_all.workdir
