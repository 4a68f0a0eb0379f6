"""The Parquet tables dlrepro writes, their columns and types, checked on every write.

This module is the one place where the columns are documented. Every table is long or tidy so
that pandas, pyarrow and DuckDB read it as it is.

metrics.parquet (one row per logged value; per run, then concatenated per reproduction)
    run_id, reproduction, scale, sweep, seed, <the run's swept parameters>, step, epoch, split,
    metric, value, elapsed_s
runs.parquet (one row per run: the run record)
    run_id, reproduction, scale, sweep, seed, <swept parameters>, status, error, device, threads,
    torch_version, python_version, dlrepro_version, git_commit, settings_json,
    versions_json, data_json, started_at, finished_at, wall_s, steps
summary.parquet (one row per run: scalars computed by the reproduction's `summarize`)
    run_id, sweep, seed, status, <swept parameters>, <reproduction-specific scalar columns>
claims.parquet (one row per claim)
    reproduction, scale, claim_id, statement, paper_value, paper_source, paper_comparable,
    measured, op, threshold, verdict, reason, n_seeds, min_seeds, seeds, could_fail,
    deviations, details_json, spec_sha256, threshold_commit, threshold_date,
    runs_finished_at, revised_after_results

Only `elapsed_s`, `started_at`, `finished_at` and `wall_s` depend on the wall clock; every other
value is a function of the code, the settings and the seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dlrepro.atomic import write_with

# Pandas dtype kind per column: i integer, f float, O string/object, b bool.
COLUMNS: dict[str, dict[str, str]] = {
    "metrics": {
        "run_id": "O",
        "reproduction": "O",
        "scale": "O",
        "sweep": "O",
        "seed": "i",
        "step": "i",
        "epoch": "f",  # NaN where a run has no epochs (full-batch steps)
        "split": "O",
        "metric": "O",
        "value": "f",
        "elapsed_s": "f",
    },
    "runs": {
        "run_id": "O",
        "reproduction": "O",
        "scale": "O",
        "sweep": "O",
        "seed": "i",
        "status": "O",
        "error": "O",
        "device": "O",
        "threads": "i",
        "torch_version": "O",
        "python_version": "O",
        "dlrepro_version": "O",
        "git_commit": "O",
        "settings_json": "O",
        "versions_json": "O",
        "data_json": "O",
        "started_at": "O",
        "finished_at": "O",
        "wall_s": "f",
        "steps": "i",
    },
    "summary": {
        "run_id": "O",
        "sweep": "O",
        "seed": "i",
        "status": "O",
    },
    "claims": {
        "reproduction": "O",
        "scale": "O",
        "claim_id": "O",
        "statement": "O",
        "paper_value": "O",
        "paper_source": "O",
        "measured": "f",
        "paper_comparable": "b",  # False: the paper's value is context, not a comparison
        "op": "O",
        "threshold": "O",
        "verdict": "O",
        "reason": "O",
        "n_seeds": "i",
        "min_seeds": "i",
        "seeds": "O",
        "could_fail": "O",
        "deviations": "O",
        "details_json": "O",
        "spec_sha256": "O",  # sha256 of the claim as declared
        "threshold_commit": "O",  # git commit where op/threshold took this value, or "uncommitted"
        "threshold_date": "O",
        "runs_finished_at": "O",  # when the first judged run finished
        "revised_after_results": "b",
    },
}

STATUSES = ("completed", "diverged", "failed")
VERDICTS = ("reproduced", "not reproduced", "inconclusive")


class SchemaError(ValueError):
    """A table is missing a documented column or has the wrong type in one."""


def check(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Raise SchemaError unless `df` has every column of `kind` with the documented type."""
    for col, want in COLUMNS[kind].items():
        if col not in df.columns:
            raise SchemaError(f"{kind} table lacks column {col!r} (has {list(df.columns)})")
        got = df[col].dtype.kind
        ok = got == want or (want == "f" and got in "if") or (want == "O" and got in "OUST")
        if not ok and not (len(df) == 0):
            raise SchemaError(f"{kind} column {col!r} has dtype {df[col].dtype}, expected {want}")
    if kind in ("runs", "summary") and len(df):
        bad = set(df["status"]) - set(STATUSES)
        if bad:
            raise SchemaError(f"{kind} table has unknown status {bad}; allowed {STATUSES}")
    if kind == "claims" and len(df):
        bad = set(df["verdict"]) - set(VERDICTS)
        if bad:
            raise SchemaError(f"claims table has unknown verdict {bad}; allowed {VERDICTS}")
    return df


def write(df: pd.DataFrame, path: str | Path, kind: str) -> None:
    """Check `df` against the `kind` schema and write it to `path` as Parquet, atomically."""
    check(df, kind)
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False, engine="pyarrow"))


def read(path: str | Path, kind: str) -> pd.DataFrame:
    return check(pd.read_parquet(path), kind)


def records_frame(records: list[dict[str, Any]], params: list[str]) -> pd.DataFrame:
    """The runs table from run.json records; swept parameters become columns."""
    rows = []
    for rec in records:
        row = {
            "run_id": rec["run_id"],
            "reproduction": rec["reproduction"],
            "scale": rec["scale"],
            "sweep": rec["sweep"],
            "seed": rec["seed"],
            **{p: rec["params"].get(p) for p in params},
            "status": rec["status"],
            "error": rec["error"],
            "device": rec["device"],
            "threads": rec["threads"],
            "torch_version": rec["versions"].get("torch", ""),
            "python_version": rec["versions"].get("python", ""),
            "dlrepro_version": rec["dlrepro_version"],
            "git_commit": rec["git_commit"],
            "settings_json": json.dumps(rec["settings"], sort_keys=True),
            "versions_json": json.dumps(rec["versions"], sort_keys=True),
            "data_json": json.dumps(rec["data"], sort_keys=True, default=str),
            "started_at": rec["started_at"],
            "finished_at": rec["finished_at"],
            "wall_s": float(rec["wall_s"]),
            "steps": int(rec["steps"]),
        }
        rows.append(row)
    return pd.DataFrame(rows).astype({"seed": "int64", "threads": "int64", "steps": "int64"})
