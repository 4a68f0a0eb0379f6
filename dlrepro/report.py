"""Self-contained HTML pages (figures embedded, no scripts, no network) that open offline.

The report is read top down in a minute: the verdict counts of every reproduction, then per
reproduction one row per claim (verdict, our value beside the threshold and the paper's value,
seeds, the figure that shows it, the statement) with the reasons, deviations, details and
pre-registration record folded under it, then the figures and the runs' provenance.
`comparison_html` draws `dlrepro compare`'s page in the same style.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dlrepro import __version__
from dlrepro.reproduction import SCALES, Reproduction

if TYPE_CHECKING:
    from dlrepro.compare import Comparison

VERDICT_COLORS = {
    "reproduced": "#1a7f37",
    "not reproduced": "#cf222e",
    "inconclusive": "#9a6700",
    "reported": "#57606a",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1150px;padding:0 1rem;color:#1f2328;line-height:1.45}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:.4rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa;font-weight:600;font-size:.8rem;color:#57606a}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;color:#fff;font-weight:600;
font-size:.8rem;white-space:nowrap}
.claims td{border-bottom:none}.claims tr.more td{border-bottom:1px solid #d0d7de;padding-top:0}
.claims .stmt{font-weight:500}.claims code{font-size:.78rem}
details summary{cursor:pointer;color:#0969da;font-size:.85rem}
details .box{background:#f6f8fa;border-radius:6px;padding:.5rem .8rem;margin:.3rem 0;
font-size:.85rem}
details dt{font-weight:600;margin-top:.4rem}details dd{margin:0 0 0 1rem}
figure{margin:1rem 0;border:1px solid #d0d7de;border-radius:6px;padding:.5rem}
figure img{max-width:100%}figcaption{font-size:.85rem;color:#57606a}
.small{font-size:.82rem;color:#57606a}.context{color:#57606a;font-style:italic}
.warn{color:#9a6700;font-weight:600}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
code{background:#f6f8fa;padding:0 .2rem;border-radius:3px}
.banner{background:#fff8c5;padding:.6rem;border:1px solid #d4a72c;border-radius:6px}
tr.changed td{background:#fff1e5}
"""

# Claims-table columns that not every results folder has (older runs, or not yet written),
# in reading order, with how much of each value to show.
PREREGISTRATION = {
    "threshold_date": ("threshold committed", 16),
    "threshold_commit": ("in commit", 10),
    "runs_finished_at": ("runs finished", 16),
    "spec_sha256": ("claim sha256", 12),
}


@dataclass
class Section:
    repro: Reproduction
    claims: pd.DataFrame
    runs: pd.DataFrame
    figure_dir: Path


def _e(value: object) -> str:
    return html.escape(str(value))


def _num(value: float) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.4g}"


def _badge(verdict: str) -> str:
    color = VERDICT_COLORS.get(verdict, "#57606a")
    return f'<span class="badge" style="background:{color}">{_e(verdict)}</span>'


def _verdict(v: str) -> str:
    """Verdict text in its color (for run statuses and compact lists)."""
    return f'<b style="color:{VERDICT_COLORS.get(v, "#000")}">{_e(v)}</b>'


OP_SIGNS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _threshold(op: str, threshold_json: str) -> str:
    if not threshold_json:
        return "–"
    t = json.loads(threshold_json)
    if op == "between":
        return f"in [{t[0]:g}, {t[1]:g}]"
    if op == "informative" or t is None:
        return "no threshold"
    return f"{OP_SIGNS.get(op, op)} {t:g}"


def _get(row: Any, name: str, default: Any = None) -> Any:
    """A claims-table value that older tables may lack (NaN counts as absent)."""
    value = getattr(row, name, default)
    if isinstance(value, float) and math.isnan(value) and name != "measured":
        return default
    return value


def _flag(row: Any, name: str) -> bool | None:
    """A boolean claims-table column as True/False, or None where the table lacks it."""
    value = _get(row, name)
    return None if value is None else bool(value)


def _claim_specs(repro: Reproduction | None) -> dict[str, dict[str, Any]]:
    if repro is None:
        return {}
    return {c["id"]: c for c in repro.claims}


