"""Read a finding's folder: its reproduction file, reference points and task code.

A reproduction is `reproductions/<name>/` holding
    reproduction.yaml   citation, settings per scale, sweeps (the runs), claims, figures
    reference.csv       points read from the papers' figures and tables
    task.py             train(run), summarize(...), MEASURES, FIGURES (and optional datasets)
The engine finds reproductions by listing that folder; nothing else needs editing to add one.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from dlrepro.errors import UserError
from dlrepro.paths import REPRODUCTIONS, ROOT
from dlrepro.schema import read_yaml, validate

SCALES = ("smoke", "cpu", "paper")
REFERENCE_COLUMNS = ["source", "series", "x_label", "x", "y_label", "y", "precision", "how_read"]
# Names the Snakefile already uses for rules; a reproduction may not take one of them.
RESERVED = {"all", "prepare_data", "train", "collect", "claims", "figure", "repro_report", "report"}
TASK_REQUIRED = ("train", "summarize_run", "MEASURES", "FIGURES")


@dataclass(frozen=True)
class Run:
    """One training job: a point of a sweep's grid with one seed."""

    reproduction: str
    scale: str
    sweep: str
    run_id: str
    seed: int
    params: dict[str, Any]  # the swept values (grid point), also columns in every table
    settings: dict[str, Any]  # everything the task code reads, fully resolved
    datasets: tuple[str, ...] = ()
    priority: int = 0  # scheduling only: higher starts first

    @property
    def settings_hash(self) -> str:
        blob = json.dumps(self.settings, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fmt(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9.]+", "", text)


def make_run_id(sweep: str, params: dict[str, Any], seed: int) -> str:
    """A readable, filesystem-safe id, e.g. `wd-frac0.5-s0`."""
    parts = [sweep] + [f"{k.replace('_', '')}{_fmt(v)}" for k, v in params.items()] + [f"s{seed}"]
    return "-".join(parts)


@dataclass
class Reproduction:
    name: str
    folder: Path
    spec: dict[str, Any]
    _runs: dict[tuple[str, tuple[int, ...] | None], list[Run]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.spec["title"]

    @property
    def claims(self) -> list[dict[str, Any]]:
        return self.spec["claims"]

    @property
    def figures(self) -> list[dict[str, Any]]:
        return self.spec["figures"]

    def scale(self, scale: str) -> dict[str, Any]:
        return self.spec["scales"][scale]

    @cached_property
    def task(self) -> ModuleType:
        """The reproduction's task code, imported as package `reproductions.<name>`."""
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        module = importlib.import_module(f"reproductions.{self.name}.task")
        missing = [attr for attr in TASK_REQUIRED if not hasattr(module, attr)]
        if missing:
            raise UserError(
                f"{self.folder / 'task.py'} lacks {missing}; every task module defines "
                f"{list(TASK_REQUIRED)} (see reproductions/README.md)"
            )
        return module

    def runs(self, scale: str, seeds: list[int] | None = None) -> list[Run]:
        """Every run of `scale`, in a stable order; `seeds` replaces each sweep's seeds."""
        key = (scale, tuple(seeds) if seeds else None)
        if key not in self._runs:
            self._runs[key] = self._expand(scale, seeds)
        return self._runs[key]

    def run(self, scale: str, run_id: str, seeds: list[int] | None = None) -> Run:
        for r in self.runs(scale, seeds):
            if r.run_id == run_id:
                return r
        raise UserError(f"{self.name} has no run {run_id!r} at scale {scale!r}")

    def _expand(self, scale: str, seeds: list[int] | None) -> list[Run]:
        sc = self.scale(scale)
        base = {**self.spec.get("defaults", {}), **sc.get("settings", {})}
        runs: list[Run] = []
        for sweep in sc["sweeps"]:
            grid = sweep.get("grid", {})
            names = list(grid)
            for values in itertools.product(*(grid[n] for n in names)):
                params = dict(zip(names, values, strict=True))
                for seed in seeds or sweep["seeds"]:
                    settings = {**base, **sweep.get("settings", {}), **params, "seed": seed}
                    runs.append(
                        Run(
                            reproduction=self.name,
                            scale=scale,
                            sweep=sweep["name"],
                            run_id=make_run_id(sweep["name"], params, seed),
                            seed=seed,
                            params=params,
                            settings=settings,
                            datasets=tuple(sc.get("datasets", [])),
                            priority=sweep.get("priority", 0),
                        )
                    )
        ids = [r.run_id for r in runs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise UserError(
                f"{self.folder / 'reproduction.yaml'}: scale {scale!r} defines run ids more than "
                f"once: {dupes}; give each sweep a distinct name or grid"
            )
        return runs

    def swept_params(self, scale: str) -> list[str]:
        names: list[str] = []
        for sweep in self.scale(scale)["sweeps"]:
            names += [n for n in sweep.get("grid", {}) if n not in names]
        return names

    def reference(self) -> pd.DataFrame:
        ref = self.spec.get("reference")
        if not ref:
            return pd.DataFrame(columns=REFERENCE_COLUMNS)
        return load_reference(self.folder / ref)


def load_reference(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, comment="#")
    except FileNotFoundError as e:
        raise UserError(f"reference file {path} does not exist") from e
    missing = [c for c in REFERENCE_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path} lacks columns {missing}; the columns are {REFERENCE_COLUMNS}")
    return df


def load(folder: Path) -> Reproduction:
    """Read and check one reproduction folder; raise UserError naming the file and field."""
    path = folder / "reproduction.yaml"
    spec = validate(read_yaml(path), "reproduction.schema.yaml", str(path))
    name = spec["name"]
    if name != folder.name:
        raise UserError(f"{path}: name {name!r} must equal the folder name {folder.name!r}")
    if name in RESERVED:
        raise UserError(f"{path}: name {name!r} is reserved for a rule; choose another")
    claim_ids = [c["id"] for c in spec["claims"]]
    for claim in spec["claims"]:
        op, thr = claim["op"], claim["threshold"]
        shape_ok = (
            (op == "between" and isinstance(thr, list))
            or (op == "informative" and thr is None)
            or (op not in ("between", "informative") and isinstance(thr, int | float))
        )
        if not shape_ok:
            raise UserError(
                f"{path}: claim {claim['id']!r} has op {op!r} with threshold {thr!r}; use a "
                "number for >=, <=, >, <, [low, high] for between, null for informative"
            )
    if len(set(claim_ids)) != len(claim_ids):
        raise UserError(f"{path}: claim ids repeat: {claim_ids}")
    repro = Reproduction(name=name, folder=folder, spec=spec)
    for scale in SCALES:
        sweeps = {s["name"] for s in repro.scale(scale)["sweeps"]}
        if len(sweeps) != len(repro.scale(scale)["sweeps"]):
            raise UserError(f"{path}: scale {scale!r} repeats a sweep name")
        repro.runs(scale)  # raises on duplicate run ids
    return repro


def check_task(repro: Reproduction) -> None:
    """Check that every claim's measure and every figure exists in the task code."""
    path = repro.folder / "reproduction.yaml"
    for claim in repro.claims:
        if claim["measure"] not in repro.task.MEASURES:
            raise UserError(
                f"{path}: claim {claim['id']!r} names measure {claim['measure']!r}, which "
                f"task.MEASURES lacks; it has {sorted(repro.task.MEASURES)}"
            )
    for fig in repro.figures:
        if fig["id"] not in repro.task.FIGURES:
            raise UserError(
                f"{path}: figure {fig['id']!r} is not in task.FIGURES "
                f"({sorted(repro.task.FIGURES)})"
            )


def discover(folder: Path = REPRODUCTIONS) -> dict[str, Reproduction]:
    """Every reproduction under `folder`, by name, sorted."""
    found = {}
    for sub in sorted(folder.iterdir()):
        if (sub / "reproduction.yaml").is_file():
            found[sub.name] = load(sub)
    return found
