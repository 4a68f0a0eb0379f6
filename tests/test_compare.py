"""`dlrepro compare A B`: two result sets, built here by hand with the table writers, side by
side claim by claim. B is A with one claim's measured value (and so its verdict) changed, a
newer torch, another dataset checksum and another learning rate."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import snakemake

from dlrepro import compare, tables
from dlrepro.errors import UserError

FILL = {"O": "", "i": 0, "f": math.nan, "b": False}


def frame(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A table of `kind` with every documented column: the given values, the rest blank."""
    full = [{**{c: FILL[t] for c, t in tables.COLUMNS[kind].items()}, **r} for r in rows]
    df = pd.DataFrame(full)
    return df.astype({c: "int64" for c, t in tables.COLUMNS[kind].items() if t == "i"})


def claim(claim_id: str, measured: float, verdict: str, **extra: Any) -> dict[str, Any]:
    return {
        "reproduction": "grokking",
        "scale": "cpu",
        "claim_id": claim_id,
        "statement": f"the statement of {claim_id}",
        "measured": measured,
        "op": ">=",
        "threshold": "10",
        "verdict": verdict,
        "reason": f"measured {measured}",
        "n_seeds": 3,
        "seeds": "[0, 1, 2]",
        **extra,
    }


def run(run_id: str, torch: str, sha: str, lr: float) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "reproduction": "grokking",
        "scale": "cpu",
        "sweep": "wd",
        "status": "completed",
        "device": "cpu",
        "threads": 1,
        "torch_version": torch,
        "git_commit": "abc123",
        "settings_json": json.dumps({"lr": lr, "p": 97}),
        "versions_json": json.dumps({"torch": torch, "numpy": "2.4.6"}),
        "data_json": json.dumps({"modular": {"sha256": sha}}),
        "started_at": "2026-01-01T00:00:00",  # wall clock: never reported as a difference
    }


def curve(run_id: str, scale: float) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "step": s, "split": sp, "metric": "acc", "value": scale * s / 100}
        for s in range(0, 101, 20)
        for sp in ("train", "val")
    ]


def write_side(
    root: Path,
    measured: float,
    verdict: str,
    torch: str = "2.14.1",
    sha: str = "aaa",
    lr: float = 1e-3,
    extra_claim: bool = True,
) -> Path:
    folder = root / "cpu" / "grokking"
    claims = [
        claim("delayed_generalization", measured, verdict),
        claim("norm_falls", 0.2, "reproduced"),
    ]
    if extra_claim:
        claims.append(claim("l1_also_groks", 0.97, "reproduced"))
    tables.write(frame("claims", claims), folder / "claims.parquet", "claims")
    runs = [run("wd-s0", torch, sha, lr), run("wd-s1", torch, sha, lr)]
    tables.write(frame("runs", runs), folder / "runs.parquet", "runs")
    scale = 1.0 if verdict == "reproduced" else 0.5
    metrics = frame("metrics", curve("wd-s0", scale) + curve("wd-s1", scale))
    tables.write(metrics, folder / "metrics.parquet", "metrics")
    return root / "cpu"


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path]:
    a = write_side(tmp_path / "a", measured=25.0, verdict="reproduced")
    b = write_side(
        tmp_path / "b", 4.0, "not reproduced", torch="2.15.0", sha="bbb", lr=3e-3, extra_claim=False
    )
    # A second reproduction only A has.
    other = tmp_path / "a" / "cpu" / "alexnet"
    tables.write(
        frame("claims", [claim("relu_faster", 6.0, "reproduced")]),
        other / "claims.parquet",
        "claims",
    )
    tables.write(frame("runs", [run("r-s0", "2.14.1", "x", 0.01)]), other / "runs.parquet", "runs")
    tables.write(frame("metrics", curve("r-s0", 1.0)), other / "metrics.parquet", "metrics")
    return a, b


def test_changed_verdict_comes_first_with_both_values(sides: tuple[Path, Path]) -> None:
    c = compare.compare(*sides)
    first = c.claims.iloc[0]
    assert first["claim_id"] == "delayed_generalization" and bool(first["verdict_changed"])
    assert (first["measured_a"], first["verdict_a"]) == (25.0, "reproduced")
    assert (first["measured_b"], first["verdict_b"]) == (4.0, "not reproduced")
    same = c.claims[c.claims["claim_id"] == "norm_falls"].iloc[0]
    assert not same["verdict_changed"] and not same["value_changed"]
    assert c.changed["claim_id"].tolist() == ["delayed_generalization"]


def test_missing_reproduction_and_claim_are_listed_not_fatal(sides: tuple[Path, Path]) -> None:
    c = compare.compare(*sides)
    assert any("reproduction alexnet: only in A" in m for m in c.missing)
    assert "claim grokking/l1_also_groks: only in A" in c.missing
    only_a = c.claims[~c.claims["in_b"]]
    assert set(only_a["claim_id"]) == {"l1_also_groks", "relu_faster"}
    assert (only_a["verdict_b"] == "").all() and only_a["measured_b"].isna().all()