def _figure_links(spec: dict[str, Any], repro: Reproduction | None) -> str:
    """Links to the figure(s) a claim names in its reproduction file (`figure:`)."""
    names = spec.get("figure") or []
    names = [names] if isinstance(names, str) else list(names)
    if repro is None or not names:
        return "–"
    return " ".join(f"<a href='#{_e(repro.name)}-fig-{_e(n)}'>{_e(n)}</a>" for n in names)


def _details(row: Any, spec: dict[str, Any]) -> str:
    """Everything behind the one-line row: why, how it could fail, deviations, numbers."""
    items: list[tuple[str, str]] = []
    items.append(("why this verdict", _e(row.reason)))
    could_fail = _get(row, "could_fail") or spec.get("could_fail")
    if could_fail:
        items.append(("how it could have failed", _e(could_fail)))
    if row.deviations:
        items.append(("deviations from the paper", _e(row.deviations)))
    source = _e(row.paper_source)
    if _flag(row, "paper_comparable") is False:
        source += " — <span class='context'>not a comparable setup: context only</span>"
    items.append(("paper", f"{_e(row.paper_value)} ({source})"))
    try:
        details = json.loads(row.details_json or "{}")
    except json.JSONDecodeError:
        details = {"details": row.details_json}
    if details:
        shown = "; ".join(f"{_e(k)} = {_e(_short(v))}" for k, v in details.items())
        items.append(("measurement details", shown))
    prereg = [(label, _get(row, col), n) for col, (label, n) in PREREGISTRATION.items()]
    prereg = [(label, str(v)[:n], n) for label, v, n in prereg if v not in (None, "")]
    revised = _flag(row, "revised_after_results")
    if prereg or revised is not None:
        text = " · ".join(f"{_e(label)} <code>{_e(value)}</code>" for label, value, _ in prereg)
        if revised:
            text += "; <span class='warn'>the threshold was revised after results were seen</span>"
        items.append(("pre-registration", text))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return (
        f"<details><summary>why, deviations, details</summary><dl class='box'>{body}</dl></details>"
    )


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, float):
        text = f"{value:.4g}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def claims_table_html(
    claims: pd.DataFrame, standalone: bool = False, repro: Reproduction | None = None
) -> str:
    """One row per claim (verdict first), its details folded beneath it."""
    specs = _claim_specs(repro)
    links = {
        c.claim_id: _figure_links(specs.get(c.claim_id, {}), repro) for c in claims.itertuples()
    }
    with_figures = any(v != "–" for v in links.values())  # no column of dashes
    head = (
        "<tr><th style='width:8.5rem'>verdict</th><th>claim</th><th>measured</th>"
        "<th>needed</th><th style='width:13rem'>paper</th><th>seeds</th>"
        + ("<th>figure</th>" if with_figures else "")
        + "</tr>"
    )
    width = 7 if with_figures else 6
    rows = []
    for c in claims.itertuples():
        spec = specs.get(c.claim_id, {})
        informative = c.op == "informative"
        verdict = _badge("reported" if informative else c.verdict)
        if _flag(c, "revised_after_results"):
            verdict += "<div class='warn small'>threshold revised after results</div>"
        paper = _e(c.paper_value)
        if _flag(c, "paper_comparable") is False:
            paper = f"<span class='context'>{paper}</span><div class='small'>context only</div>"
        seeds = ", ".join(str(s) for s in json.loads(c.seeds or "[]")) or "–"
        # An inconclusive verdict has no value to show; its reason is what the reader needs.
        why = (
            f"<div class='small'>{_e(_short(str(c.reason), 140))}</div>"
            if c.verdict == "inconclusive" and not informative
            else ""
        )
        figure = f"<td>{links[c.claim_id]}</td>" if with_figures else ""
        rows.append(
            f"<tr><td>{verdict}</td>"
            f"<td><div class='stmt'>{_e(' '.join(str(c.statement).split()))}</div>"
            f"<code>{_e(c.claim_id)}</code>{why}</td>"
            f"<td class='num'><b>{_num(c.measured)}</b></td>"
            f"<td class='num'>{_e(_threshold(c.op, c.threshold))}</td>"
            f"<td>{paper}</td><td class='num'>{_e(seeds)}</td>{figure}</tr>"
            f"<tr class='more'><td></td><td colspan='{width - 1}'>{_details(c, spec)}</td></tr>"
        )
    table = f"<table class='claims'>{head}{''.join(rows)}</table>"
    if standalone:
        return f"<!doctype html><meta charset='utf-8'><style>{CSS}</style>{table}"
    return table


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def _provenance(runs: pd.DataFrame) -> str:
    versions = sorted(set(runs["versions_json"]))
    ver = "; ".join(
        ", ".join(f"{k} {v}" for k, v in json.loads(vj).items() if v != "absent") for vj in versions
    )
    status = runs["status"].value_counts().to_dict()
    return (
        "<table>"
        f"<tr><th>runs</th><td>{len(runs)} ({_e(status)})</td></tr>"
        f"<tr><th>seeds</th><td>{_e(sorted(set(runs['seed'].tolist())))}</td></tr>"
        f"<tr><th>device, threads</th><td>{_e(sorted(set(runs['device'])))}, "
        f"{_e(sorted(set(runs['threads'].tolist())))}</td></tr>"
        f"<tr><th>compute</th><td>{runs['wall_s'].sum():.0f} s of training jobs</td></tr>"
        f"<tr><th>versions</th><td>{_e(ver)}</td></tr>"
        f"<tr><th>code</th><td>dlrepro {_e(__version__)}, commit "
        f"{_e(', '.join(sorted(set(runs['git_commit']))) or 'unknown')}</td></tr>"
        "</table>"
    )


