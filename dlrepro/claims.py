"""Turn a claim's measured value into a verdict: reproduced, not reproduced or inconclusive.

A claim is data in reproduction.yaml (statement, the paper's value, the measure, the sweeps it
is judged on, the comparison and its threshold). The measure is a function in the
reproduction's measures.MEASURES that returns a `Measurement`; this module only compares, so
that thresholds live in the reproduction file and nothing here knows about any result.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

OPS = {
    ">=": lambda v, t: v >= t,
    "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
    "between": lambda v, t: t[0] <= v <= t[1],
}


@dataclass
class Measurement:
    """What a measure function found. `value=None` (with a reason) makes a claim inconclusive.

    A value that summarizes several seeds (a median, a mean) or comes from a fit carries its
    uncertainty, and the claim is decided only when the uncertainty does not straddle the
    threshold (see `judge`): `per_seed` is each seed's own value of the same quantity,
    `interval` a fit's 95% confidence interval for the value.
    """

    value: float | None
    seeds: list[int] = field(default_factory=list)
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    per_seed: dict[int, float] | None = None
    interval: tuple[float, float] | None = None


def median_over_seeds(per_seed: dict[int, float | None], what: str) -> Measurement:
    """The median over seeds; inconclusive if any seed lacks a value (e.g. the event never came)."""
    missing = sorted(s for s, v in per_seed.items() if v is None or not math.isfinite(v))
    if not per_seed:
        return Measurement(None, reason=f"no runs to measure {what}")
    if missing:
        return Measurement(
            None,
            seeds=sorted(per_seed),
            reason=f"{what} not reached within the budget for seed(s) {missing}",
            details={"per_seed": per_seed},
        )
    return Measurement(
        float(np.median(list(per_seed.values()))),
        seeds=sorted(per_seed),
        per_seed=per_seed,  # type: ignore[arg-type]  # no None left: checked above
    )


def spec_sha256(claim: dict[str, Any]) -> str:
    """The claim exactly as declared (threshold, op, measure, args, sweeps ...), hashed."""
    return hashlib.sha256(json.dumps(claim, sort_keys=True, default=str).encode()).hexdigest()


def _wants_metrics(measure: Callable) -> bool:
    return "metrics" in inspect.signature(measure).parameters


def judge(
    claim: dict[str, Any],
    summary: pd.DataFrame,
    metrics: pd.DataFrame,
    measures: dict[str, Callable],
    min_seeds: int = 1,
    params: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Evaluate one claim on the summary rows of its sweeps; return a claims-table row.

    `min_seeds` is the default for a claim that declares none: the seeds its sweeps run per
    grid point, so a claim with seeds is judged on all of them. `params` are the swept
    parameters (summary columns that a diverged run keeps under `diverged: never_reached`).
    """
    rows = summary[summary["sweep"].isin(claim["sweeps"])]
    need = int(claim.get("min_seeds", min_seeds))
    base = {
        "claim_id": claim["id"],
        "statement": " ".join(claim["statement"].split()),
        "paper_value": str(claim["paper"]["value"]),
        "paper_source": claim["paper"]["source"],
        "paper_comparable": bool(claim["paper"].get("comparable", True)),
        "op": claim["op"],
        "threshold": json.dumps(claim["threshold"]),
        "min_seeds": need,
        "could_fail": " ".join(claim.get("could_fail", "").split()),
        "deviations": claim.get("deviations", "").strip(),
        "spec_sha256": spec_sha256(claim),
    }

    def row(verdict: str, m: Measurement | None, reason: str) -> dict[str, Any]:
        value = math.nan if m is None or m.value is None else float(m.value)
        seeds = m.seeds if m and m.seeds else sorted(set(rows["seed"]))
        shown = dict(m.details) if m else {}
        if m and m.per_seed:  # the values the seeds rule judged (see _uncertainty)
            shown["per_seed"] = m.per_seed
        if m and m.interval:
            shown["interval_95"] = list(m.interval)
        details = json.dumps(shown, default=str, sort_keys=True)
        return {
            **base,
            "measured": value,
            "verdict": verdict,
            "reason": reason,
            "n_seeds": len(seeds),
            "seeds": json.dumps(sorted(int(s) for s in seeds)),
            "details_json": details,
        }

    missing = sorted(set(claim["sweeps"]) - set(summary["sweep"]))
    if missing:
        return row("inconclusive", None, f"sweep(s) {missing} were not run at this scale")
    failed = rows[rows["status"] == "failed"]
    if len(failed):
        return row("inconclusive", None, f"runs failed: {', '.join(failed['run_id'])}")
    diverged = rows["status"] == "diverged"
    policy = claim.get("diverged", "inconclusive")
    if diverged.any():
        ids = ", ".join(rows.loc[diverged, "run_id"])
        if policy == "inconclusive":
            return row(
                "inconclusive",
                None,
                f"runs diverged: {ids} (a claim can count them with `diverged: never_reached` "
                "or `exclude`)",
            )
        if policy == "exclude":
            rows = rows[~diverged]
        else:  # never_reached: the run is data, but none of its scalars were reached
            scalars = [c for c in rows.columns if c not in (*IDENTITY, *params)]
            rows = rows.copy()
            rows.loc[diverged, scalars] = math.nan
    measure = measures[claim["measure"]]
    extra = {"metrics": metrics[metrics["run_id"].isin(set(rows["run_id"]))]}
    m = measure(
        rows.reset_index(drop=True),
        **(extra if _wants_metrics(measure) else {}),
        **claim.get("args", {}),
    )
    if not isinstance(m, Measurement):
        raise TypeError(
            f"measure {claim['measure']!r} returned {type(m).__name__}, not Measurement"
        )
    if not m.seeds:  # the engine counts the seeds of the rows the measure was given
        m.seeds = sorted(int(s) for s in set(rows["seed"]))
    if m.value is None or not math.isfinite(m.value):
        return row("inconclusive", m, m.reason or "the measure returned no value")
    if len(m.seeds) < need:
        return row("inconclusive", m, f"{len(m.seeds)} seed(s) measured, {need} needed")
    if claim["op"] == "informative":
        return row("inconclusive", m, "informative: measured and reported, no threshold")
    op, threshold = claim["op"], claim["threshold"]
    ok = OPS[op](m.value, threshold)
    undecided, seeds_ok = _uncertainty(m, op, threshold)
    if seeds_ok is not None:
        ok = seeds_ok  # every seed agrees (for `between`, a median can sit in a band no seed is in)
    need_text = f"{'meets' if ok else 'needed'} {op} {threshold}"
    reason = m.reason or f"measured {m.value:.4g}; {need_text}"
    if undecided:
        return row("inconclusive", m, f"{undecided}; {reason}")
    return row("reproduced" if ok else "not reproduced", m, reason)


