"""Two result sets side by side, claim by claim: `dlrepro compare A B`.

A side is a scale folder (`results/cpu`, holding `<reproduction>/claims.parquet`) or a results
root that holds exactly one scale (`other-machine/results`). For every reproduction the
comparison reads claims.parquet, runs.parquet and metrics.parquet and writes to the output folder

    claims.parquet       one row per claim found in either side
        reproduction, claim_id, statement, in_a, in_b, measured_a, measured_b, verdict_a,
        verdict_b, op, threshold_a, threshold_b, n_seeds_a, n_seeds_b,
        verdict_changed (both sides judged it and the verdicts differ),
        value_changed (the measured values differ, NaN against a number included)
    provenance.parquet   one row per provenance field whose values differ between the sides
        reproduction, field, a, b   (a, b: the distinct values of that side's runs, as text)
    compare.html         one self-contained page: changed verdicts first, what is missing on
                         either side, the provenance that differs, and each reproduction's
                         curves from both sides on the same axes

Nothing is judged again: the verdicts are the ones each side's own run wrote.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dlrepro import tables
from dlrepro.atomic import write_text, write_with
from dlrepro.errors import UserError
from dlrepro.reproduction import SCALES

SIDES = ("a", "b")
COLORS = {"a": "#0969da", "b": "#d1242f"}
# Run-record columns that are not provenance: identity, outcome and wall clock.
NOT_PROVENANCE = {
    "run_id",
    "reproduction",
    "sweep",
    "seed",
    "status",
    "error",
    "started_at",
    "finished_at",
    "wall_s",
    "steps",
}
MAX_PANELS = 6  # curves: at most this many (split, metric) panels per reproduction


@dataclass
class Side:
    """One result set: where it is and the tables of each reproduction found there."""

    label: str  # "a" or "b"
    path: Path
    scale: str
    claims: dict[str, pd.DataFrame] = field(default_factory=dict)
    runs: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # tables that could not be read


@dataclass
class Comparison:
    a: Side
    b: Side
    claims: pd.DataFrame
    provenance: pd.DataFrame
    missing: list[str]  # one readable line per reproduction or claim found on one side only

    @property
    def changed(self) -> pd.DataFrame:
        return self.claims[self.claims["verdict_changed"]]


# -- reading a side ----------------------------------------------------------------------------
def _repro_dirs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.glob("*/claims.parquet"))


def scale_folder(path: str | Path) -> Path:
    """The scale folder a user meant: `path` itself, or the one scale folder under a root."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a folder; give a results root or a scale folder")
    if _repro_dirs(path):
        return path
    scales = [path / s for s in SCALES if _repro_dirs(path / s)]
    if len(scales) == 1:
        return scales[0]
    if len(scales) > 1:
        names = ", ".join(str(s) for s in scales)
        raise UserError(f"{path} holds several scales ({names}); name one of them")
    raise UserError(
        f"{path} holds no results: expected <reproduction>/claims.parquet in it or in one of "
        f"its scale folders ({', '.join(SCALES)})"
    )


# The columns a comparison reads; other columns may be absent, so that results written by an
# older or newer dlrepro still compare.
NEEDED = {
    "claims": ["claim_id", "statement", "measured", "verdict", "op", "threshold", "n_seeds"],
    "runs": ["run_id"],
    "metrics": ["run_id", "split", "metric", "step", "value"],
}


def _read(path: Path, kind: str, side: Side) -> pd.DataFrame | None:
    if not path.is_file():
        side.problems.append(f"{path} is missing")
        return None
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # a broken table is reported, the rest still compared
        side.problems.append(f"{path} cannot be read: {type(e).__name__}: {e}")
        return None
    lacking = [c for c in NEEDED[kind] if c not in df.columns]
    if lacking:
        side.problems.append(f"{path} lacks columns {lacking}")
        return None
    return df


def read_side(label: str, path: str | Path) -> Side:
    folder = scale_folder(path)
    side = Side(label=label, path=Path(path), scale=folder.name)
    for d in _repro_dirs(folder):
        for kind, store in (
            ("claims", side.claims),
            ("runs", side.runs),
            ("metrics", side.metrics),
        ):
            df = _read(d / f"{kind}.parquet", kind, side)
            if df is not None:
                store[d.name] = df
    return side