def _bad_runs(runs: pd.DataFrame) -> str:
    bad = runs[runs["status"] != "completed"]
    if bad.empty:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(r.run_id)}</code></td><td>{_verdict(r.status)}</td>"
        f"<td>{_e(r.error)}</td></tr>"
        for r in bad.itertuples()
    )
    return (
        "<h3>Runs that did not complete</h3><table><tr><th>run</th><th>status</th>"
        f"<th>error</th></tr>{rows}</table>"
    )


def _citations(spec: dict[str, Any]) -> str:
    cites = "".join(
        f"<li>{_e(c['authors'])} ({c['year']}). <i>{_e(c['title'])}</i>"
        + (f". arXiv:{_e(c['arxiv'])}" if c.get("arxiv") else "")
        + (f". {_e(c['venue'])}" if c.get("venue") else "")
        + (f" <span class='small'>— used: {_e(c['used'])}</span>" if c.get("used") else "")
        + "</li>"
        for c in spec["citations"]
    )
    return f"<details><summary>papers</summary><ul class='small'>{cites}</ul></details>"


def _section(s: Section) -> str:
    spec = s.repro.spec
    name = s.repro.name
    figs = "".join(
        f"<figure id='{_e(name)}-fig-{_e(f['id'])}'>{_img(s.figure_dir / (f['id'] + '.png'))}"
        f"<figcaption><b>{_e(f['title'])}.</b> {_e(f['caption'])}</figcaption></figure>"
        for f in s.repro.figures
        if (s.figure_dir / (f["id"] + ".png")).exists()
    )
    variant = ""
    if getattr(s.repro, "overrides", None):
        shown = ", ".join(f"{k} = {v!r}" for k, v in sorted(s.repro.overrides.items()))
        variant = (
            f"<p class='variant'><b>Variant:</b> settings overridden from the reproduction "
            f"file (--config set): {_e(shown)}. Its results are in {_e(name)}/, beside the "
            "declared ones.</p>"
        )
    return (
        f"<h2 id='{_e(name)}'>{_e(s.repro.title)}</h2>{variant}"
        f"<p>{_e(spec['summary'])}</p>{_citations(spec)}"
        f"<h3>Claims</h3>{claims_table_html(s.claims, repro=s.repro)}"
        f"<h3>Figures</h3>{figs}{_bad_runs(s.runs)}"
        f"<details><summary>provenance of the runs</summary>{_provenance(s.runs)}</details>"
    )


def _counts(claims: pd.DataFrame) -> tuple[pd.Series, int]:
    judged = claims[claims["op"] != "informative"] if len(claims) else claims
    return judged["verdict"].value_counts(), len(judged)


