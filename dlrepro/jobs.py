"""The body of each workflow job, as plain functions; workflow/scripts/*.py only unpack
Snakemake's arguments and call these by keyword, so the same code runs from tests and
notebooks. A job loads only its own reproduction.

This module imports only what `job_log` and the warm-start hand-off need; each function imports
the rest (pandas, torch, the reproduction) itself. A job handed to a warm child (warm.py) then
costs its own process a fraction of a second, where pandas alone took half a second."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlrepro import warm
from dlrepro.errors import UserError
from dlrepro.preemption import Preempted

if TYPE_CHECKING:
    import pandas as pd

    from dlrepro.reproduction import Reproduction


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
        except Preempted as e:  # SIGTERM (a SLURM time limit): checkpointed, exits 143
            print(f"\ndlrepro: {e}; its checkpoint is kept, a rerun resumes it\n", file=sys.stderr)
            raise
        except Exception:
            traceback.print_exc(file=log)
            print(f"\ndlrepro: job failed; the traceback is in {path}\n", file=sys.stderr)
            raise


def as_list(value: str | list[str]) -> list[str]:
    """Snakemake hands a named input as a string when it is one file, else as a list."""
    return [value] if isinstance(value, str) else list(value)


def load_repro(config: dict[str, Any], name: str) -> Reproduction:
    """The one reproduction (or variant `<folder>+k=v,...`) a job works on."""
    from dlrepro.reproduction import load

    package = name.split("+", 1)[0]
    folder = Path(config["reproductions_dir"]) / package
    repro = load(folder, config.get("set", {}).get(package))
    if repro.name != name:
        raise UserError(
            f"results folder {name!r} is not what the configuration makes of {package!r} "
            f"({repro.name!r}); pass the same --config set=... as the run that made it"
        )
    return repro


@warm.delegable
def prepare(*, dataset: str, out: Path, sha256_out: Path, data_config: dict[str, Any]) -> None:
    from dlrepro import data
    from dlrepro.atomic import file_sha256, write_text

    info = data.prepare(dataset, Path(out), data_config)
    # The checksum of the prepared content: training reruns when it changes, not the mtime.
    write_text(sha256_out, (info.get("sha256") or file_sha256(Path(out))) + "\n")
    print(f"prepared {dataset}: {json.dumps(info, default=str)}")


@warm.delegable
def train(
    *,
    config: dict[str, Any],
    run_json: str,
    device: str,
    threads: int,
    datasets: list[str],
    init_weights: str | None,
    metrics: Path,
    record: Path,
    weights: Path,
) -> str:
    """Train one run. A failed run (a crash, not a divergence) exits non-zero after writing
    its log, keeping its checkpoint: the next workflow run, or `--retries N`, resumes it."""
    from dlrepro.config import resolve_device
    from dlrepro.devices import select
    from dlrepro.reproduction import Run
    from dlrepro.runner import run_job  # torch: imported by training jobs only

    run = Run.from_json(run_json)
    repro = load_repro(config, run.reproduction)
    checkpoint = Path(record).parents[2] / "checkpoints" / f"{run.run_id}.pt"
    status = run_job(
        repro,
        run,
        device=select(resolve_device(device)),  # a GPU no concurrent job holds
        threads=threads,
        datasets={Path(p).stem: Path(p) for p in datasets},
        metrics_path=Path(metrics),
        record_path=Path(record),
        checkpoint_path=checkpoint,
        checkpoint_seconds=float(config["checkpoint_seconds"]),
        weights_path=Path(weights),
        init_weights=Path(init_weights) if init_weights else None,
        stream=sys.stdout,
    )
    if status == "failed":
        raise RuntimeError(
            f"run {run.run_id} failed (see above); its checkpoint is kept, so running the "
            "workflow again (or --retries N) resumes it"
        )
    return status


@warm.delegable
def collect(
    *,
    config: dict[str, Any],
    repro_name: str,
    metric_files: list[str],
    record_files: list[str],
    out_metrics: Path,
    out_runs: Path,
    out_summary: Path,
) -> None:
    import pandas as pd

    from dlrepro import tables

    repro = load_repro(config, repro_name)
    records = [json.loads(Path(f).read_text()) for f in record_files]
    scale = records[0]["scale"]
    params = repro.swept_params(scale)
    metrics = pd.concat([pd.read_parquet(f) for f in metric_files], ignore_index=True)
    runs = tables.records_frame(records, params)
    tables.write(metrics, out_metrics, "metrics")
    tables.write(runs, out_runs, "runs")
    tables.write(summarize(repro, metrics, records, params), out_summary, "summary")


def summarize(
    repro: Reproduction, metrics: pd.DataFrame, records: list[dict], params: list[str]
) -> pd.DataFrame:
    """One row per run: identity, status, swept parameters, then the task's scalars."""
    import pandas as pd

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


