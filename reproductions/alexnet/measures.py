"""The claims' measures: each turns summary rows (one per run) into one number.

Every function receives the summary rows of its claim's sweeps and the claim's `args` from
reproduction.yaml; none of them knows a threshold unless the file
passes it (the censoring rule of `activation_speedup` needs it to stay honest).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlrepro.claims import Measurement
from dlrepro.longform import over_seeds, reference_value
from dlrepro.reproduction import load_reference

REFERENCE = Path(__file__).with_name("reference.csv")  # the papers' numbers
XIAO = "Xiao et al. 2017, Table 3"
ILSVRC = "Krizhevsky et al. 2012, Table 2"


def xiao_table3() -> dict[str, float]:
    """Fashion-MNIST test accuracy of the best setting of each family in Xiao et al. Table 3."""
    ref = load_reference(REFERENCE)
    rows = ref[ref["source"] == XIAO]
    return {str(r.series): float(r.y) for r in rows.itertuples()}


def _select(rows: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    for key, want in where.items():
        if key not in rows.columns:
            return rows.iloc[0:0]
        rows = rows[rows[key] == want]
    return rows


def rate_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per learning rate, the median over seeds of the epochs to the error threshold (a seed
    that never reached it counts as never, +inf, so the rate's median is "never" once half
    its seeds are) and of the final running training error."""
    never_inf = rows.assign(epochs_to_threshold=rows["epochs_to_threshold"].fillna(math.inf))
    return pd.DataFrame(
        {
            "epochs": over_seeds(never_inf, "epochs_to_threshold", by="lr"),
            "final_error": over_seeds(rows, "final_running_error", by="lr"),
        }
    )


def best_lr(rows: pd.DataFrame) -> float:
    """The rate with the fewest epochs to the threshold; among rates that never reach it, the
    lowest final running error (this only names the rate; a censored value never enters a
    ratio). The Fig. 1 claim and figure both use it."""
    table = rate_table(rows).sort_values(["epochs", "final_error"], kind="stable")
    return float(table.index[0])


def activation_speedup(
    rows: pd.DataFrame,
    where: dict[str, Any] | None = None,
    max_epochs: float | None = None,
    decisive_above: float | None = None,
    edge: str = "flag",
) -> Measurement:
    """Epochs-to-threshold of tanh divided by ReLU's, each at its best learning rate.

    Each activation runs at its `best_lr` (tuned on its own grid, as Fig. 1 tuned each net's
    rate). If tanh's median never reaches the threshold at any rate but ReLU's does, the
    ratio is only known to exceed (tanh's floor) / relu, the floor counting each seed that
    never got there at the epochs it ran (or `max_epochs`); that lower bound is the value only
    when it is at least `decisive_above` (then the claim holds whatever the true ratio), and
    the claim is inconclusive otherwise.

    A best rate at either end of its activation's grid means the grid did not bracket the
    fastest rate: `edge: flag` says so in the reason and details, `edge: inconclusive` makes
    the claim inconclusive.
    """
    rows = _select(rows, where or {})
    if rows.empty:
        return Measurement(None, reason=f"no runs match {where}")
    best: dict[str, tuple[float, float]] = {}
    per_lr: dict[str, dict[str, float]] = {}
    for act in ("relu", "tanh"):
        sub = rows[rows["activation"] == act]
        if sub.empty:
            return Measurement(None, reason=f"no {act} runs among {where}")
        table = rate_table(sub)
        per_lr[act] = {f"{lr:g}": float(e) for lr, e in table["epochs"].items()}
        lr_best = best_lr(sub)
        best[act] = (lr_best, float(table.loc[lr_best, "epochs"]))
    seeds = sorted(int(s) for s in rows["seed"].unique())
    at_edge = {
        act: best[act][0] in (min(map(float, per_lr[act])), max(map(float, per_lr[act])))
        for act in best
    }
    details = {
        "epochs_by_lr": per_lr,
        "best_lr": {a: best[a][0] for a in best},
        "epochs": {a: best[a][1] for a in best},
        "best_lr_at_grid_edge": at_edge,
        "where": where or {},
    }
    edges = [f"{a} (lr {best[a][0]:g})" for a, e in at_edge.items() if e]
    if edges and edge == "inconclusive":
        return Measurement(
            None,
            seeds,
            f"best learning rate at the edge of its grid for {', '.join(edges)}: the grid did "
            "not bracket the fastest rate",
            details,
        )
    note = f"; best rate at the grid's edge for {', '.join(edges)}" if edges else ""
    relu, tanh = best["relu"][1], best["tanh"][1]
    if not math.isfinite(relu):
        return Measurement(
            None, seeds, "ReLU never reached the error threshold at any rate", details
        )
    if not math.isfinite(tanh):
        # A bound on tanh's best median: at each rate, a seed that never reached the threshold
        # counts at the epochs it ran (a diverged one, with no epochs recorded, at the longest
        # any run ran), and the rate's median of those is a floor of its true median; the
        # smallest floor over the rates bounds tanh's best. With 2 seeds, one that reached the
        # threshold early pulls its rate's floor below the cap, which the cap alone would hide.
        cap = max_epochs if max_epochs is not None else float(rows["epochs_run"].max())
        tanh_rows = rows[rows["activation"] == "tanh"]
        ran = tanh_rows["epochs_run"] if max_epochs is None else cap
        floor = tanh_rows.assign(
            epochs_to_threshold=tanh_rows["epochs_to_threshold"].fillna(
                pd.Series(ran, index=tanh_rows.index).fillna(cap)
            )
        )
        tanh_floor = float(over_seeds(floor, "epochs_to_threshold", by="lr").min())
        bound = tanh_floor / relu
        details["tanh_floor_epochs"] = tanh_floor
        details["lower_bound"] = bound
        if decisive_above is not None and bound >= decisive_above:
            return Measurement(
                bound,
                seeds,
                f"tanh (median over seeds) never reached the threshold within {cap:g} "
                f"epochs; ratio ≥ {bound:.3g}{note}",
                details,
            )
        return Measurement(
            None,
            seeds,
            f"tanh (median over seeds) never reached the threshold within {cap:g} epochs; "
            f"the ratio is only known to exceed {bound:.3g}{note}",
            details,
        )
    ratio = tanh / relu
    return Measurement(
        ratio,
        seeds,
        f"tanh {tanh:g} / ReLU {relu:g} epochs = {ratio:.3g} (best rates "
        f"{best['tanh'][0]:g}, {best['relu'][0]:g}){note}",
        details,
        per_seed=_ratio_per_seed(rows, best["tanh"][0], best["relu"][0]),
    )


