"""The real workflow, through the snakemake CLI, at smoke scale in a temporary directory."""

import os
import re
import signal
import subprocess
import time

import pandas as pd
import pytest
from conftest import ROOT, SNAKEMAKE, snakemake

from dlrepro import tables
from dlrepro.reproduction import load

pytestmark = pytest.mark.workflow


def test_smoke_run_writes_every_promised_output(smoke_grokking):
    out = smoke_grokking / "results" / "smoke"
    g = out / "grokking"
    assert (out / "report.html").exists() and (g / "report.html").exists()
    for kind in ("metrics", "runs", "summary", "claims"):
        tables.read(g / f"{kind}.parquet", kind)  # documented columns and types
    runs = pd.read_parquet(g / "runs.parquet")
    assert set(runs["status"]) == {"completed"}
    assert len(runs) == len(list((g / "runs").iterdir()))
    for fig in ("curves", "fourier", "norm", "fractions"):
        assert (g / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (g / "figures" / f"{fig}.svg").exists()
    claims = pd.read_parquet(g / "claims.parquet")
    assert set(claims["verdict"]) <= {"reproduced", "not reproduced", "inconclusive"}
    assert len(claims) > 0


def test_the_report_is_self_contained(smoke_grokking):
    html = (smoke_grokking / "results" / "smoke" / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "Power, Burda" in html  # the citation
    claims = [c["id"] for c in load(ROOT / "reproductions" / "grokking").claims]
    assert all(c in html for c in claims)  # every claim
    assert not re.search(r'src="(?!data:)', html), "the report links to an external file"


def test_metrics_are_long_format_with_the_swept_parameters(smoke_grokking):
    m = pd.read_parquet(smoke_grokking / "results" / "smoke" / "grokking" / "metrics.parquet")
    assert {"train", "val", "model", "embed"} <= set(m["split"])
    assert "frac" in m.columns
    assert m.loc[m["sweep"] == "frac", "frac"].notna().all()


def test_a_second_invocation_has_nothing_to_do(smoke_all):
    # the same command as the whole-pipeline run (a narrower `reproductions` list would be a
    # different top-level report, and rightly rebuilt)
    proc = snakemake(smoke_all.workdir, "--cores", "2", "--config", "scale=smoke")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_a_bad_config_value_stops_before_any_job_with_one_message(tmp_path):
    proc = snakemake(tmp_path, "--cores", "1", "--config", "scale=huge", check=False)
    assert proc.returncode != 0
    assert "scale = 'huge' is not allowed; choose one of ['smoke', 'cpu', 'paper']" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


def test_an_unknown_config_key_is_named(tmp_path):
    proc = snakemake(tmp_path, "-n", "--config", "sclae=cpu", check=False)
    assert proc.returncode != 0 and "unknown key 'sclae'" in proc.stderr


def test_same_seed_gives_identical_metrics(smoke_grokking, tmp_path):
    target = "results/smoke/grokking/runs/wd-s0/metrics.parquet"
    snakemake(
        tmp_path, target, "--cores", "1", "--config", "scale=smoke", "reproductions=[grokking]"
    )
    a = pd.read_parquet(smoke_grokking / target).drop(columns="elapsed_s")
    b = pd.read_parquet(tmp_path / target).drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(a, b)


def test_a_killed_run_resumes_from_its_checkpoint_and_matches(smoke_grokking, tmp_path):
    target = "results/smoke/grokking/runs/none-s0/metrics.parquet"
    ckpt = tmp_path / "results/smoke/grokking/checkpoints/none-s0.pt"
    args = ["--cores", "1", "--config", "scale=smoke", "reproductions=[grokking]"]
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(ROOT / "config/config.yaml"),
        "--directory",
        str(tmp_path),
        target,
        *args,
        "checkpoint_seconds=0.05",
    ]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Kill as soon as the first checkpoint is on disk: the whole smoke run takes well under a
    # second, and a run that finishes removes its checkpoint (a 0.3 s wait here lost that race
    # on a fast CPU 2 times in 3).
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "no checkpoint was written before the kill"
    assert not (tmp_path / target).exists(), "the run finished before it could be killed"

    snakemake(tmp_path, "--unlock", *args)
    snakemake(tmp_path, target, *args)
    log = (tmp_path / "results/smoke/grokking/logs/train/none-s0.log").read_text()
    resumed = re.search(r"resumed from checkpoint at step (\d+)", log)
    assert resumed and int(resumed.group(1)) > 0
    a = pd.read_parquet(smoke_grokking / target).drop(columns="elapsed_s")
    b = pd.read_parquet(tmp_path / target).drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(a, b)


def test_snakemakes_own_report_builds_with_figures_and_claims(smoke_grokking, tmp_path):
    out = tmp_path / "report.html"
    snakemake(
        smoke_grokking, "--report", str(out), "--config", "scale=smoke", "reproductions=[grokking]"
    )
    html = out.read_text()
    assert "curves.png" in html and "claims.html" in html