@warm.delegable
def judge_claims(
    *,
    config: dict[str, Any],
    repro_name: str,
    scale: str,
    summary: Path,
    metrics: Path,
    runs: Path,
    out: Path,
    out_html: Path,
) -> pd.DataFrame:
    import pandas as pd

    from dlrepro import claims as claims_mod
    from dlrepro import prereg, report, tables
    from dlrepro.atomic import write_text

    repro = load_repro(config, repro_name)
    s = tables.read(summary, "summary")
    m = tables.read(metrics, "metrics")
    r = tables.read(runs, "runs")
    seeds = config.get("seeds")
    rows = []
    for claim in repro.claims_at(scale):
        row = claims_mod.judge(
            claim,
            s,
            m,
            repro.measures,
            min_seeds=repro.seeds_per_point(scale, claim["sweeps"], seeds),
            params=repro.swept_params(scale),
        )
        judged = r[r["sweep"].isin(claim["sweeps"])]["finished_at"].tolist()
        changed = prereg.threshold_changed(repro.folder / "reproduction.yaml", claim)
        rows.append(
            {
                "reproduction": repro.name,
                "scale": scale,
                **row,
                "threshold_commit": changed["commit"],
                "threshold_date": changed["date"],
                "runs_finished_at": min(judged, default=""),
                "revised_after_results": prereg.revised_after(changed["date"], judged),
            }
        )
        print(f"{claim['id']}: {row['verdict']} (measured {row['measured']:.4g}; {row['reason']})")
    df = pd.DataFrame(rows, columns=list(tables.COLUMNS["claims"]))
    df = df.astype({"n_seeds": "int64", "min_seeds": "int64", "measured": "float64"})
    df = df.astype({"paper_comparable": "bool", "revised_after_results": "bool"})
    tables.write(df, out, "claims")
    write_text(out_html, report.claims_table_html(df, standalone=True))
    return df


@warm.delegable
def figure(
    *,
    config: dict[str, Any],
    repro_name: str,
    scale: str,
    figure_id: str,
    metrics: Path,
    summary: Path,
    runs: Path,
    out_png: Path,
    out_svg: Path,
) -> None:
    from dlrepro import figures, tables  # matplotlib: imported by figure jobs only

    repro = load_repro(config, repro_name)
    data = figures.FigureData(
        scale=scale,
        metrics=tables.read(metrics, "metrics"),
        summary=tables.read(summary, "summary"),
        runs=tables.read(runs, "runs"),
        reference=repro.reference(),
    )
    draw = repro.figure_functions[figure_id]
    spec = next(f for f in repro.figures if f["id"] == figure_id)
    fig = draw(data)
    figures.save(fig, out_png, out_svg, title=spec["title"])


@warm.delegable
def build_report(
    *, config: dict[str, Any], scale: str, claim_files: list[str], run_files: list[str], out: Path
) -> None:
    from dlrepro import report, tables
    from dlrepro.atomic import write_text

    sections = []
    for claims_path, runs_path in zip(claim_files, run_files, strict=True):
        name = Path(claims_path).parent.name
        sections.append(
            report.Section(
                repro=load_repro(config, name),
                claims=tables.read(claims_path, "claims"),
                runs=tables.read(runs_path, "runs"),
                figure_dir=Path(claims_path).parent / "figures",
            )
        )
    write_text(out, report.render(scale, sections))
