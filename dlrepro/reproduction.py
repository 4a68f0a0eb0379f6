"""Read a finding's folder: its reproduction file, reference points and code.

A reproduction is `reproductions/<name>/` holding
    reproduction.yaml   citation, settings per scale, sweeps (the runs), claims, figures
    reference.csv       points read from the papers' figures and tables
    task.py             train(run), summarize_run(metrics, settings)
    measures.py         MEASURES: claim name -> function(rows, [metrics], **args) -> Measurement
    figures.py          FIGURES: figure id -> function(FigureData) -> Figure
The engine finds reproductions by listing that folder; nothing else needs editing to add one.

Everything a reproduction file can get wrong is checked here, when the workflow's DAG is built
and before any job runs: the schema, every setting key against `defaults` (with the closest
valid name), every value's type against its default's, claims against MEASURES, figures against
FIGURES, the sweeps each claim is judged on, dataset names and `init_from` links.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib
import itertools
import json
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import yaml

from dlrepro.errors import UserError
from dlrepro.paths import ENGINE, REPRODUCTIONS
from dlrepro.schema import read_yaml, validate

SCALES = ("smoke", "cpu", "paper")
REFERENCE_COLUMNS = ["source", "series", "x_label", "x", "y_label", "y", "precision", "how_read"]
# Names the Snakefile already uses for rules; a reproduction may not take one of them.
RESERVED = {
    "all",
    "prepare_data",
    "train",
    "collect",
    "claims",
    "figure",
    "repro_report",
    "report",
    "compare",
    "preflight",
}
# Reproduction modules and what each must define.
MODULES = {"task": ("train", "summarize_run"), "measures": ("MEASURES",), "figures": ("FIGURES",)}
# Files of a reproduction that cannot change a training run's numbers.
ANALYSIS_ONLY = {"measures.py", "figures.py"}
# Engine files a training run executes; a change to one of them reruns training.
TRAIN_ENGINE = ("runner.py", "trainer.py", "longform.py", "errors.py", "models", "data")
DIVERGED_POLICIES = ("inconclusive", "never_reached", "exclude")


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
    init_from: str | None = None  # run id whose final weights this run starts from

    @property
    def settings_hash(self) -> str:
        blob = json.dumps(self.settings, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """Everything that identifies the run, as deterministic text (a rule's params)."""
        fields = {k: v for k, v in self.__dict__.items() if k != "priority"}
        return json.dumps(fields, sort_keys=True, default=list)

    @classmethod
    def from_json(cls, text: str) -> Run:
        fields = json.loads(text)
        fields["datasets"] = tuple(fields["datasets"])
        return cls(**fields)


def _fmt(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9.]+", "", text)


def make_run_id(sweep: str, params: dict[str, Any], seed: int) -> str:
    """A readable, filesystem-safe id, e.g. `wd-frac0.5-s0`."""
    parts = [sweep] + [f"{k.replace('_', '')}{_fmt(v)}" for k, v in params.items()] + [f"s{seed}"]
    return "-".join(parts)


def variant_name(base: str, overrides: dict[str, Any]) -> str:
    """`grokking+op=sub,p=59`: where a variant's results go, beside (never over) the declared."""
    if not overrides:
        return base
    parts = [f"{k}={re.sub(r'[^A-Za-z0-9._-]+', '', str(v))}" for k, v in sorted(overrides.items())]
    return f"{base}+{','.join(parts)}"


def _type_name(value: Any) -> str:
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, t):
            return name
    return {list: "list", dict: "mapping"}.get(type(value), type(value).__name__)


