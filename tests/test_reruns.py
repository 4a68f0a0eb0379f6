"""What reruns, through the snakemake CLI: exactly what a change can affect, and nothing else.

Each test copies the toy reproduction (tests/fixtures/toyrepros/toy: softmax regression on
MNIST-1D, a second per run) to a temporary folder, runs it at smoke scale, edits one thing and
asks Snakemake (dry run) which jobs it would run.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake

pytestmark = pytest.mark.workflow

FIXTURE = ROOT / "tests" / "fixtures" / "toyrepros"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory holding a copy of the fixture (`toyrepros/toy`), run once."""
    workdir = tmp_path_factory.mktemp("toy-finished")
    fresh_copy(workdir)
    run(workdir)
    return workdir


@pytest.fixture
def toy(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished working directory (results, Snakemake's records, code)."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True, symlinks=True)
    return tmp_path


def fresh_copy(workdir: Path) -> None:
    shutil.copytree(FIXTURE, workdir / "toyrepros", ignore=shutil.ignore_patterns("__pycache__"))


def config(workdir: Path, *extra: str) -> list[str]:
    # relative to the working directory, so that a copied working directory is up to date
    return ["--config", "scale=smoke", "reproductions_dir=toyrepros", "reproductions=[toy]", *extra]


def run(workdir: Path, *args: str, extra: tuple[str, ...] = (), check: bool = True):
    return snakemake(workdir, "--cores", "2", *args, *config(workdir, *extra), check=check)


def planned(workdir: Path, *args: str, extra: tuple[str, ...] = ()) -> dict[str, int]:
    """The jobs a dry run would execute, by rule ({} when there is nothing to do)."""
    out = run(workdir, "-n", *args, extra=extra).stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    jobs = dict(line.split() for line in table if line.strip())
    return {rule: int(n) for rule, n in jobs.items() if rule not in ("total",)}


def edit_yaml(workdir: Path, change) -> None:
    path = workdir / "toyrepros" / "toy" / "reproduction.yaml"
    spec = yaml.safe_load(path.read_text())
    change(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def claims(workdir: Path, name: str = "toy") -> pd.DataFrame:
    return pd.read_parquet(workdir / "results" / "smoke" / name / "claims.parquet")


def verdict(workdir: Path, claim_id: str, name: str = "toy") -> str:
    c = claims(workdir, name)
    return c.loc[c["claim_id"] == claim_id, "verdict"].item()


def set_threshold(value: float):
    def change(spec):
        spec["claims"][0]["threshold"] = value

    return change


TRAIN_JOBS = 4  # two sweeps x two seeds


def test_a_finished_smoke_run_has_nothing_to_do(toy):
    assert planned(toy) == {}


def test_a_changed_threshold_reruns_the_verdict_and_report_but_no_training(toy):
    assert verdict(toy, "loss_falls") == "reproduced"
    edit_yaml(toy, set_threshold(0.0001))
    plan = planned(toy)
    assert "train" not in plan and plan["claims"] == 1 and plan["report"] == 1
    run(toy)
    assert verdict(toy, "loss_falls") == "not reproduced"
    html = (toy / "results" / "smoke" / "toy" / "report.html").read_text()
    assert "not reproduced" in html
    assert planned(toy) == {}


def test_a_figure_code_edit_reruns_figures_not_training(toy):
    with open(toy / "toyrepros" / "toy" / "figures.py", "a") as f:
        f.write("\n# an edit\n")
    plan = planned(toy)
    assert "train" not in plan and plan["figure"] == 1
    run(toy)
    assert planned(toy) == {}


def test_a_task_code_edit_reruns_training(toy):
    with open(toy / "toyrepros" / "toy" / "task.py", "a") as f:
        f.write("\n# an edit\n")
    assert planned(toy)["train"] == TRAIN_JOBS


def test_a_setting_change_reruns_only_the_runs_that_read_it(toy):
    def change(spec):
        spec["scales"]["smoke"]["sweeps"][1]["settings"]["steps"] = 12

    edit_yaml(toy, change)
    assert planned(toy)["train"] == 2  # the `tune` sweep's two seeds


def test_checkpoint_seconds_never_reruns_a_finished_run(toy):
    assert planned(toy, extra=("checkpoint_seconds=30",)) == {}


def test_a_new_seed_runs_only_that_seed(toy):
    plan = planned(toy, extra=("seeds=[0,1,2]",))
    assert plan["train"] == 2  # seed 2 of each sweep; seeds 0 and 1 are kept
    run(toy, extra=("seeds=[0,1,2]",))
    assert claims(toy)["seeds"].tolist()[0] == "[0, 1, 2]"


def test_an_identical_rebuilt_dataset_retrains_nothing(toy):
    data = toy / "results" / "data" / "mnist1d.pt"
    before = data.stat().st_mtime_ns
    snakemake(toy, "--cores", "1", "-f", "results/data/mnist1d.pt", *config(toy))
    assert data.stat().st_mtime_ns != before  # rebuilt
    assert planned(toy) == {}


def test_a_moved_results_root_is_not_recomputed(toy):
    (toy / "results").rename(toy / "elsewhere")
    assert planned(toy, extra=("results=elsewhere",)) == {}


def test_a_run_that_failed_is_retried_and_resumes_from_its_checkpoint(toy):
    marker = toy / "failed-once"

    def change(spec):
        spec["scales"]["smoke"]["sweeps"][0]["settings"] = {"fail_marker": str(marker)}

    edit_yaml(toy, change)
    proc = run(toy, "--keep-going", check=False)
    assert proc.returncode != 0 and marker.exists()
    # The base sweep's two runs share the marker: whichever reaches step 10 first fails.
    runs = toy / "results/smoke/toy"
    failed = [r for r in ("base-s0", "base-s1") if not (runs / f"runs/{r}/run.json").exists()]
    assert len(failed) == 1
    assert (runs / f"checkpoints/{failed[0]}.pt").exists()
    run(toy)  # the next invocation retries it
    log = (runs / f"logs/train/{failed[0]}.log").read_text()
    assert "resumed from checkpoint at step 10" in log
    assert set(pd.read_parquet(toy / "results/smoke/toy/runs.parquet")["status"]) == {"completed"}


def test_retries_apply_to_a_failed_run(tmp_path):
    fresh_copy(tmp_path)
    marker = tmp_path / "failed-once"
    edit_yaml(tmp_path, lambda spec: spec["defaults"].update(fail_marker=str(marker)))
    run(tmp_path, "--retries", "1")
    assert marker.exists()
    assert set(pd.read_parquet(tmp_path / "results/smoke/toy/runs.parquet")["status"]) == {
        "completed"
    }


def test_a_variant_goes_to_its_own_folder_and_leaves_the_declared_results(toy):
    declared = toy / "results/smoke/toy/claims.parquet"
    before = declared.stat().st_mtime_ns
    run(toy, "toy", extra=("set={toy: {lr: 0.05}}",))
    variant = toy / "results/smoke/toy+lr=0.05"
    assert (variant / "claims.parquet").exists() and (variant / "report.html").exists()
    settings = pd.read_parquet(variant / "runs.parquet")["settings_json"]
    assert settings.str.contains('"lr": 0.05').all()
    assert declared.stat().st_mtime_ns == before
    assert (
        "settings overridden from the reproduction file (--config set): lr = 0.05"
        in (variant / "report.html").read_text()
    )


def test_variant_settings_are_checked_like_declared_ones(toy):
    proc = run(toy, "-n", extra=("set={toy: {lrr: 0.05}}",), check=False)
    assert proc.returncode != 0
    assert "unknown setting 'lrr'; did you mean 'lr'?" in proc.stderr


def test_a_threshold_changed_after_the_runs_is_flagged_revised_after_results(toy):
    folder = toy / "toyrepros"
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    # the thresholds were committed before the runs (which the fixture has already made)
    past = {**os.environ, "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00"}
    subprocess.run([*git, "commit", "-qm", "declare"], check=True, env=past)
    run(toy, "-R", "claims")
    c = claims(toy).set_index("claim_id")
    assert len(c.loc["loss_falls", "threshold_commit"]) == 12
    assert not c.loc["loss_falls", "revised_after_results"]
    edit_yaml(toy, set_threshold(50))
    run(toy)
    c = claims(toy).set_index("claim_id")
    assert c.loc["loss_falls", "threshold_commit"] == "uncommitted"
    assert c.loc["loss_falls", "revised_after_results"]
    assert not c.loc["tuned_lower", "revised_after_results"]
    assert len(c.loc["loss_falls", "spec_sha256"]) == 64


def test_a_run_starts_from_its_base_runs_weights(toy):
    c = claims(toy).set_index("claim_id")
    base = pd.read_parquet(toy / "results/smoke/toy/summary.parquet").set_index("run_id")
    # the tuned run starts where its base run (same seed) ended, so its first loss is lower
    assert base.loc["tune-s0", "first_loss"] < base.loc["base-s0", "first_loss"]
    assert c.loc["tuned_lower", "verdict"] == "reproduced"
    # A deleted run (and the table made from it; Snakemake does not rebuild a missing
    # intermediate file whose results are up to date) is trained again, its base run is not.
    (toy / "results/smoke/toy/runs/tune-s1/run.json").unlink()
    (toy / "results/smoke/toy/summary.parquet").unlink()
    assert planned(toy)["train"] == 1


BAD_FILES = {
    "unknown setting": (
        lambda s: s["scales"]["smoke"]["sweeps"][0].update(settings={"lrr": 0.1}),
        "scales.smoke.sweeps[base].settings sets unknown setting 'lrr'; did you mean 'lr'?",
    ),
    "wrong type": (
        lambda s: s["scales"]["smoke"]["sweeps"][0].update(grid={"steps": ["twenty"]}),
        "sets steps = 'twenty' (str), but its default 20 is a int; use a int",
    ),
    "unknown measure": (
        lambda s: s["claims"][0].update(measure="final_los"),
        "claim 'loss_falls' names measure 'final_los', which measures.MEASURES lacks",
    ),
    "missing sweep": (
        lambda s: s["claims"][0].update(sweeps=["bsae"]),
        "claim 'loss_falls' is judged on sweeps ['bsae'], which scale 'smoke' does not run",
    ),
    "unknown dataset": (
        lambda s: s["scales"]["smoke"].update(datasets=["mnist2d"]),
        "reads dataset 'mnist2d', which dlrepro does not know",
    ),
    "unknown figure": (
        lambda s: s["figures"][0].update(id="losses"),
        "figure 'losses' is not in figures.FIGURES",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_reproduction_file_stops_with_one_line_before_any_job(tmp_path, case):
    fresh_copy(tmp_path)
    change, message = BAD_FILES[case]
    edit_yaml(tmp_path, change)
    proc = run(tmp_path, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