def _ratio_per_seed(rows: pd.DataFrame, lr_tanh: float, lr_relu: float) -> dict[int, float] | None:
    """Each seed's tanh / ReLU epochs at the two best rates (a tanh seed that never reached the
    threshold: +inf); None if a ReLU seed never did (no ratio to state)."""

    def epochs(act: str, lr: float) -> dict[int, float]:
        sub = rows[(rows["activation"] == act) & (rows["lr"] == lr)]
        return {
            int(s): float(e) for s, e in zip(sub["seed"], sub["epochs_to_threshold"], strict=True)
        }

    tanh, relu = epochs("tanh", lr_tanh), epochs("relu", lr_relu)
    if any(not math.isfinite(v) for v in relu.values()):
        return None
    return {
        s: (tanh[s] if math.isfinite(tanh[s]) else math.inf) / relu[s] for s in relu if s in tanh
    }


def baseline_deviation(rows: pd.DataFrame, methods: list[str]) -> Measurement:
    """Largest |our test accuracy − Xiao et al. Table 3| over `methods` (median over seeds);
    the other methods Table 3 lists are in the details."""
    paper = xiao_table3()
    if "method" not in rows.columns:
        return Measurement(None, reason="no classical runs (no 'method' column)")
    cls = rows[rows["method"].notna()]
    ours = over_seeds(cls, "test_acc", by="method").to_dict()
    missing = sorted(m for m in methods if m not in ours or m not in paper)
    if missing:
        return Measurement(None, reason=f"no runs or no Table 3 value for {missing}")
    compared = {m: ours[m] - paper[m] for m in paper if m in ours}
    worst = max(methods, key=lambda m: abs(compared[m]))
    return Measurement(
        abs(compared[worst]),
        sorted(int(s) for s in cls["seed"].unique()),
        f"largest deviation among {methods}: {worst} {ours[worst]:.4f} vs {paper[worst]:.3f}",
        {"ours": ours, "paper": paper, "difference": compared, "judged": methods},
    )


