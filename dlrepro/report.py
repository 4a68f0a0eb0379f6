"""A self-contained HTML report (figures embedded) that opens offline."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from dlrepro import __version__
from dlrepro.reproduction import Reproduction

VERDICT_COLORS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "inconclusive": "#9a6700"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1f2328;line-height:1.45}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa}.verdict{font-weight:600;white-space:nowrap}
figure{margin:1rem 0;border:1px solid #d0d7de;padding:.5rem}figure img{max-width:100%}
figcaption{font-size:.85rem;color:#57606a}.small{font-size:.85rem;color:#57606a}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
code{background:#f6f8fa;padding:0 .2rem}
"""


@dataclass
class Section:
    repro: Reproduction
    claims: pd.DataFrame
    runs: pd.DataFrame
    figure_dir: Path


def _e(value: object) -> str:
    return html.escape(str(value))


def _num(value: float) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.4g}"


def _verdict(v: str) -> str:
    return f'<span class="verdict" style="color:{VERDICT_COLORS.get(v, "#000")}">{_e(v)}</span>'


def _threshold(op: str, threshold_json: str) -> str:
    t = json.loads(threshold_json)
    if op == "between":
        return f"in [{t[0]:g}, {t[1]:g}]"
    if op == "informative":
        return "informative (no threshold)"
    return f"{op} {t:g}"


def claims_table_html(claims: pd.DataFrame, standalone: bool = False) -> str:
    head = (
        "<tr><th>claim</th><th>statement</th><th>paper</th><th>measured</th>"
        "<th>threshold</th><th>verdict</th><th>why</th><th>deviations from the paper</th></tr>"
    )
    rows = []
    for c in claims.itertuples():
        rows.append(
            f"<tr><td><code>{_e(c.claim_id)}</code></td><td>{_e(c.statement)}</td>"
            f"<td>{_e(c.paper_value)}<div class='small'>{_e(c.paper_source)}</div></td>"
            f"<td>{_num(c.measured)}<div class='small'>seeds {_e(c.seeds)}</div></td>"
            f"<td>{_e(_threshold(c.op, c.threshold))}</td>"
            f"<td>{'reported' if c.op == 'informative' else _verdict(c.verdict)}</td>"
            f"<td class='small'>{_e(c.reason)}</td><td class='small'>{_e(c.deviations)}</td></tr>"
        )
    table = f"<table>{head}{''.join(rows)}</table>"
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


def _section(s: Section) -> str:
    spec = s.repro.spec
    cites = "".join(
        f"<li>{_e(c['authors'])} ({c['year']}). <i>{_e(c['title'])}</i>"
        + (f". arXiv:{_e(c['arxiv'])}" if c.get("arxiv") else "")
        + (f". {_e(c['venue'])}" if c.get("venue") else "")
        + (f" <span class='small'>— used: {_e(c['used'])}</span>" if c.get("used") else "")
        + "</li>"
        for c in spec["citations"]
    )
    figs = "".join(
        f"<figure>{_img(s.figure_dir / (f['id'] + '.png'))}<figcaption><b>{_e(f['title'])}.</b> "
        f"{_e(f['caption'])}</figcaption></figure>"
        for f in s.repro.figures
        if (s.figure_dir / (f["id"] + ".png")).exists()
    )
    return (
        f"<h2 id='{_e(s.repro.name)}'>{_e(s.repro.title)}</h2>"
        f"<p>{_e(spec['summary'])}</p><ul>{cites}</ul>"
        f"<h3>Claims</h3>{claims_table_html(s.claims)}"
        f"<h3>Figures</h3>{figs}{_bad_runs(s.runs)}"
        f"<h3>Provenance</h3>{_provenance(s.runs)}"
    )


def render(scale: str, sections: list[Section]) -> str:
    summary_rows = []
    for s in sections:
        judged = s.claims[s.claims["op"] != "informative"] if len(s.claims) else s.claims
        counts = judged["verdict"].value_counts()
        summary_rows.append(
            f"<tr><td><a href='#{_e(s.repro.name)}'>{_e(s.repro.name)}</a></td>"
            f"<td>{_e(s.repro.title)}</td>"
            f"<td>{counts.get('reproduced', 0)} / {len(judged)}</td>"
            f"<td>{counts.get('not reproduced', 0)}</td><td>{counts.get('inconclusive', 0)}</td>"
            f"<td>{(s.runs['status'] == 'completed').sum()} / {len(s.runs)}</td></tr>"
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    banner = (
        "<p style='background:#fff8c5;padding:.6rem;border:1px solid #d4a72c'><b>Smoke scale"
        "</b> checks that the pipeline runs end to end in seconds; its runs are far too short "
        "for the verdicts to say anything about the findings. Use <code>scale=cpu</code>.</p>"
        if scale == "smoke"
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>dlrepro report ({_e(scale)})</title><style>{CSS}</style></head><body>"
        f"<h1>dlrepro report — scale <code>{_e(scale)}</code></h1>{banner}"
        f"<p class='small'>Built {stamp}. Every verdict below is computed from the runs listed "
        "under each reproduction against the threshold declared in its reproduction file.</p>"
        "<table><tr><th>reproduction</th><th>finding</th><th>reproduced / judged claims</th>"
        "<th>not reproduced</th><th>inconclusive</th><th>runs completed</th></tr>"
        f"{''.join(summary_rows)}</table>"
        f"{''.join(_section(s) for s in sections)}</body></html>"
    )
