"""Where things live, relative to the repository root and the results root."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"
REPRODUCTIONS = ROOT / "reproductions"


def scale_dir(results: str | Path, scale: str) -> Path:
    return Path(results) / scale


def repro_dir(results: str | Path, scale: str, repro: str) -> Path:
    return Path(results) / scale / repro


def dataset_file(results: str | Path, dataset: str) -> Path:
    """Prepared datasets are shared by every scale and reproduction."""
    return Path(results) / "data" / f"{dataset}.pt"


def run_dir(results: str | Path, scale: str, repro: str, run_id: str) -> Path:
    return repro_dir(results, scale, repro) / "runs" / run_id


def checkpoint_file(results: str | Path, scale: str, repro: str, run_id: str) -> Path:
    return repro_dir(results, scale, repro) / "checkpoints" / f"{run_id}.pt"
