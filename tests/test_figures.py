"""Shared figure helpers: a figure is saved whatever the runs reached."""

from pathlib import Path

import numpy as np

from dlrepro.figures import new, save


def test_a_log_axis_with_no_positive_value_is_saved_linear_with_a_note(tmp_path: Path) -> None:
    # At smoke scale no grokking run reaches 99%: every step-to-99% value is NaN.
    fig, (ax,) = new()
    ax.scatter([0.3, 0.5], [np.nan, np.nan])
    ax.set_yscale("log")
    save(fig, tmp_path / "f.png", tmp_path / "f.svg")
    assert (tmp_path / "f.png").stat().st_size > 0
    assert "no positive value to draw on the log y axis" in (tmp_path / "f.svg").read_text()


def test_a_log_axis_with_positive_values_stays_log(tmp_path: Path) -> None:
    fig, (ax,) = new()
    ax.scatter([0.3, 0.5], [10.0, 1000.0])
    ax.set_yscale("log")
    save(fig, tmp_path / "f.png", tmp_path / "f.svg")
    assert ax.get_yscale() == "log"
