"""A new image-classification finding, written as a new user would from reproductions/README.md
(a Glorot & Bengio initialization study, tests/fixtures/findings/glorot), fits in at most 150
lines of Python beside its yaml and runs end to end at smoke scale through the workflow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import snakemake

from dlrepro import tables
from dlrepro.reproduction import load

FINDINGS = Path(__file__).parent / "fixtures" / "findings"
GLOROT = FINDINGS / "glorot"


def test_the_example_is_at_most_150_lines_of_python_and_passes_the_engines_checks():
    lines = sum(len(p.read_text().splitlines()) for p in GLOROT.glob("*.py"))
    assert lines <= 150, f"{lines} lines of Python"
    repro = load(GLOROT)
    repro.check_code()
    assert {r.params["init"] for r in repro.runs("smoke")} == {"standard", "normalized"}


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs Fashion-MNIST: apt-get install -y dataset-fashion-mnist",
)
def test_the_example_runs_end_to_end_at_smoke_scale(tmp_path):
    snakemake(
        tmp_path,
        "--cores",
        "2",
        "--config",
        "scale=smoke",
        f"reproductions_dir={FINDINGS}",
        "reproductions=[glorot]",
    )
    out = tmp_path / "results" / "smoke" / "glorot"
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["status"]) == {"completed"} and len(runs) == 2
    claims = tables.read(out / "claims.parquet", "claims").set_index("claim_id")
    # At initialization the two inits already differ as the paper says, even at smoke scale.
    assert claims.loc["standard_init_shrinks_activations", "verdict"] == "reproduced"
    # The normalized init keeps more of the spread than the standard one (0.45 vs 0.09 here);
    # whether it keeps 0.7 of it, as the example claims, is the example's verdict to report.
    kept = claims.loc["normalized_init_keeps_activations", "measured"]
    assert kept > 3 * claims.loc["standard_init_shrinks_activations", "measured"]
    assert (out / "figures" / "activations.png").stat().st_size > 0