def cnn_vs_classical(
    rows: pd.DataFrame,
    cnn_sweep: str,
    classical_sweep: str,
    against_table3: bool = False,
) -> Measurement:
    """The CNN's worst seed's test error / the best classical test error.

    The best classical error is ours (each method's median over seeds); with
    `against_table3`, the lower of that and Xiao et al.'s best Table 3 error, so that a weak
    classical run of ours cannot make the CNN look better. The worst CNN seed is used so
    that the claim holds for every seed run, not just on average.
    """
    cls = rows[rows["sweep"] == classical_sweep]
    cnn = rows[rows["sweep"] == cnn_sweep]
    if cls.empty or cnn.empty:
        return Measurement(None, reason=f"need runs of both {cnn_sweep} and {classical_sweep}")
    errors = over_seeds(cls, "test_error", by="method").to_dict()
    ref = load_reference(REFERENCE)
    if against_table3:
        errors.update({f"Table 3 {m}": 1 - a for m, a in xiao_table3().items()})
    best = min(errors, key=lambda m: errors[m])
    per_seed = {int(s): float(e) for s, e in zip(cnn["seed"], cnn["test_error"], strict=True)}
    # A seed without a test error must not drop out of the worst-seed maximum (max() skips a
    # NaN that is not first), nor a classical method out of the minimum.
    missing = sorted(s for s, e in per_seed.items() if not math.isfinite(e))
    if missing or not math.isfinite(errors[best]) or any(math.isnan(e) for e in errors.values()):
        return Measurement(
            None,
            sorted(per_seed),
            f"no test error for CNN seed(s) {missing} or a classical method: {errors}",
        )
    cnn_err = max(per_seed.values())
    return Measurement(
        cnn_err / errors[best],
        sorted(per_seed),
        f"CNN test error (worst of {len(per_seed)} seeds) {cnn_err:.4f} vs best classical "
        f"({best}) {errors[best]:.4f}",
        {
            "cnn_worst_seed_error": cnn_err,
            "cnn_median_error": float(np.median(list(per_seed.values()))),
            "cnn_per_seed": per_seed,
            "classical_errors": errors,
            "best_classical": best,
            "paper_ratio": reference_value(ref, "CNN vs SIFT+FVs", ILSVRC)
            / reference_value(ref, "SIFT+FVs", ILSVRC),
        },
    )


def paired_difference(
    rows: pd.DataFrame,
    column: str,
    param: str,
    off: Any,
    on: Any,
) -> Measurement:
    """Median over seeds of `column`(param=off) − `column`(param=on), paired by seed."""
    diffs: dict[int, float] = {}
    per: dict[str, dict[int, float]] = {"off": {}, "on": {}}
    for seed, grp in rows.groupby("seed"):
        a = grp[grp[param] == off][column]
        b = grp[grp[param] == on][column]
        if len(a) == 1 and len(b) == 1:
            diffs[int(seed)] = float(a.iloc[0]) - float(b.iloc[0])
            per["off"][int(seed)] = float(a.iloc[0])
            per["on"][int(seed)] = float(b.iloc[0])
    if not diffs:
        return Measurement(None, reason=f"no seed has both {param}={off} and {param}={on}")
    return Measurement(
        float(np.median(list(diffs.values()))),
        sorted(diffs),
        f"{column}: {param}={off} minus {param}={on}, median over seeds",
        {f"{param}={off}": per["off"], f"{param}={on}": per["on"]},
        per_seed=diffs,
    )


def dropout_effect(rows: pd.DataFrame, param: str, off: Any, on: Any) -> Measurement:
    """The smaller of two paired (by seed) medians: how much dropout shrinks the train-test
    accuracy gap, and how much it lowers test error. Positive only if it does both."""
    gap = paired_difference(rows, "gap", param, off, on)
    err = paired_difference(rows, "test_error", param, off, on)
    if gap.value is None or err.value is None:
        return gap if gap.value is None else err
    value = min(gap.value, err.value)
    both = sorted(set(gap.seeds) & set(err.seeds))
    assert gap.per_seed is not None and err.per_seed is not None  # paired_difference sets them
    return Measurement(
        value,
        both,
        f"gap without - with dropout {gap.value:+.4f}; test error without - with "
        f"{err.value:+.4f} (medians over seeds, paired)",
        {"gap": gap.details, "test_error": err.details},
        per_seed={s: min(gap.per_seed[s], err.per_seed[s]) for s in both},
    )


MEASURES = {
    "activation_speedup": activation_speedup,
    "dropout_effect": dropout_effect,
    "baseline_deviation": baseline_deviation,
    "cnn_vs_classical": cnn_vs_classical,
    "paired_difference": paired_difference,
}
