"""The body of each workflow job, as plain functions; workflow/scripts/*.py only unpack
Snakemake's arguments and call these, so the same code runs from tests and notebooks."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pandas as pd

from dlrepro import claims as claims_mod
from dlrepro import figures, report, tables
from dlrepro.atomic import write_text
from dlrepro.config import resolve_device
from dlrepro.errors import UserError
from dlrepro.reproduction import Reproduction, check_task, discover
from dlrepro.runner import records_frame, run_job


@contextmanager
def job_log(path: str | Path) -> Iterator[Any]:
    """Send a job's output to its log file; show a UserError as one clean line and exit 1."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as log:
        try:
            with redirect_stdout(log), redirect_stderr(log):
                yield log
        except UserError as e:
            print(f"dlrepro: {e}", file=log)
            print(f"\ndlrepro: {e}\n", file=sys.stderr)
            sys.exit(1)
        except Exception:
            traceback.print_exc(file=log)
            print(f"\ndlrepro: job failed; the traceback is in {path}\n", file=sys.stderr)
            raise


def as_list(value: str | list[str]) -> list[str]:
    """Snakemake hands a named input as a string when it is one file, else as a list."""
    return [value] if isinstance(value, str) else list(value)


def prepare(dataset: str, out: Path, data_config: dict[str, Any]) -> None:
    from dlrepro import data

    info = data.prepare(dataset, Path(out), data_config)
    print(f"prepared {dataset}: {json.dumps(info, default=str)}")


def train(
    repro_name: str,
    scale: str,
    run_id: str,
    seeds: list[int] | None,
    device: str,
    threads: int,
    datasets: list[str],
    metrics: Path,
    record: Path,
    checkpoint: Path,
    checkpoint_seconds: float,
) -> str:
    repro = discover()[repro_name]
    run = repro.run(scale, run_id, seeds)
    paths = {Path(p).stem: Path(p) for p in datasets}
    return run_job(
        repro,
        run,
        resolve_device(device),
        threads,
        paths,
        Path(metrics),
        Path(record),
        Path(checkpoint),
        checkpoint_seconds,
        stream=sys.stdout,
    )


def collect(
    repro_name: str,
    metric_files: list[str],
    record_files: list[str],
    out_metrics: Path,
    out_runs: Path,
    out_summary: Path,
) -> None:
    repro = discover()[repro_name]
    records = [json.loads(Path(f).read_text()) for f in record_files]
    scale = records[0]["scale"]
    params = repro.swept_params(scale)
    metrics = pd.concat([pd.read_parquet(f) for f in metric_files], ignore_index=True)
    runs = records_frame(records, params)
    tables.write(metrics, out_metrics, "metrics")
    tables.write(runs, out_runs, "runs")
    tables.write(summarize(repro, metrics, records, params), out_summary, "summary")


def summarize(
    repro: Reproduction, metrics: pd.DataFrame, records: list[dict], params: list[str]
) -> pd.DataFrame:
    """One row per run: identity, status, swept parameters, then the task's scalars."""
    rows = []
    for rec in records:
        m = metrics[metrics["run_id"] == rec["run_id"]]
        try:
            scalars = repro.task.summarize_run(m, rec["settings"])
        except Exception as e:  # a diverged run's partial metrics may not summarize
            if rec["status"] == "completed":
                raise
            print(f"{rec['run_id']} ({rec['status']}): no summary: {e}")
            scalars = {}
        rows.append(
            {
                "run_id": rec["run_id"],
                "sweep": rec["sweep"],
                "seed": rec["seed"],
                "status": rec["status"],
                **{p: rec["params"].get(p) for p in params},
                **scalars,
            }
        )
    return pd.DataFrame(rows).astype({"seed": "int64"})


def judge_claims(
    repro_name: str, scale: str, summary: Path, metrics: Path, out: Path, out_html: Path
) -> pd.DataFrame:
    repro = discover()[repro_name]
    check_task(repro)
    s = tables.read(summary, "summary")
    m = tables.read(metrics, "metrics")
    rows = []
    for claim in repro.claims:
        if scale not in claim.get("scales", [scale]):
            continue
        row = claims_mod.judge(claim, s, m, repro.task.MEASURES)
        rows.append({"reproduction": repro.name, "scale": scale, **row})
        print(f"{claim['id']}: {row['verdict']} (measured {row['measured']:.4g}; {row['reason']})")
    df = pd.DataFrame(rows, columns=list(tables.COLUMNS["claims"]))
    df = df.astype({"n_seeds": "int64", "measured": "float64"})
    tables.write(df, out, "claims")
    write_text(out_html, report.claims_table_html(df, standalone=True))
    return df


def figure(
    repro_name: str,
    scale: str,
    figure_id: str,
    metrics: Path,
    summary: Path,
    runs: Path,
    out_png: Path,
    out_svg: Path,
) -> None:
    repro = discover()[repro_name]
    check_task(repro)
    data = figures.FigureData(
        scale=scale,
        metrics=tables.read(metrics, "metrics"),
        summary=tables.read(summary, "summary"),
        runs=tables.read(runs, "runs"),
        reference=repro.reference(),
    )
    draw: Callable = repro.task.FIGURES[figure_id]
    spec = next(f for f in repro.figures if f["id"] == figure_id)
    fig = draw(data)
    figures.save(fig, out_png, out_svg, title=spec["title"])


def build_report(scale: str, claim_files: list[str], run_files: list[str], out: Path) -> None:
    repros = discover()
    sections = []
    for claims_path, runs_path in zip(claim_files, run_files, strict=True):
        name = Path(claims_path).parent.name
        sections.append(
            report.Section(
                repro=repros[name],
                claims=tables.read(claims_path, "claims"),
                runs=tables.read(runs_path, "runs"),
                figure_dir=Path(claims_path).parent / "figures",
            )
        )
    write_text(out, report.render(scale, sections))