def render(scale: str, sections: list[Section]) -> str:
    summary_rows = []
    for s in sections:
        counts, judged = _counts(s.claims)
        summary_rows.append(
            f"<tr><td><a href='#{_e(s.repro.name)}'>{_e(s.repro.name)}</a></td>"
            f"<td>{_e(s.repro.title)}</td>"
            f"<td class='num'>{counts.get('reproduced', 0)} / {judged}</td>"
            f"<td class='num'>{counts.get('not reproduced', 0)}</td>"
            f"<td class='num'>{counts.get('inconclusive', 0)}</td>"
            f"<td class='num'>{(s.runs['status'] == 'completed').sum()} / {len(s.runs)}</td></tr>"
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    banner = (
        "<p class='banner'><b>Smoke scale</b> checks that the pipeline runs end to end in "
        "seconds; its runs are far too short for the verdicts to say anything about the "
        "findings. Use <code>scale=cpu</code>.</p>"
        if scale == "smoke"
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>dlrepro report ({_e(scale)})</title><style>{CSS}</style></head><body>"
        f"<h1>dlrepro report — scale <code>{_e(scale)}</code></h1>{banner}"
        "<table><tr><th>reproduction</th><th>finding</th><th>reproduced / judged claims</th>"
        "<th>not reproduced</th><th>inconclusive</th><th>runs completed</th></tr>"
        f"{''.join(summary_rows)}</table>"
        "<p class='small'>Each claim below was judged on the runs listed under its "
        "reproduction against the threshold declared in its reproduction file: "
        f"{_badge('reproduced')} the measured value meets the threshold, "
        f"{_badge('not reproduced')} it does not, {_badge('inconclusive')} runs or seeds "
        f"were missing, {_badge('reported')} measured without a threshold. "
        "Paper values in <span class='context'>italics</span> come from a setup that is not "
        f"comparable and are context only. Built {stamp}.</p>"
        f"{''.join(_section(s) for s in sections)}</body></html>"
    )


# -- dlrepro compare ---------------------------------------------------------------------------
def _side_cell(verdict: str, measured: float, present: bool, op: str) -> str:
    if not present:
        return "<td colspan='2' class='small'>absent</td>"
    shown = "reported" if op == "informative" else verdict
    return f"<td class='num'><b>{_num(measured)}</b></td><td>{_badge(shown)}</td>"


def comparison_html(comparison: Comparison, curves: dict[str, str]) -> str:
    """`dlrepro compare`'s page; `curves` maps a reproduction to a base64 PNG."""
    c = comparison
    claims = c.claims
    both = claims[claims["in_a"] & claims["in_b"]]
    n_changed = int(both["verdict_changed"].sum())
    rows = []
    for r in claims.itertuples():
        mark = " class='changed'" if r.verdict_changed else ""
        arrow = "<b class='warn'>verdict changed</b>" if r.verdict_changed else ""
        if r.value_changed and not r.verdict_changed:
            arrow = "<span class='small'>value changed</span>"
        thresholds = {t for t in (r.threshold_a, r.threshold_b) if t}
        needed = " / ".join(_threshold(r.op, t) for t in sorted(thresholds)) or "–"
        rows.append(
            f"<tr{mark}><td><code>{_e(r.reproduction)}/{_e(r.claim_id)}</code>"
            f"<div class='small'>{_e(' '.join(str(r.statement).split()))}</div></td>"
            f"{_side_cell(r.verdict_a, r.measured_a, r.in_a, r.op)}"
            f"{_side_cell(r.verdict_b, r.measured_b, r.in_b, r.op)}"
            f"<td class='num'>{_e(needed)}</td><td>{arrow}</td></tr>"
        )
    table = (
        "<table><tr><th>claim</th><th>A measured</th><th>A verdict</th><th>B measured</th>"
        f"<th>B verdict</th><th>needed</th><th></th></tr>{''.join(rows)}</table>"
    )
    missing = "".join(f"<li>{_e(m)}</li>" for m in c.missing + c.a.problems + c.b.problems)
    missing_html = f"<h2>Missing on one side</h2><ul>{missing}</ul>" if missing else ""
    prov_rows = "".join(
        f"<tr><td>{_e(p.reproduction)}</td><td><code>{_e(p.field)}</code></td>"
        f"<td>{_e(p.a)}</td><td>{_e(p.b)}</td></tr>"
        for p in c.provenance.itertuples()
    )
    prov = (
        "<h2>Provenance that differs</h2><table><tr><th>reproduction</th><th>field</th>"
        f"<th>A</th><th>B</th></tr>{prov_rows}</table>"
        if prov_rows
        else "<h2>Provenance</h2><p>The same in both: versions, device, data, commit, settings.</p>"
    )
    figs = "".join(
        f"<figure><img alt='{_e(name)}' src='data:image/png;base64,{png}'>"
        f"<figcaption><b>{_e(name)}</b>: every run's logged curves, "
        f"<b style='color:#0969da'>A</b> (solid) and <b style='color:#d1242f'>B</b> (dashed) "
        "on the same axes.</figcaption></figure>"
        for name, png in curves.items()
    )
    sides = "".join(
        f"<tr><th>{s.label.upper()}</th><td><code>{_e(s.path)}</code></td><td>scale "
        f"<code>{_e(s.scale)}</code></td><td>{len(s.claims)} reproductions</td></tr>"
        for s in (c.a, c.b)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>dlrepro compare</title>"
        f"<style>{CSS}</style></head><body><h1>dlrepro compare</h1><table>{sides}</table>"
        f"<p><b>{n_changed}</b> of {len(both)} claims found in both changed verdict"
        f"{'; they come first, highlighted' if n_changed else ''}. Verdicts are each side's "
        "own; nothing is judged again.</p>"
        f"{table}{missing_html}{prov}<h2>Curves</h2>{figs or '<p>No metrics to draw.</p>'}"
        "</body></html>"
    )


# -- the end of a Snakemake run (Snakefile onsuccess / onerror) --------------------------------
def _job_files(jobs: Any, attr: str, suffix: str) -> list[Path]:
    files = {Path(str(f)) for job in jobs for f in getattr(job, attr, [])}
    return sorted(f for f in files if f.name.endswith(suffix) and f.exists())


def end_of_run(jobs: Any) -> str:
    """Verdict counts of every reproduction this run's targets include, and the reports' paths.

    `jobs`: the run's Snakemake jobs (`workflow.dag.jobs`), whether they ran now or were done.
    """
    lines = ["", "dlrepro: verdicts"]
    for path in _job_files(jobs, "output", "claims.parquet"):
        claims = pd.read_parquet(path)
        if "verdict" not in claims.columns:  # a comparison's claims table (dlrepro compare)
            continue
        counts, judged = _counts(claims)
        shown = ", ".join(
            f"{counts.get(v, 0)} {v}" for v in ("reproduced", "not reproduced", "inconclusive")
        )
        runs_path = path.with_name("runs.parquet")
        done = ""
        if runs_path.exists():
            runs = pd.read_parquet(runs_path, columns=["status"])
            done = f"; runs completed {(runs['status'] == 'completed').sum()}/{len(runs)}"
        scale = path.parent.parent.name
        lines.append(f"  {path.parent.name} ({scale}): {shown} of {judged} judged{done}")
        if scale == "smoke":
            lines[-1] += " (smoke scale: the verdicts mean nothing)"
    if len(lines) == 2:
        lines.append("  (no claims in this run's targets)")
    reports = _job_files(jobs, "output", "report.html")
    # The page of a whole scale holds every reproduction's; name it alone when it was built.
    whole = [p for p in reports if p.parent.name in SCALES]
    for path in whole or reports:
        lines.append(f"report: {path.resolve()}")
    for path in _job_files(jobs, "output", "compare.html"):
        lines.append(f"comparison: {path.resolve()}")
    return "\n".join(lines) + "\n"


def failure_hint(failed_jobs: Any, snakemake_log: str | list[str] | None) -> str:
    """Which log to open after a failed run: each failed job's own log, else Snakemake's
    (which Snakemake hands over as a path or, e.g. after an interrupt, a list of paths)."""
    if isinstance(snakemake_log, list | tuple):
        snakemake_log = snakemake_log[-1] if snakemake_log else None
    logs = _job_files(failed_jobs, "log", "")
    lines = ["", "dlrepro: the run failed."]
    for path in logs:
        lines.append(f"  open {path.resolve()}")
        last = _last_error(path)
        if last:
            lines.append(f"    {last}")
    if not logs and snakemake_log:
        lines.append(f"  open {Path(snakemake_log).resolve()}")
    lines.append("  (snakemake --show-failed-logs prints them at the end of the run)")
    return "\n".join(lines) + "\n"


def _last_error(log: Path) -> str:
    """The line of a job's log that says what went wrong: dlrepro's own message, else the
    last line (a traceback's last line names the exception)."""
    text = log.read_text(errors="replace").strip().splitlines()
    ours = [line for line in text if line.startswith("dlrepro: ")]
    return (ours or text or [""])[-1][:300]
