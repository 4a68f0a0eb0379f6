"""The README's commands work as printed: every ```bash block runs, in order, in one scratch
folder, unless the line before it says `<!-- not run by tests/test_readme.py: why -->`. The
whole-pipeline block runs from an empty folder once per session (conftest's `smoke_all`, which
other tests read too); the scratch folder starts as a copy of its result.

`snakemake` in a block is the venv's, pointed at this repository's Snakefile and config with
the scratch folder as its working directory; `dlrepro` is the installed console script."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    README,
    ROOT,
    WHOLE_PIPELINE,
    SmokeRun,
    bash_blocks,
    copy_workdir,
    run_bash_block,
    snakemake,
)

from dlrepro import tables
from dlrepro.reproduction import discover

SKIP = re.compile(r"<!-- not run by tests/test_readme\.py: (?P<why>.+?) -->")
BLOCKS = [
    (line, body, skip.group("why") if (skip := SKIP.fullmatch(before.strip())) else None)
    for line, body, before in bash_blocks(README.read_text())
]
RUN = [(line, body) for line, body, why in BLOCKS if why is None]


@pytest.fixture(scope="module")
def scratch(smoke_all: SmokeRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the blocks run in, in order: it starts as a copy of the whole-pipeline
    block's folder (that block runs once per session, from an empty folder: `smoke_all`)."""
    return copy_workdir(smoke_all.workdir, tmp_path_factory.mktemp("readme"))


def test_every_bash_block_is_run_or_says_why_not() -> None:
    skipped = [(line, why) for line, _, why in BLOCKS if why is not None]
    assert len(RUN) >= 4, "the README's runnable examples are what this test checks"
    assert all(len(why) > 10 for _, why in skipped), skipped


@pytest.mark.workflow
@pytest.mark.parametrize("line,body", RUN, ids=[f"README.md:{line}" for line, _ in RUN])
def test_readme_block_runs_as_printed(
    line: int, body: str, scratch: Path, smoke_all: SmokeRun
) -> None:
    if WHOLE_PIPELINE in body:  # run from an empty folder by the session fixture
        proc, workdir = smoke_all.proc, smoke_all.workdir
        assert (line, body) == (smoke_all.line, smoke_all.body)
    else:
        proc, workdir = run_bash_block(body, scratch), scratch
    assert proc.returncode == 0, (
        f"README.md line {line}:\n{body}\nfailed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    if WHOLE_PIPELINE in body:  # the README shows how such a run ends
        out = proc.stdout + proc.stderr
        assert "dlrepro: verdicts\n  " in out
        assert f"report: {workdir.resolve() / 'results' / 'smoke' / 'report.html'}" in out
        # ... and that every reproduction ran end to end (the workflow's smoke test)
        out_dir = workdir / "results" / "smoke"
        html = (out_dir / "report.html").read_text()
        for name in discover():
            runs = pd.read_parquet(out_dir / name / "runs.parquet")
            assert set(runs["status"]) == {"completed"}, name
            assert len(tables.read(out_dir / name / "claims.parquet", "claims")) > 0, name
            assert f"id='{name}'" in html, name


@pytest.mark.workflow
def test_nested_config_keys_arrive_typed(tmp_path: Path) -> None:
    """`'data={download: false}'` reaches the workflow as the boolean false: CIFAR-10 is absent,
    and the prepare job says downloads are disabled instead of trying one. The failed run ends
    by naming the job's log and the error in it."""
    proc = snakemake(
        tmp_path,
        "--cores",
        "1",
        "results/data/cifar10.pt",
        "--config",
        "data={download: false}",
        check=False,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "downloads are disabled (data.download: false)" in out
    assert "dlrepro: the run failed." in out
    assert re.search(r"open .*logs/data/cifar10\.log\n\s+dlrepro: CIFAR-10 was not found", out)


def test_dotted_config_keys_are_refused_by_snakemake_as_the_readme_says(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, "-n", "--config", "data.download=false", check=False)
    assert proc.returncode != 0
    assert "Config entry must start with a valid identifier" in proc.stdout + proc.stderr
    assert "refuses the dotted form `data.download=false`" in README.read_text()


def test_the_conda_environment_lists_the_pinned_packages() -> None:
    """`--sdm conda` builds envs/dlrepro.yaml: the same pins as envs/requirements.txt, and no
    relative path or editable install (Snakemake builds it away from this folder)."""
    import yaml

    env = yaml.safe_load((ROOT / "envs" / "dlrepro.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = [
        line.strip()
        for line in (ROOT / "envs" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pip == pins
    assert not any(p.startswith(("-e", "-r", ".")) or "/" in p for p in pip)


def test_dependencies_are_declared_where_the_code_uses_them() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=!~ ]", d)[0].lower() for d in project["dependencies"]}
    assert {"numpy", "snakemake", "torch", "mnist1d"} <= names
    assert "snakemake[reports]" in " ".join(project["dependencies"])
    assert "scikit-image" not in names
    assert set(project["optional-dependencies"]["dev"]) and project["scripts"]["dlrepro"]
    dev = {re.split(r"[\[<>=!~ ]", d)[0] for d in project["optional-dependencies"]["dev"]}
    assert dev == {"pytest", "ruff", "snakefmt"}
    assert project["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()
