"""The slurm profile against a real one-node SLURM (cluster/slurm-local.sh).

The README's one-machine block runs the smoke workflow of one reproduction through
`--workflow-profile profiles/slurm`, as printed: each
training job must have run as a SLURM job (its run record names the job), and the Parquet
results must equal a local run's with the same seeds, wall-clock columns aside. `.ci/run`
starts the cluster; here the test starts it itself when it can (root, slurm-wlm and munge
installed) and skips, saying why, when it cannot.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, SNAKEMAKE, snakemake

from dlrepro.reproduction import load

SCRIPT = ROOT / "cluster" / "slurm-local.sh"
README = ROOT / "README.md"
# Columns that record when and how long, not what: they differ between any two runs (and
# every timestamp, `*_at`).
WALL_CLOCK = {"elapsed_s", "wall_s", "train_s", "started_at", "finished_at"}


def _cluster_answers() -> bool:
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def slurm() -> Iterator[None]:
    """A SLURM that accepts jobs: the one already up, or a one-node cluster started here."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (envs/requirements.txt)")
    if shutil.which("sinfo") is None:
        pytest.skip("no SLURM here: apt-get install -y slurm-wlm munge (CI's .ci/run does)")
    if _cluster_answers():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("no SLURM answers and starting one (cluster/slurm-local.sh) needs root")
    up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=120)
    if up.returncode != 0:
        pytest.skip(f"cluster/slurm-local.sh up failed: {up.stderr.strip()[-500:]}")
    try:
        yield
    finally:
        subprocess.run([str(SCRIPT), "down"], capture_output=True, timeout=120)


def readme_block() -> str:
    """The README's "Try it on one machine" block, as printed."""
    text = README.read_text()
    marker = text.index("tests/test_slurm.py runs this block as printed")
    start = text.index("```bash\n", marker) + len("```bash\n")
    return text[start : text.index("```", start)]


def run_readme_block(workdir: Path) -> subprocess.CompletedProcess:
    """Run the block in `workdir` as a user would in a checkout: `snakemake` is this
    repository's workflow, `cluster/` the repository's scripts."""
    (workdir / "cluster").symlink_to(ROOT / "cluster")
    (workdir / "profiles").symlink_to(ROOT / "profiles")
    # Snakemake traps SIGTERM and waits for its jobs, so `timeout -k` ends it for sure.
    prelude = (
        "set -euo pipefail\n"
        f'snakemake() {{ timeout -k 20 600 "{SNAKEMAKE}" --snakefile "{ROOT}/Snakefile" '
        f'--configfile "{ROOT}/config/config.yaml" --directory "$PWD" "$@"; }}\n'
    )
    proc = subprocess.run(
        ["bash", "-c", prelude + readme_block()],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=700,
    )
    assert proc.returncode == 0, (
        f"README block failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def comparable(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    df = df.drop(columns=[c for c in df.columns if c in WALL_CLOCK or c.endswith("_at")])
    key = [c for c in ("run_id", "claim_id", "id", "step", "split", "metric") if c in df.columns]
    return df.sort_values(key).reset_index(drop=True) if key else df


def test_the_readme_slurm_block_trains_each_run_as_a_slurm_job_with_the_local_numbers(
    slurm: None, smoke_grokking: Path, tmp_path: Path
) -> None:
    run_readme_block(tmp_path)

    out = tmp_path / "results" / "smoke" / "grokking"
    records = [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/run.json"))]
    assert len(records) == len(load(ROOT / "reproductions" / "grokking").runs("smoke"))
    job_ids = {r["run_id"]: r.get("host", {}).get("slurm_job_id") for r in records}
    assert all(job_ids.values()), f"runs without a SLURM job id in run.json: {job_ids}"
    assert len(set(job_ids.values())) == len(records), "each run is its own SLURM job"

    local = smoke_grokking / "results" / "smoke" / "grokking"
    for table in ("metrics", "summary", "claims"):
        pd.testing.assert_frame_equal(
            comparable(out / f"{table}.parquet"),
            comparable(local / f"{table}.parquet"),
            obj=f"{table}.parquet (SLURM vs local)",
        )


def job_resources(dry_run_output: str) -> dict[str, list[str]]:
    """rule name -> the `resources:` line of each of its jobs, from a dry run's listing."""
    found: dict[str, list[str]] = {}
    rule = None
    for line in dry_run_output.splitlines():
        words = line.strip().rstrip(":").split()
        if len(words) == 2 and words[0] in ("rule", "localrule"):
            rule = words[1]
        elif rule and line.strip().startswith("resources:"):
            found.setdefault(rule, []).append(line.strip())
            rule = None
    return found


@pytest.mark.workflow
def test_the_gpu_profile_gives_every_training_job_one_gpu_and_nothing_else_a_gpu(
    tmp_path: Path,
) -> None:
    proc = snakemake(
        tmp_path,
        "-n",
        "--workflow-profile",
        str(ROOT / "profiles" / "gpu"),
        "--config",
        "scale=smoke",
        "reproductions=[grokking]",
    )
    res = job_resources(proc.stdout)
    assert len(res["train"]) == len(load(ROOT / "reproductions" / "grokking").runs("smoke"))
    assert all("gpu=1" in line for line in res["train"]), res["train"]
    others = [line for rule, lines in res.items() if rule != "train" for line in lines]
    assert others and not any("gpu=" in line for line in others), others
