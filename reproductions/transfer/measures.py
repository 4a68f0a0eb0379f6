"""The claims' measures: accuracy differences on B's test images, in points (100 x accuracy).

Every difference is taken per seed against the baseB run of the same seed (same A/B split,
same B training images) and then averaged over the seeds, as Yosinski et al. average their
repeats; each Measurement carries the per-seed values and their spread in `details`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from dlrepro.claims import Measurement

POINTS = 100.0  # accuracy -> percentage points


def baseline(rows: pd.DataFrame, half: str = "B") -> pd.Series:
    """Test accuracy of the base network of `half`, by seed."""
    base = rows[(rows["sweep"] == "base") & (rows["half"] == half)]
    return base.set_index("seed")["test_acc"].astype(float).sort_index()


def versus_base(rows: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """(sweep - baseB) in points: one row per n, one column per seed (NaN where a seed lacks
    its baseB run)."""
    runs = rows[rows["sweep"] == sweep]
    table = runs.pivot_table(index="n", columns="seed", values="test_acc", aggfunc="first")
    base = baseline(rows)
    return (table - base.reindex(table.columns)) * POINTS


def _seeds(table: pd.DataFrame) -> list[int]:
    return sorted(int(s) for s in table.columns[table.notna().all()])


def _curve_details(table: pd.DataFrame) -> dict:
    return {
        "mean_by_n": {int(n): float(v) for n, v in table.mean(axis=1).items()},
        "sd_by_n": {int(n): float(v) for n, v in table.std(axis=1, ddof=0).items()},
        "curve_per_seed": {int(s): {int(n): float(v) for n, v in table[s].items()} for s in table},
    }


def _check(table: pd.DataFrame, sweep: str, min_depths: int = 1) -> str:
    """Why the table cannot be measured ("" when it can)."""
    if table.empty:
        return f"no {sweep} runs (or no baseB run) to compare"
    if table.isna().any().any():
        return f"{sweep}: some seeds lack a baseB run or a depth: {table.to_dict()}"
    if len(table) < min_depths:
        return f"{sweep}: {len(table)} depth(s) run, {min_depths} needed"
    return ""


def deepest_difference(rows: pd.DataFrame, sweep: str) -> Measurement:
    """Mean over seeds of (sweep - baseB) at the deepest n run."""
    table = versus_base(rows, sweep)
    if why := _check(table, sweep):
        return Measurement(None, reason=why)
    top = int(table.index.max())
    return Measurement(
        float(table.loc[top].mean()),
        _seeds(table),
        f"{sweep} - baseB at n={top}, mean over seeds",
        {"n": top, **_curve_details(table)},
        per_seed={int(s): float(v) for s, v in table.loc[top].items()},
    )


def depth_trend(rows: pd.DataFrame, sweep: str) -> Measurement:
    """Spearman rank correlation between n and the mean over seeds of (sweep - baseB)."""
    table = versus_base(rows, sweep)
    if why := _check(table, sweep, min_depths=3):
        return Measurement(None, reason=why)
    curve = table.mean(axis=1)
    rho = spearmanr(curve.index.to_numpy(), curve.to_numpy()).statistic
    return Measurement(float(rho), _seeds(table), "", _curve_details(table))


def mean_difference(rows: pd.DataFrame, sweep: str) -> Measurement:
    """(sweep - baseB) averaged over every n, then over seeds."""
    table = versus_base(rows, sweep)
    if why := _check(table, sweep):
        return Measurement(None, reason=why)
    per_seed = table.mean(axis=0)
    return Measurement(
        float(per_seed.mean()),
        _seeds(table),
        f"mean over n = {list(map(int, table.index))} and seeds",
        _curve_details(table),
        per_seed={int(s): float(v) for s, v in per_seed.items()},
    )


def _middle(table: pd.DataFrame) -> pd.Series:
    """Mean over seeds at the middle depths 2 <= n <= top - 1."""
    curve = table.mean(axis=1)
    top = curve.index.max()
    return curve[(curve.index >= 2) & (curve.index <= top - 1)]


def dip_depth(rows: pd.DataFrame, sweep: str) -> Measurement:
    """How far the curve's lowest middle point lies below both of its ends (baseB, i.e. 0, and
    the deepest n): min(0 - low, top - low), in points; negative when there is no dip."""
    table = versus_base(rows, sweep)
    if why := _check(table, sweep, min_depths=3):
        return Measurement(None, reason=why)
    middle = _middle(table)
    low_n = int(middle.idxmin())
    low, top = float(middle.min()), float(table.mean(axis=1).iloc[-1])
    top_n = int(table.index.max())
    return Measurement(
        min(-low, top - low),
        _seeds(table),
        f"lowest middle depth n={low_n}: {low:+.2f} vs baseB 0 and n={top_n} {top:+.2f}",
        {"dip_n": low_n, "below_base": -low, "below_top": top - low, **_curve_details(table)},
    )


def lowest_middle_difference(rows: pd.DataFrame, sweep: str) -> Measurement:
    """The lowest mean (sweep - baseB) over the middle depths 2 <= n <= top - 1."""
    table = versus_base(rows, sweep)
    if why := _check(table, sweep, min_depths=3):
        return Measurement(None, reason=why)
    middle = _middle(table)
    return Measurement(
        float(middle.min()),
        _seeds(table),
        f"lowest at n={int(middle.idxmin())}",
        _curve_details(table),
    )


def mean_paired(rows: pd.DataFrame, sweep: str, reference: str) -> Measurement:
    """(sweep - reference) in points, paired by n and seed, averaged over n, then over seeds."""
    acc = rows.pivot_table(index="n", columns=["sweep", "seed"], values="test_acc", aggfunc="first")
    if sweep not in acc.columns.levels[0] or reference not in acc.columns.levels[0]:
        return Measurement(None, reason=f"need runs of both {sweep} and {reference}")
    diff = (acc[sweep] - acc[reference]) * POINTS
    if diff.isna().any().any():
        return Measurement(None, reason=f"{sweep} and {reference} do not pair up by n and seed")
    per_seed = diff.mean(axis=0)
    return Measurement(
        float(per_seed.mean()),
        _seeds(diff),
        "",
        _curve_details(diff),
        per_seed={int(s): float(v) for s, v in per_seed.items()},
    )


def _by_seed(runs: pd.DataFrame) -> pd.Series:
    return runs.set_index("seed")["test_acc"].astype(float).sort_index()


def _paired_mean(a: pd.Series, b: pd.Series, what: str) -> Measurement:
    """Mean over seeds of (a - b) in points, paired by seed."""
    diff = ((a - b) * POINTS).dropna()
    if diff.empty:
        return Measurement(None, reason=f"no seed has both runs for {what}")
    return Measurement(
        float(diff.mean()),
        sorted(int(s) for s in diff.index),
        what,
        {"sd": float(diff.std(ddof=0))},
        per_seed={int(s): float(v) for s, v in diff.items()},
    )


def deepest_vs_control(rows: pd.DataFrame, sweep: str, control: str) -> Measurement:
    """sweep at the control's depth minus the control (frozen untrained layers), by seed."""
    ctrl = rows[rows["sweep"] == control]
    if ctrl.empty:
        return Measurement(None, reason=f"no {control} runs")
    depth = int(ctrl["copied_layers"].iloc[0])
    runs = rows[(rows["sweep"] == sweep) & (rows["n"] == depth)]
    return _paired_mean(_by_seed(runs), _by_seed(ctrl), f"{sweep} - {control} at n={depth}")