def _uncertainty(m: Measurement, op: str, threshold: Any) -> tuple[str, bool | None]:
    """(why the measurement's uncertainty leaves the claim undecided, or ''; whether every
    seed meets the threshold, when the measurement has several seeds' values and they agree).

    Seeds: a claim judged on several seeds holds when it holds on every seed and fails when
    it fails on every seed; when they split, a median alone would decide it by which seeds
    happened to be drawn, and a rerun on other seeds could turn it. Fit: the verdict stands
    when the whole 95% interval is on one side of the threshold (for `between`: inside the
    band, or clear of it).
    """
    agreed: bool | None = None
    if m.per_seed and len(m.per_seed) > 1:
        meets = {s: bool(OPS[op](v, threshold)) for s, v in m.per_seed.items()}
        if len(set(meets.values())) > 1:
            shown = ", ".join(f"seed {s}: {v:.4g}" for s, v in sorted(m.per_seed.items()))
            n_ok = sum(meets.values())
            return f"seeds disagree: {n_ok} of {len(meets)} meet {op} {threshold} ({shown})", None
        agreed = next(iter(meets.values()))
    if m.interval is not None:
        lo, hi = sorted(m.interval)
        if op == "between":
            decided = (
                threshold[0] <= lo <= hi <= threshold[1] or hi < threshold[0] or lo > threshold[1]
            )
        else:
            decided = OPS[op](lo, threshold) == OPS[op](hi, threshold)
        if not decided:
            return f"the fit's 95% interval {lo:.4g}–{hi:.4g} straddles {op} {threshold}", agreed
    return "", agreed


# Summary columns that identify a run rather than measure it.
IDENTITY = ("run_id", "sweep", "seed", "status")