def stamp(*paths: str | Path) -> str:
    """A digest of the tables under `paths` (names, sizes, modification times): the Snakemake
    target reruns when it changes, without making other rules' outputs its inputs (which
    would rebuild a side with this invocation's settings instead of reading it as it is)."""
    lines = []
    for path in paths:
        folder = Path(path)
        for claims in sorted(
            [*folder.glob("*/claims.parquet"), *folder.glob("*/*/claims.parquet")]
        ):
            for kind in ("claims", "runs", "metrics"):
                f = claims.with_name(f"{kind}.parquet")
                if f.exists():
                    st = f.stat()
                    lines.append(f"{f}\t{st.st_size}\t{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# -- claims ------------------------------------------------------------------------------------
def _measured_differs(x: float, y: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) != math.isnan(y)
    return not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def compare_claims(a: Side, b: Side) -> pd.DataFrame:
    keep = ["statement", "measured", "verdict", "op", "threshold", "n_seeds"]
    frames = []
    for side in (a, b):
        parts = [df.assign(reproduction=name) for name, df in side.claims.items()]
        cols = ["reproduction", "claim_id", *keep]
        df = pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
        frames.append(df.rename(columns={k: f"{k}_{side.label}" for k in keep}))
    m = frames[0].merge(frames[1], on=["reproduction", "claim_id"], how="outer", indicator=True)
    out = pd.DataFrame(
        {
            "reproduction": m["reproduction"],
            "claim_id": m["claim_id"],
            "statement": m["statement_a"].fillna(m["statement_b"]),
            "in_a": m["_merge"] != "right_only",
            "in_b": m["_merge"] != "left_only",
            "measured_a": m["measured_a"].astype(float),
            "measured_b": m["measured_b"].astype(float),
            "verdict_a": m["verdict_a"].fillna(""),
            "verdict_b": m["verdict_b"].fillna(""),
            "op": m["op_a"].fillna(m["op_b"]),
            "threshold_a": m["threshold_a"].fillna(""),
            "threshold_b": m["threshold_b"].fillna(""),
            "n_seeds_a": m["n_seeds_a"].fillna(0).astype("int64"),
            "n_seeds_b": m["n_seeds_b"].fillna(0).astype("int64"),
        }
    )
    both = out["in_a"] & out["in_b"]
    out["verdict_changed"] = both & (out["verdict_a"] != out["verdict_b"])
    out["value_changed"] = both & pd.Series(
        [
            _measured_differs(x, y)
            for x, y in zip(out["measured_a"], out["measured_b"], strict=True)
        ],
        index=out.index,
        dtype=bool,
    )
    # Changed verdicts first, then claims on one side only, then changed values, then the rest.
    rank = (~out["verdict_changed"]).astype(int) * 4 + both.astype(int) * 2
    rank += (~out["value_changed"]).astype(int)
    out = out.assign(_rank=rank).sort_values(["_rank", "reproduction", "claim_id"], kind="stable")
    return out.drop(columns="_rank").reset_index(drop=True)


def missing_lines(a: Side, b: Side, claims: pd.DataFrame) -> list[str]:
    lines = []
    for x, y in ((a, b), (b, a)):
        for name in sorted(set(x.claims) - set(y.claims)):
            lines.append(f"reproduction {name}: only in {x.label.upper()} ({x.path})")
    only = claims[~(claims["in_a"] & claims["in_b"])]
    for r in only.itertuples():
        if r.reproduction in a.claims and r.reproduction in b.claims:
            where = "A" if r.in_a else "B"
            lines.append(f"claim {r.reproduction}/{r.claim_id}: only in {where}")
    return lines


# -- provenance --------------------------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: dict[str, set[str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
        out.setdefault(prefix, set()).add(text)


def provenance_values(runs: pd.DataFrame) -> dict[str, set[str]]:
    """Each provenance field of a reproduction's runs -> the distinct values it takes.

    JSON columns are opened so that a difference names its key: `settings.lr`,
    `versions.numpy`, `data.fashion_mnist.sha256`.
    """
    out: dict[str, set[str]] = {}
    columns = [c for c in tables.COLUMNS["runs"] if c not in NOT_PROVENANCE and c in runs]
    for col in columns:
        for value in runs[col]:
            if col.endswith("_json"):
                try:
                    parsed = json.loads(value) if isinstance(value, str) and value else {}
                except json.JSONDecodeError:
                    parsed = value
                _flatten(col.removesuffix("_json"), parsed, out)
            else:
                _flatten(col, value.item() if hasattr(value, "item") else value, out)
    return out


def _show(values: set[str] | None, limit: int = 6) -> str:
    if not values:
        return "—"
    items = sorted(values)
    text = ", ".join(items[:limit])
    return text + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def compare_provenance(a: Side, b: Side) -> pd.DataFrame:
    rows = []
    for name in sorted(set(a.runs) & set(b.runs)):
        pa, pb = provenance_values(a.runs[name]), provenance_values(b.runs[name])
        for key in sorted(set(pa) | set(pb)):
            if pa.get(key) != pb.get(key):
                rows.append(
                    {
                        "reproduction": name,
                        "field": key,
                        "a": _show(pa.get(key)),
                        "b": _show(pb.get(key)),
                    }
                )
    return pd.DataFrame(rows, columns=["reproduction", "field", "a", "b"])


# -- curves ------------------------------------------------------------------------------------
def _panels(ma: pd.DataFrame, mb: pd.DataFrame) -> list[tuple[str, str]]:
    """(split, metric) pairs to draw: those both sides logged first, the most logged first."""
    counts_a = ma.groupby(["split", "metric"]).size()
    counts_b = mb.groupby(["split", "metric"]).size()
    shared = counts_a.index.intersection(counts_b.index)
    order = (counts_a.reindex(shared) + counts_b.reindex(shared)).sort_values(ascending=False)
    pairs = list(order.index)
    if not pairs:  # nothing in common: show what each side has
        pairs = list(counts_a.index.union(counts_b.index))
    return pairs[:MAX_PANELS]


def curves_png(name: str, ma: pd.DataFrame | None, mb: pd.DataFrame | None) -> bytes | None:
    """Every run's curve of each shared (split, metric), A and B in two colors, same axes."""
    from matplotlib.figure import Figure  # here: the Snakefile imports this module on every start

    present = {k: v for k, v in (("a", ma), ("b", mb)) if v is not None and len(v)}
    if not present:
        return None
    empty = pd.DataFrame(columns=["split", "metric"])
    pairs = _panels(present.get("a", empty), present.get("b", empty))
    if not pairs:
        return None
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (split, metric) in zip(axes, pairs, strict=False):
        for label, df in present.items():
            sel = df[(df["split"] == split) & (df["metric"] == metric)]
            for i, (_, run) in enumerate(sel.groupby("run_id", sort=True)):
                run = run.sort_values("step")
                ax.plot(
                    run["step"],
                    run["value"],
                    color=COLORS[label],
                    ls="-" if label == "a" else "--",  # identical runs stay visible as two
                    alpha=0.55,
                    lw=1,
                    label=label.upper() if i == 0 else None,
                )
        steps = pd.concat([d.loc[d["metric"] == metric, "step"] for d in present.values()])
        if len(steps) and steps.min() > 0 and steps.max() / steps.min() > 100:
            ax.set_xscale("log")
        ax.set_title(f"{split} {metric}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{name}: every run, A and B", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


# -- the whole comparison ----------------------------------------------------------------------
def compare(path_a: str | Path, path_b: str | Path) -> Comparison:
    a, b = read_side("a", path_a), read_side("b", path_b)
    claims = compare_claims(a, b)
    return Comparison(
        a=a,
        b=b,
        claims=claims,
        provenance=compare_provenance(a, b),
        missing=missing_lines(a, b, claims),
    )


def write(comparison: Comparison, out: str | Path) -> dict[str, Path]:
    """Write claims.parquet, provenance.parquet and compare.html into `out`; return the paths."""
    out = Path(out)
    paths = {
        "claims": out / "claims.parquet",
        "provenance": out / "provenance.parquet",
        "html": out / "compare.html",
    }
    for key in ("claims", "provenance"):
        df = getattr(comparison, key)
        write_with(paths[key], lambda tmp, df=df: df.to_parquet(tmp, index=False))
    from dlrepro.report import comparison_html  # the page shares the report's look

    curves = {}
    for name in sorted(set(comparison.a.claims) | set(comparison.b.claims)):
        png = curves_png(name, comparison.a.metrics.get(name), comparison.b.metrics.get(name))
        if png is not None:
            curves[name] = base64.b64encode(png).decode()
    write_text(paths["html"], comparison_html(comparison, curves))
    return paths


def summary_lines(comparison: Comparison, paths: dict[str, Path]) -> list[str]:
    c = comparison
    both = c.claims[c.claims["in_a"] & c.claims["in_b"]]
    lines = [
        f"A: {c.a.path} (scale {c.a.scale}, {len(c.a.claims)} reproductions)",
        f"B: {c.b.path} (scale {c.b.scale}, {len(c.b.claims)} reproductions)",
        f"{len(both)} claims in both: {int(both['verdict_changed'].sum())} changed verdict, "
        f"{int((both['value_changed'] & ~both['verdict_changed']).sum())} changed value only",
    ]
    for r in c.changed.itertuples():
        lines.append(
            f"  changed {r.reproduction}/{r.claim_id}: {r.verdict_a} ({r.measured_a:.4g}) -> "
            f"{r.verdict_b} ({r.measured_b:.4g})"
        )
    lines += [f"  missing: {m}" for m in c.missing]
    lines += [f"  unreadable: {p}" for p in c.a.problems + c.b.problems]
    if len(c.provenance):
        fields = sorted(set(c.provenance["field"]))
        shown = ", ".join(fields[:8]) + (" …" if len(fields) > 8 else "")
        lines.append(f"provenance that differs: {shown}")
    lines.append(f"page: {paths['html']}")
    return lines