def test_provenance_that_differs_names_the_field(sides: tuple[Path, Path]) -> None:
    prov = compare.compare(*sides).provenance.set_index("field")
    assert prov.loc["torch_version", "a"] == "2.14.1" and prov.loc["torch_version", "b"] == "2.15.0"
    assert prov.loc["data.modular.sha256", "b"] == "bbb"
    assert prov.loc["settings.lr", "a"] == "0.001" and prov.loc["settings.lr", "b"] == "0.003"
    assert "versions.torch" in prov.index
    for same in ("settings.p", "versions.numpy", "git_commit", "device", "started_at"):
        assert same not in prov.index


def test_page_is_self_contained_flags_the_change_and_draws_both_sides(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    c = compare.compare(*sides)
    paths = compare.write(c, tmp_path / "out")
    page = paths["html"].read_text()
    changed_row = re.search(r"<tr class='changed'>.*?</tr>", page, re.S)
    assert changed_row and "grokking/delayed_generalization" in changed_row.group(0)
    assert page.count("<tr class='changed'>") == 1
    assert page.index("delayed_generalization") < page.index("norm_falls")
    assert "torch_version" in page and "2.15.0" in page and "only in A" in page
    assert page.count("data:image/png;base64,") == 2  # one curves figure per reproduction
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)  # opens offline
    table = pd.read_parquet(paths["claims"])
    assert table.loc[table["verdict_changed"], "claim_id"].tolist() == ["delayed_generalization"]
    assert len(pd.read_parquet(paths["provenance"])) == len(c.provenance)


def test_curves_put_both_sides_on_the_same_axes() -> None:
    a = frame("metrics", curve("wd-s0", 1.0))
    b = frame("metrics", curve("wd-s0", 0.5))
    png = compare.curves_png("grokking", a, b)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert compare._panels(a, b) == [("train", "acc"), ("val", "acc")]
    assert compare.curves_png("grokking", None, None) is None


def test_a_results_root_with_one_scale_stands_for_that_scale(sides: tuple[Path, Path]) -> None:
    a, b = sides
    assert compare.scale_folder(a.parent) == a
    shutil.copytree(a, a.parent / "paper")
    with pytest.raises(UserError, match="several scales .*cpu.*paper.*name one"):
        compare.scale_folder(a.parent)


def test_a_folder_without_results_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds no results: expected <reproduction>/claims"):
        compare.compare(tmp_path, tmp_path)
    with pytest.raises(UserError, match="is not a folder"):
        compare.compare(tmp_path / "nope", tmp_path)


def test_unreadable_tables_are_reported_and_the_rest_compared(sides: tuple[Path, Path]) -> None:
    a, b = sides
    (b / "grokking" / "runs.parquet").write_bytes(b"not parquet")
    (b / "grokking" / "metrics.parquet").unlink()
    c = compare.compare(a, b)
    assert any("runs.parquet cannot be read" in p for p in c.b.problems)
    assert any("metrics.parquet is missing" in p for p in c.b.problems)
    assert bool(c.claims.iloc[0]["verdict_changed"]) and c.provenance.empty


def test_console_script_prints_the_changed_verdict(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "dlrepro"
    assert script.exists(), "the package installs a `dlrepro` console script (pip install -e .)"
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [str(script), "compare", str(sides[0]), str(sides[1]), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 changed verdict" in proc.stdout
    assert (
        "changed grokking/delayed_generalization: reproduced (25) -> not reproduced (4)"
        in proc.stdout
    )
    assert (out / "compare.html").exists()
    bad = subprocess.run(
        [str(script), "compare", str(tmp_path / "nope"), str(sides[1])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0
    assert bad.stderr.startswith("dlrepro: ") and "is not a folder" in bad.stderr


def test_the_stamp_changes_only_when_a_table_changes(sides: tuple[Path, Path]) -> None:
    a, b = sides
    before = compare.stamp(a, b)
    assert compare.stamp(a, b) == before
    tables.write(
        pd.read_parquet(b / "grokking" / "claims.parquet"), b / "grokking" / "x.parquet", "claims"
    )
    assert compare.stamp(a, b) == before  # not a table a comparison reads
    claims = pd.read_parquet(b / "grokking" / "claims.parquet")
    tables.write(claims.assign(measured=5.0), b / "grokking" / "claims.parquet", "claims")
    assert compare.stamp(a, b) != before


@pytest.mark.workflow
def test_snakemake_target_compares_two_folders_as_they_are(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    for label, side in zip("ab", sides, strict=True):
        shutil.copytree(side, work / label / "cpu")
    target = "compare/a/cpu--vs--b/cpu/compare.html"
    proc = snakemake(work, "--cores", "1", target)
    assert "changed grokking/delayed_generalization: reproduced (25) -> not reproduced (4)" in (
        proc.stdout + proc.stderr
    )
    assert "<tr class='changed'>" in (work / target).read_text()
    table = pd.read_parquet(work / "compare/a/cpu--vs--b/cpu/claims.parquet")
    assert table["verdict_changed"].sum() == 1
    again = snakemake(work, "--cores", "1", target)
    assert "Nothing to be done" in again.stdout + again.stderr
    claims = pd.read_parquet(work / "b/cpu/grokking/claims.parquet")
    tables.write(
        claims.assign(measured=30.0, verdict="reproduced"),
        work / "b/cpu/grokking/claims.parquet",
        "claims",
    )
    snakemake(work, "--cores", "1", target)
    table = pd.read_parquet(work / "compare/a/cpu--vs--b/cpu/claims.parquet")
    assert table["verdict_changed"].sum() == 0