def _same_type(default: Any, value: Any) -> bool:
    """Whether `value` may replace `default`: same kind; an int may stand for a float."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list | tuple):
        return isinstance(value, list | tuple)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def check_settings(
    source: str, where: str, defaults: dict[str, Any], settings: dict[str, Any], grid: bool = False
) -> None:
    """Refuse a setting that `defaults` lacks (naming the closest one) or of the wrong type."""
    for key, value in settings.items():
        if key == "seed":
            raise UserError(
                f"{source}: {where} sets `seed`; seeds come from each sweep's `seeds` list "
                "(or --config seeds=[...])"
            )
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(
                f"{source}: {where} sets unknown setting {key!r}; {hint}every setting must be "
                "declared under `defaults:` first"
            )
        for v in value if grid else [value]:
            if not _same_type(defaults[key], v):
                raise UserError(
                    f"{source}: {where} sets {key} = {v!r} ({_type_name(v)}), but its default "
                    f"{defaults[key]!r} is a {_type_name(defaults[key])}; use a "
                    f"{_type_name(defaults[key])}"
                )


def file_digest(paths: list[Path]) -> str:
    """sha256 over the names and bytes of `paths` (folders: their *.py files), in order."""
    h = hashlib.sha256()
    for path in paths:
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            if f.exists() and "__pycache__" not in f.parts:
                h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@dataclass
class Reproduction:
    """One reproduction folder, optionally with settings overridden (a variant)."""

    name: str  # results folder name: the folder name, plus `+key=value,...` for a variant
    folder: Path
    spec: dict[str, Any]
    overrides: dict[str, Any]

    def __post_init__(self) -> None:
        self._runs: dict[tuple[str, tuple[int, ...] | None, int], list[Run]] = {}

    @property
    def package(self) -> str:
        """The folder name: what the code is imported as, and what `snakemake <name>` builds."""
        return self.folder.name

    @property
    def source(self) -> str:
        return str(self.folder / "reproduction.yaml")

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

    def claims_at(self, scale: str) -> list[dict[str, Any]]:
        return [c for c in self.claims if scale in c.get("scales", SCALES)]

    # -- code ------------------------------------------------------------------------------
    def module(self, kind: str) -> ModuleType:
        """Import `task`, `measures` or `figures` of this reproduction and check its names."""
        pkg = self.folder.resolve().parent
        if str(pkg.parent) not in sys.path:
            sys.path.insert(0, str(pkg.parent))
        path = self.folder / f"{kind}.py"
        if not path.exists():
            raise UserError(
                f"{self.folder} lacks {kind}.py; a reproduction has task.py, measures.py and "
                "figures.py (see reproductions/README.md)"
            )
        module = importlib.import_module(f"{pkg.name}.{self.package}.{kind}")
        missing = [a for a in MODULES[kind] if not hasattr(module, a)]
        if missing:
            raise UserError(
                f"{path} lacks {missing}; see reproductions/README.md for what each file defines"
            )
        return module

    @cached_property
    def task(self) -> ModuleType:
        return self.module("task")

    def declared(self, kind: str, var: str) -> set[str]:
        """The keys of `var` in `<kind>.py`, read without importing it where it is a literal
        dict (so that checking every reproduction at workflow start stays fast)."""
        path = self.folder / f"{kind}.py"
        if path.exists():
            for node in ast.parse(path.read_text()).body:
                target = node.targets[0] if isinstance(node, ast.Assign) else None
                if isinstance(node, ast.AnnAssign):
                    target = node.target
                value = getattr(node, "value", None)
                if isinstance(target, ast.Name) and target.id == var:
                    if isinstance(value, ast.Dict) and all(
                        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys
                    ):
                        return {k.value for k in value.keys}
                    break
        return set(getattr(self.module(kind), var))

    @cached_property
    def measures(self) -> dict[str, Any]:
        return self.module("measures").MEASURES

    @cached_property
    def figure_functions(self) -> dict[str, Any]:
        return self.module("figures").FIGURES

    def code_files(self, part: str) -> list[Path]:
        """The files a `train` job or an analysis job (claims, figures, report) executes."""
        own = sorted(p for p in self.folder.rglob("*.py") if "__pycache__" not in p.parts)
        if part == "train":
            return [p for p in own if p.name not in ANALYSIS_ONLY] + [
                ENGINE / f for f in TRAIN_ENGINE
            ]
        engine = sorted(p for p in ENGINE.glob("*.py"))
        return own + [self.folder / "reproduction.yaml"] + self._reference_files() + engine

    def _reference_files(self) -> list[Path]:
        ref = self.spec.get("reference")
        return [self.folder / ref] if ref else []

    @cached_property
    def train_code_hash(self) -> str:
        return file_digest(self.code_files("train"))

    # -- runs ------------------------------------------------------------------------------
    def runs(self, scale: str, seeds: list[int] | None = None, seed_offset: int = 0) -> list[Run]:
        """Every run of `scale`, in a stable order; `seeds` replaces each sweep's seeds and
        `seed_offset` is added to every seed (the same runs on seeds nobody declared)."""
        key = (scale, tuple(seeds) if seeds else None, seed_offset)
        if key not in self._runs:
            self._runs[key] = self._expand(scale, seeds, seed_offset)
        return self._runs[key]

    def run(
        self, scale: str, run_id: str, seeds: list[int] | None = None, seed_offset: int = 0
    ) -> Run:
        for r in self.runs(scale, seeds, seed_offset):
            if r.run_id == run_id:
                return r
        raise UserError(f"{self.name} has no run {run_id!r} at scale {scale!r}")

    def seeds_per_point(self, scale: str, sweeps: list[str], seeds: list[int] | None) -> int:
        """The fewest seeds any grid point of `sweeps` runs: a claim's default `min_seeds`."""
        counts = [
            len(seeds or s["seeds"]) for s in self.scale(scale)["sweeps"] if s["name"] in sweeps
        ]
        return min(counts, default=1)

    def _expand(self, scale: str, seeds: list[int] | None, seed_offset: int) -> list[Run]:
        sc = self.scale(scale)
        base = {**self.spec["defaults"], **sc.get("settings", {})}
        runs: list[Run] = []
        for sweep in sc["sweeps"]:
            grid = sweep.get("grid", {})
            names = list(grid)
            for values in itertools.product(*(grid[n] for n in names)):
                params = dict(zip(names, values, strict=True))
                for seed in [s + seed_offset for s in seeds or sweep["seeds"]]:
                    settings = {
                        **base,
                        **sweep.get("settings", {}),
                        **self.overrides,
                        **params,
                        "seed": seed,
                    }
                    runs.append(
                        Run(
                            reproduction=self.name,
                            scale=scale,
                            sweep=sweep["name"],
                            run_id=make_run_id(sweep["name"], params, seed),
                            seed=seed,
                            params=params,
                            settings=settings,
                            datasets=tuple(sweep.get("datasets", sc.get("datasets", []))),
                            priority=sweep.get("priority", 0),
                        )
                    )
        ids = [r.run_id for r in runs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise UserError(
                f"{self.source}: scale {scale!r} defines run ids more than once: {dupes}; give "
                "each sweep a distinct name or grid"
            )
        return self._link_init(scale, runs)

    def _link_init(self, scale: str, runs: list[Run]) -> list[Run]:
        """Resolve each sweep's `init_from` to the one base run whose weights it starts from."""
        sweeps = {s["name"]: s for s in self.scale(scale)["sweeps"]}
        linked = []
        for r in runs:
            link = sweeps[r.sweep].get("init_from")
            if not link:
                linked.append(r)
                continue
            want = {
                k: (r.params.get(v[1:-1], r.settings.get(v[1:-1])) if _is_ref(v) else v)
                for k, v in link.get("match", {}).items()
            }
            found = [b for b in runs if b.sweep == link["sweep"] and _matches(b, want)]
            same_seed = [b for b in found if b.seed == r.seed]
            found = same_seed or found
            if len(found) != 1:
                raise UserError(
                    f"{self.source}: scale {scale!r} sweep {r.sweep!r}: init_from "
                    f"{link} matches {len(found)} runs of sweep {link['sweep']!r} for run "
                    f"{r.run_id} ({[b.run_id for b in found][:4]}); `match` must pick exactly one "
                    "(the base run with the same seed is preferred)"
                )
            linked.append(Run(**{**r.__dict__, "init_from": found[0].run_id}))
        return linked

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

    # -- checks ----------------------------------------------------------------------------
    def check_code(self) -> None:
        """Every claim's measure is in MEASURES and every figure in FIGURES."""
        for kind in MODULES:
            if not (self.folder / f"{kind}.py").exists():
                raise UserError(
                    f"{self.folder} lacks {kind}.py; a reproduction has task.py, measures.py "
                    "and figures.py (see reproductions/README.md)"
                )
        measures = self.declared("measures", "MEASURES")
        for claim in self.claims:
            if claim["measure"] not in measures:
                raise UserError(
                    f"{self.source}: claim {claim['id']!r} names measure {claim['measure']!r}, "
                    f"which measures.MEASURES lacks; it has {sorted(measures)}"
                )
        figures = self.declared("figures", "FIGURES")
        ids = {f["id"] for f in self.figures}
        for claim in self.claims:
            shown = claim.get("figure", [])
            unknown = sorted(set([shown] if isinstance(shown, str) else shown) - ids)
            if unknown:
                raise UserError(
                    f"{self.source}: claim {claim['id']!r} names figure(s) {unknown}, which "
                    f"`figures:` lacks; it has {sorted(ids)}"
                )
        for fig in self.figures:
            if fig["id"] not in figures:
                raise UserError(
                    f"{self.source}: figure {fig['id']!r} is not in figures.FIGURES "
                    f"({sorted(figures)})"
                )


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{") and value.endswith("}")


def _matches(run: Run, want: dict[str, Any]) -> bool:
    return all(run.settings.get(k) == v for k, v in want.items())


def load_reference(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, comment="#")
    except FileNotFoundError as e:
        raise UserError(f"reference file {path} does not exist") from e
    missing = [c for c in REFERENCE_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path} lacks columns {missing}; the columns are {REFERENCE_COLUMNS}")
    return df


def _check_spec(path: Path, spec: dict[str, Any], datasets: list[str] | None) -> None:
    src = str(path)
    defaults = spec["defaults"]
    for scale in SCALES:
        sc = spec["scales"][scale]
        check_settings(src, f"scales.{scale}.settings", defaults, sc.get("settings", {}))
        names = [s["name"] for s in sc["sweeps"]]
        if len(set(names)) != len(names):
            raise UserError(f"{src}: scale {scale!r} repeats a sweep name: {names}")
        for sweep in sc["sweeps"]:
            where = f"scales.{scale}.sweeps[{sweep['name']}]"
            check_settings(src, f"{where}.settings", defaults, sweep.get("settings", {}))
            check_settings(src, f"{where}.grid", defaults, sweep.get("grid", {}), grid=True)
            link = sweep.get("init_from")
            if link and link["sweep"] not in names:
                raise UserError(
                    f"{src}: {where}.init_from names sweep {link['sweep']!r}, which scale "
                    f"{scale!r} lacks; its sweeps are {names}"
                )
            for d in sweep.get("datasets", sc.get("datasets", [])):
                if datasets is not None and d not in datasets:
                    raise UserError(
                        f"{src}: {where} reads dataset {d!r}, which dlrepro does not know; the "
                        f"datasets are {datasets}"
                    )
    ids = [c["id"] for c in spec["claims"]]
    if len(set(ids)) != len(ids):
        raise UserError(f"{src}: claim ids repeat: {ids}")
    for claim in spec["claims"]:
        op, thr = claim["op"], claim["threshold"]
        shape_ok = (
            (op == "between" and isinstance(thr, list))
            or (op == "informative" and thr is None)
            or (op not in ("between", "informative") and isinstance(thr, int | float))
        )
        if not shape_ok:
            raise UserError(
                f"{src}: claim {claim['id']!r} has op {op!r} with threshold {thr!r}; use a "
                "number for >=, <=, >, <, [low, high] for between, null for informative"
            )
        for scale in claim.get("scales", SCALES):
            have = {s["name"] for s in spec["scales"][scale]["sweeps"]}
            lacking = sorted(set(claim["sweeps"]) - have)
            if lacking:
                raise UserError(
                    f"{src}: claim {claim['id']!r} is judged on sweeps {lacking}, which scale "
                    f"{scale!r} does not run; add them there or list the claim's `scales:`"
                )


def _like(default: Any, value: Any) -> Any:
    """A command-line value read as the type of its default: Snakemake hands `--config`
    values over as strings (`set={grokking: {p: 59}}` gives p = '59')."""
    if isinstance(value, str) and default is not None and not isinstance(default, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    if isinstance(value, list) and isinstance(default, list):
        return [_like(default[0] if default else None, v) for v in value]
    return value


def check_overrides(repro_source: str, spec: dict[str, Any], overrides: dict[str, Any]) -> None:
    """A variant may set any declared setting that no sweep varies in a grid."""
    where = "--config set"
    check_settings(repro_source, where, spec["defaults"], overrides)
    for scale in SCALES:
        for sweep in spec["scales"][scale]["sweeps"]:
            swept = sorted(set(sweep.get("grid", {})) & set(overrides))
            if swept:
                raise UserError(
                    f"{repro_source}: {where} sets {swept}, which sweep {sweep['name']!r} varies "
                    f"at scale {scale!r}; a variant may only set settings no grid varies"
                )


def load(
    folder: Path, overrides: dict[str, Any] | None = None, datasets: list[str] | None = None
) -> Reproduction:
    """Read and check one reproduction folder; raise UserError naming the file and field.

    `overrides` (from `--config set=...`) make a variant with its own results folder;
    `datasets` are the known dataset names (None skips that check).
    """
    path = folder / "reproduction.yaml"
    spec = validate(read_yaml(path), "reproduction.schema.yaml", str(path))
    name = spec["name"]
    if name != folder.name:
        raise UserError(f"{path}: name {name!r} must equal the folder name {folder.name!r}")
    if name in RESERVED:
        raise UserError(f"{path}: name {name!r} is reserved for a rule; choose another")
    _check_spec(path, spec, datasets)
    overrides = {k: _like(spec["defaults"].get(k), v) for k, v in (overrides or {}).items()}
    if overrides:
        check_overrides(str(path), spec, overrides)
    repro = Reproduction(
        name=variant_name(name, overrides), folder=folder, spec=spec, overrides=overrides
    )
    for scale in SCALES:
        repro.runs(scale)  # raises on duplicate run ids and unresolved init_from links
    return repro


def check_task(repro: Reproduction) -> None:
    """Check that every claim's measure and every figure exists in the code."""
    repro.check_code()


def names(folder: Path = REPRODUCTIONS) -> list[str]:
    """The reproduction folders under `folder`, sorted, without reading them."""
    return sorted(p.name for p in folder.iterdir() if (p / "reproduction.yaml").is_file())


def discover(
    folder: Path = REPRODUCTIONS,
    overrides: dict[str, dict[str, Any]] | None = None,
    datasets: list[str] | None = None,
) -> dict[str, Reproduction]:
    """Every reproduction under `folder`, keyed by folder name, sorted."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(names(folder)))
    if unknown:
        raise UserError(
            f"--config set names unknown reproductions {unknown}; the reproductions are "
            f"{names(folder)}"
        )
    return {n: load(folder / n, overrides.get(n), datasets) for n in names(folder)}
