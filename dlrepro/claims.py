"""Turn a claim's measured value into a verdict: reproduced, not reproduced or inconclusive.

A claim is data in reproduction.yaml (statement, the paper's value, the measure, the sweeps it
is judged on, the comparison and its threshold). The measure is a function in the task's
MEASURES that returns a `Measurement`; this module only compares, so that thresholds live in
the reproduction file and nothing here knows about any result.
"""

from __future__ import annotations

import json
import math
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
    """What a measure function found. `value=None` (with a reason) makes a claim inconclusive."""

    value: float | None
    seeds: list[int] = field(default_factory=list)
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


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
        details={"per_seed": per_seed},
    )


def judge(
    claim: dict[str, Any], summary: pd.DataFrame, metrics: pd.DataFrame, measures: dict
) -> dict[str, Any]:
    """Evaluate one claim on the summary rows of its sweeps; return a claims-table row."""
    rows = summary[summary["sweep"].isin(claim["sweeps"])]
    base = {
        "claim_id": claim["id"],
        "statement": claim["statement"].strip(),
        "paper_value": str(claim["paper"]["value"]),
        "paper_source": claim["paper"]["source"],
        "op": claim["op"],
        "threshold": json.dumps(claim["threshold"]),
        "deviations": claim.get("deviations", "").strip(),
    }

    def row(verdict: str, m: Measurement | None, reason: str) -> dict[str, Any]:
        value = math.nan if m is None or m.value is None else float(m.value)
        seeds = m.seeds if m else sorted(set(rows["seed"]))
        details = json.dumps(m.details if m else {}, default=str, sort_keys=True)
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
    bad = rows[rows["status"] != "completed"]
    if len(bad):
        what = ", ".join(f"{r.run_id} {r.status}" for r in bad.itertuples())
        return row("inconclusive", None, f"runs did not complete: {what}")
    run_ids = set(rows["run_id"])
    m = measures[claim["measure"]](
        rows.reset_index(drop=True),
        metrics[metrics["run_id"].isin(run_ids)],
        **claim.get("args", {}),
    )
    if m.value is None or not math.isfinite(m.value):
        return row("inconclusive", m, m.reason or "the measure returned no value")
    if len(m.seeds) < claim.get("min_seeds", 1):
        return row(
            "inconclusive", m, f"{len(m.seeds)} seed(s) measured, {claim['min_seeds']} needed"
        )
    if claim["op"] == "informative":
        return row("inconclusive", m, "informative: measured and reported, no threshold")
    ok = OPS[claim["op"]](m.value, claim["threshold"])
    verdict = "reproduced" if ok else "not reproduced"
    return row(verdict, m, m.reason or f"measured {m.value:.4g} {claim['op']} {claim['threshold']}")
