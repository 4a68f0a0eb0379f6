"""The HTML report, read as a reader would: one row per claim with the verdict, our value beside
the threshold and the paper's, the seeds and the figure; everything else one click away; and
the lines a run ends with."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dlrepro import report, tables

OLD_COLUMNS = [  # a claims table written before the pre-registration columns existed
    "reproduction", "scale", "claim_id", "statement", "paper_value", "paper_source", "measured",
    "op", "threshold", "verdict", "reason", "n_seeds", "seeds", "deviations", "details_json",
]  # fmt: skip


def claims_frame(rows: list[dict[str, Any]], columns: list[str] | None = None) -> pd.DataFrame:
    fill = {"O": "", "i": 0, "f": math.nan, "b": True}
    kinds = tables.COLUMNS["claims"]
    cols = columns or list(kinds)
    df = pd.DataFrame([{c: r.get(c, fill[kinds[c]]) for c in cols} for r in rows])
    return df.astype({c: "int64" for c in cols if kinds[c] == "i"})


def claim(claim_id: str, verdict: str, measured: float, **extra: Any) -> dict[str, Any]:
    return {
        "reproduction": "toy",
        "scale": "cpu",
        "claim_id": claim_id,
        "statement": f"With weight decay,\n  validation accuracy of {claim_id}\n rises.",
        "paper_value": "~1000x",
        "paper_source": "Power et al. 2022, Fig. 1",
        "measured": measured,
        "op": ">=",
        "threshold": "10",
        "verdict": verdict,
        "reason": f"measured {measured} against 10",
        "n_seeds": 3,
        "seeds": "[0, 1, 2]",
        "deviations": "an MLP instead of a transformer " * 8,
        "details_json": json.dumps({"per_seed": {"0": 21.5, "1": 30.0}}),
        **extra,
    }


def toy_repro(claim_specs: list[dict[str, Any]]) -> Any:
    """What the report reads of a Reproduction: name, title, spec, figures, claims."""
    return SimpleNamespace(
        name="toy",
        title="A toy finding",
        spec={
            "summary": "Small networks generalize late.",
            "citations": [{"authors": "Power et al.", "year": 2022, "title": "Grokking"}],
        },
        figures=[{"id": "curves", "title": "Curves", "caption": "Train and validation."}],
        claims=claim_specs,
    )


def rows_of(page: str) -> list[str]:
    return re.findall(r"<tr>.*?</tr><tr class='more'>.*?</tr>", page, re.S)


@pytest.fixture
def figure_dir(tmp_path: Path) -> Path:
    fig = Figure(figsize=(4, 2))
    fig.subplots().plot([0, 1], [0, 1])
    (tmp_path / "figures").mkdir()
    fig.savefig(tmp_path / "figures" / "curves.png")
    return tmp_path / "figures"


def test_a_claim_is_one_row_with_verdict_numbers_seeds_and_figure(figure_dir: Path) -> None:
    claims = claims_frame([claim("delayed", "reproduced", 25.5)])
    repro = toy_repro([{"id": "delayed", "figure": "curves"}])
    page = report.render("cpu", [report.Section(repro, claims, runs_frame(), figure_dir)])
    (row,) = rows_of(page)
    main, more = row.split("<tr class='more'>")
    assert 'background:#1a7f37">reproduced</span>' in main
    assert "<b>25.5</b>" in main and "≥ 10" in main and "~1000x" in main and "0, 1, 2" in main
    assert "With weight decay, validation accuracy of delayed rises." in main  # one line
    assert "href='#toy-fig-curves'" in main and "<figure id='toy-fig-curves'>" in page
    # The long texts are folded under the row, not beside the numbers.
    assert "an MLP instead" not in main and "an MLP instead" in more
    assert "<details>" in more and "<details open" not in page
    assert "measured 25.5 against 10" in more and "per_seed" in more


def test_could_fail_context_only_and_preregistration_are_shown() -> None:
    row = claim(
        "fourier",
        "not reproduced",
        0.6,
        paper_comparable=False,
        could_fail="below 0.8 would fail; random init gives 0.2",
        threshold_commit="abc1234",
        threshold_date="2026-01-02",
        runs_finished_at="2026-01-03",
        revised_after_results=True,
    )
    html = report.claims_table_html(claims_frame([row]))
    main, more = html.split("<tr class='more'>")
    assert "context only" in main and "threshold revised after results" in main
    assert "below 0.8 would fail; random init gives 0.2" in more
    assert "abc1234" in more and "2026-01-02" in more and "2026-01-03" in more


def test_a_table_without_the_newer_columns_still_renders() -> None:
    html = report.claims_table_html(
        claims_frame([claim("old", "inconclusive", math.nan)], columns=OLD_COLUMNS)
    )
    assert "inconclusive" in html and "context only" not in html and "pre-registration" not in html
    assert "measured nan against 10" in html.split("<tr class='more'>")[0]  # why, inline
    assert "<th>figure</th>" not in html  # no column of dashes when no claim names a figure


def test_informative_claims_are_reported_not_judged() -> None:
    row = claim("steps", "inconclusive", 2400.0, op="informative", threshold="null")
    html = report.claims_table_html(claims_frame([row]))
    assert ">reported</span>" in html and "no threshold" in html and ">inconclusive<" not in html


def runs_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["wd-s0"],
            "seed": [0],
            "status": ["completed"],
            "device": ["cpu"],
            "threads": [1],
            "wall_s": [3.0],
            "versions_json": [json.dumps({"torch": "2.14.1"})],
            "git_commit": ["abc"],
            "error": [""],
        }
    )


def test_the_page_opens_offline_and_counts_verdicts(figure_dir: Path) -> None:
    claims = claims_frame(
        [claim("a", "reproduced", 20.0), claim("b", "not reproduced", 2.0)]
        + [claim("c", "inconclusive", math.nan)]
    )
    page = report.render("smoke", [report.Section(toy_repro([]), claims, runs_frame(), figure_dir)])
    assert "Smoke scale" in page
    assert re.search(
        r"<td class='num'>1 / 3</td><td class='num'>1</td><td class='num'>1</td>", page
    )
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert "<script" not in page and "data:image/png;base64," in page


def fake_job(**files: list[str]) -> SimpleNamespace:
    return SimpleNamespace(output=files.get("output", []), log=files.get("log", []))


def test_a_run_ends_with_verdict_counts_and_the_report_path(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "cpu" / "toy"
    folder.mkdir(parents=True)
    claims = claims_frame(
        [claim("a", "reproduced", 20.0), claim("b", "not reproduced", 2.0)]
        + [claim("c", "inconclusive", 5.0, op="informative")]
    )
    tables.write(claims, folder / "claims.parquet", "claims")
    runs_frame().assign(status=["diverged"]).to_parquet(folder / "runs.parquet")
    (tmp_path / "results" / "cpu" / "report.html").write_text("<html>")
    (folder / "report.html").write_text("<html>")
    jobs = [
        fake_job(output=[str(folder / "claims.parquet")]),
        fake_job(output=[str(tmp_path / "results" / "cpu" / "report.html")]),
        fake_job(output=[str(folder / "report.html")]),  # the scale's page holds it
        fake_job(output=[str(tmp_path / "not-built-yet" / "claims.parquet")]),
        fake_job(output=[str(tmp_path / "cmp" / "claims.parquet")]),  # dlrepro compare's
    ]
    (tmp_path / "cmp").mkdir()
    pd.DataFrame({"claim_id": ["a"], "verdict_a": ["reproduced"]}).to_parquet(
        tmp_path / "cmp" / "claims.parquet"
    )
    text = report.end_of_run(jobs)
    assert "toy (cpu): 1 reproduced, 1 not reproduced, 0 inconclusive of 2 judged" in text
    assert "runs completed 0/1" in text
    assert f"report: {tmp_path / 'results' / 'cpu' / 'report.html'}" in text
    assert text.count("report: ") == 1


def test_a_failed_run_names_the_log_and_its_error_line(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "prepare.log"
    log.parent.mkdir()
    log.write_text("prepared nothing\ndlrepro: CIFAR-10 was not found. Remedies:\n  1. set it\n")
    text = report.failure_hint([fake_job(log=[str(log)])], "/x/snakemake.log")
    assert f"open {log}\n    dlrepro: CIFAR-10 was not found. Remedies:" in text
    assert "/x/snakemake.log" not in text
    assert "open /x/snakemake.log" in report.failure_hint([], "/x/snakemake.log")


def test_an_interrupted_run_names_snakemakes_log_given_as_a_list() -> None:
    # After Ctrl-C/SIGTERM, Snakemake hands `onerror` its log as a list of paths
    text = report.failure_hint([], ["/x/snakemake.log"])
    assert "open /x/snakemake.log" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def color_bands(pixels: np.ndarray, hex_color: str) -> int:
    """How many separate horizontal bands of the screenshot hold at least one badge's worth
    of `hex_color` pixels."""
    rgb = [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]
    rows = np.all(np.abs(pixels - rgb) <= 2, axis=-1).sum(axis=1) > 20
    starts = np.flatnonzero(rows & ~np.concatenate([[False], rows[:-1]]))
    return len(starts)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_in_a_browser_the_first_screen_shows_the_claims_verdicts(
    figure_dir: Path, tmp_path: Path
) -> None:
    """A 1280x900 screenshot of the page's top shows each verdict twice: in the legend and
    on the claim's row (so the claims start on the first screen)."""
    claims = claims_frame(
        [claim("a", "reproduced", 20.0), claim("b", "not reproduced", 2.0)]
        + [claim("c", "inconclusive", math.nan)]
    )
    sections = [report.Section(toy_repro([]), claims, runs_frame(), figure_dir)]
    page = tmp_path / "report.html"
    page.write_text(report.render("cpu", sections))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round()
    for verdict in ("reproduced", "not reproduced", "inconclusive"):
        bands = color_bands(pixels, report.VERDICT_COLORS[verdict])
        assert bands >= 2, f"{verdict}: {bands} band(s); the claim rows are below the fold"