def few_shot_gap(rows: pd.DataFrame, method: str, per_class: int) -> Measurement:
    """method - scratch at `per_class` training images per class, mean over seeds."""
    at = rows[rows["per_class"] == per_class]
    return _paired_mean(
        _by_seed(at[at["sweep"] == method]),
        _by_seed(at[at["sweep"] == "scratch"]),
        f"{method} - scratch at {per_class} images per class",
    )


def gap_change(rows: pd.DataFrame, method: str, few: int, full_sweep: str) -> Measurement:
    """(method - scratch) at `few` images per class minus the same gap with the full training
    set, where `full_sweep`'s run at the method's depth plays the method and baseB scratch."""
    few_gap = few_shot_gap(rows, method, few)
    depth = rows.loc[rows["sweep"] == method, "copied_layers"]
    if few_gap.value is None or depth.empty:
        return Measurement(None, reason=few_gap.reason or f"no {method} runs")
    full = rows[(rows["sweep"] == full_sweep) & (rows["n"] == int(depth.iloc[0]))]
    full_gap = _paired_mean(_by_seed(full), baseline(rows), f"{full_sweep} - baseB")
    if full_gap.value is None:
        return Measurement(None, reason=full_gap.reason)
    assert few_gap.per_seed is not None and full_gap.per_seed is not None  # _paired_mean's
    per_seed = {
        s: v - full_gap.per_seed[s] for s, v in few_gap.per_seed.items() if s in full_gap.per_seed
    }
    return Measurement(
        float(np.mean(list(per_seed.values()))) if per_seed else math.nan,
        sorted(per_seed),
        f"gap {few_gap.value:+.2f} at {few} per class vs {full_gap.value:+.2f} with all",
        {"few_gap": few_gap.details, "full_gap": full_gap.details},
        per_seed=per_seed,
    )


def base_accuracy(rows: pd.DataFrame, half: str) -> Measurement:
    """Mean test accuracy (percent) of the base network of `half`."""
    acc = baseline(rows, half) * POINTS
    if acc.empty:
        return Measurement(None, reason=f"no base run of half {half}")
    return Measurement(
        float(acc.mean()),
        sorted(int(s) for s in acc.index),
        "",
        {"per_seed": {int(s): float(v) for s, v in acc.items()}},
    )


MEASURES = {
    "deepest_difference": deepest_difference,
    "depth_trend": depth_trend,
    "mean_difference": mean_difference,
    "dip_depth": dip_depth,
    "lowest_middle_difference": lowest_middle_difference,
    "mean_paired": mean_paired,
    "deepest_vs_control": deepest_vs_control,
    "few_shot_gap": few_shot_gap,
    "gap_change": gap_change,
    "base_accuracy": base_accuracy,
}
