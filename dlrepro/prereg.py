"""Pre-registration made visible: when was each claim's threshold last changed, by git?

A verdict is only worth something if its threshold was written before the runs it judges. For
each claim this walks the history of its reproduction.yaml and finds the commit where the
claim's comparison (`op` and `threshold`) took its present value; an edit not yet committed
counts as made now. The claims table puts that date beside the runs' dates, and a threshold
changed after the runs finished is flagged "revised after results".
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def comparison(claim: dict[str, Any]) -> str:
    return json.dumps([claim.get("op"), claim.get("threshold")])


def _comparisons(text: str | None) -> dict[str, str]:
    try:
        spec = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        return {}
    return {c.get("id"): comparison(c) for c in spec.get("claims", []) if isinstance(c, dict)}


@cache
def _history(path: Path) -> tuple[list[tuple[str, str, dict[str, str]]], dict[str, str]] | None:
    """[(commit, date, {claim: comparison})] newest first, and the committed-at-HEAD view."""
    folder = path.parent
    rel = _git(folder, "ls-files", "--full-name", path.name)
    log = _git(folder, "log", "--format=%H%x09%cI", "--", path.name)
    if not rel or log is None:
        return None
    rel = rel.strip()
    commits = []
    for line in log.splitlines():
        sha, date = line.split("\t")
        commits.append((sha, date, _comparisons(_git(folder, "show", f"{sha}:{rel}"))))
    return commits, (commits[0][2] if commits else {})


def threshold_changed(path: Path, claim: dict[str, Any]) -> dict[str, str]:
    """{"commit", "date"} of the last change to the claim's comparison.

    `commit` is "uncommitted" (date: the file's mtime) when the working tree differs from the
    last commit, and "" with an empty date when git cannot tell (no repository, file untracked).
    """
    path = Path(path).resolve()
    now = comparison(claim)
    hist = _history(path)
    if hist is None:
        return {"commit": "", "date": ""}
    commits, head = hist
    if head.get(claim["id"]) != now:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return {"commit": "uncommitted", "date": mtime.isoformat(timespec="seconds")}
    found = {"commit": "", "date": ""}
    for sha, date, comps in commits:  # newest first: keep going while the value is unchanged
        if comps.get(claim["id"]) != now:
            break
        found = {"commit": sha[:12], "date": date}
    return found


def revised_after(threshold_date: str, runs_finished: list[str]) -> bool:
    """Whether the threshold took its value after the earliest judged run had finished."""
    if not threshold_date or not runs_finished:
        return False
    first = min(datetime.fromisoformat(t) for t in runs_finished)
    return datetime.fromisoformat(threshold_date) > first
