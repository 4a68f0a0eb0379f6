# Configuration, reproduction discovery, the result paths and the input functions every rule
# shares. Everything the user can get wrong is checked here, before any job runs.
import json
import os
import re
import sys

sys.path.insert(
    0, workflow.basedir
)  # the dlrepro package, also without `pip install -e .`

from pathlib import Path

from dlrepro import config as dlconfig
from dlrepro import reproduction as dlrepro_repro
from dlrepro.data import BUILDERS  # names only: no torch import
from dlrepro.errors import UserError


def _fail(message):
    # A clear message and no traceback: bad input is the user's to fix, not a crash.
    sys.stderr.write(f"\ndlrepro: {message}\n\n")
    sys.exit(1)


try:
    CFG = dlconfig.check_config(config)
    REPROS = dlrepro_repro.discover(
        Path(CFG["reproductions_dir"]), CFG["set"], datasets=sorted(BUILDERS)
    )
    for _r in REPROS.values():
        _r.check_code()
    SELECTED = dlconfig.selected(CFG, REPROS)
    # The device kind a run trains on is part of what its numbers depend on.
    DEVICE = dlconfig.device_kind(CFG["device"])
except UserError as e:
    _fail(e)

# Jobs on this machine fork from a process that has imported torch (dlrepro/warm.py); the
# jobs inherit this environment. DLREPRO_WARM=0 snakemake ... runs each job cold.
os.environ.setdefault("DLREPRO_WARM", "1")

config.update(
    CFG
)  # jobs read the checked configuration (defaults filled, values typed)
SCALE = CFG["scale"]
RESULTS = CFG["results"].rstrip("/")
SEEDS = CFG["seeds"]
SEED_OFFSET = CFG["seed_offset"]
# A reproduction's results folder is its name, `<folder>+<key>=<value>,...` for a variant.
BY_NAME = {r.name: r for r in REPROS.values()}

# Every result path, written once.
REPRO_DIR = f"{RESULTS}/{{scale}}/{{repro}}"
RUN_DIR = f"{REPRO_DIR}/runs/{{run_id}}"
DATA = f"{RESULTS}/data/{{dataset}}"


wildcard_constraints:
    scale="smoke|cpu|paper",
    repro="|".join(re.escape(n) for n in BY_NAME) or "NONE",
    run_id=r"[A-Za-z0-9._-]+",
    dataset=r"[a-z0-9_]+",
    figure=r"[a-z0-9_]+",


def repro_of(wildcards):
    return BY_NAME[wildcards.repro]


def runs_of(scale, name):
    return BY_NAME[name].runs(scale, SEEDS, SEED_OFFSET)


def find_run(wildcards):
    try:
        return repro_of(wildcards).run(
            wildcards.scale, wildcards.run_id, SEEDS, SEED_OFFSET
        )
    except UserError as e:
        _fail(e)


def run_files(kind):
    """Input function: `kind` (metrics.parquet, run.json) of every run of a reproduction."""

    def files(wildcards):
        base = RUN_DIR.format(scale=wildcards.scale, repro=wildcards.repro, run_id="")
        return [
            f"{base}{r.run_id}/{kind}"
            for r in runs_of(wildcards.scale, wildcards.repro)
        ]

    return files


def train_inputs(wildcards):
    """A run reads its datasets and, with `init_from`, its base run's final weights.

    The big dataset file is `ancient`: a rebuilt dataset reruns training only when its sha256
    (the small `.sha256` file, which Snakemake compares by checksum) changed, not its mtime.
    """
    run = find_run(wildcards)
    inputs = {
        "datasets": [ancient(DATA.format(dataset=d) + ".pt") for d in run.datasets],
        "stamps": [DATA.format(dataset=d) + ".sha256" for d in run.datasets],
    }
    if run.init_from:
        base = RUN_DIR.format(
            scale=wildcards.scale, repro=wildcards.repro, run_id=run.init_from
        )
        inputs["init"] = f"{base}/weights.pt"
    return inputs


def run_params(wildcards):
    # Deterministic text of everything the run's numbers depend on besides code and data.
    return find_run(wildcards).to_json()


def train_code(wildcards):
    return repro_of(wildcards).train_code_hash


def run_priority(wildcards):
    return find_run(wildcards).priority


def run_threads(wildcards):
    return CFG["threads"] or repro_of(wildcards).scale(wildcards.scale).get(
        "threads", 1
    )


def run_resource(name, default):
    def value(wildcards):
        res = repro_of(wildcards).scale(wildcards.scale).get("resources", {})
        return res.get(name, default)

    return value


def analysis_code(wildcards):
    """Files claims, figures and reports are computed from besides the tables: the
    reproduction's yaml, reference points and Python, and the engine. They take seconds, so
    any change to one reruns them."""
    return [str(p) for p in repro_of(wildcards).code_files("analysis")]


def claim_specs(wildcards):
    claims = repro_of(wildcards).claims_at(wildcards.scale)
    return json.dumps(claims, sort_keys=True)


def figure_spec(wildcards):
    spec = [f for f in repro_of(wildcards).figures if f["id"] == wildcards.figure]
    return json.dumps(spec, sort_keys=True)


def figure_files(scale, name, ext="png"):
    return [
        f"{RESULTS}/{scale}/{name}/figures/{fig['id']}.{ext}"
        for fig in BY_NAME[name].figures
    ]


def repro_outputs(scale, name):
    base = REPRO_DIR.format(scale=scale, repro=name)
    return [f"{base}/claims.parquet", f"{base}/summary.parquet"] + figure_files(
        scale, name
    )


def repro_targets(scale, name):
    base = REPRO_DIR.format(scale=scale, repro=name)
    return repro_outputs(scale, name) + [f"{base}/report.html"]


def scale_targets(scale):
    per_repro = [
        f for package in SELECTED for f in repro_targets(scale, REPROS[package].name)
    ]
    return per_repro + [f"{RESULTS}/{scale}/report.html"]


def selected_names():
    return [REPROS[p].name for p in SELECTED]


# -- preflight (workflow/rules/preflight.smk) ----------------------------------------------
PREFLIGHT_DIR = f"{RESULTS}/{{scale}}-preflight"


def preflight_runs(scale, name):
    """(run, seeds it stands for): the first seed of each grid point (seeds cost the same);
    with `preflight_per: sweep`, only each sweep's last grid point (its largest values, the
    likeliest to run out of memory), which is what the tests use to stay short."""
    groups = {}
    for r in runs_of(scale, name):
        groups.setdefault((r.sweep, json.dumps(r.params, sort_keys=True)), []).append(r)
    picked = [(rs[0], len(rs)) for rs in groups.values()]
    if CFG["preflight_per"] == "sweep":
        picked = list({r.sweep: (r, n) for r, n in picked}.values())
    return picked


def preflight_targets(scale):
    return [f"{PREFLIGHT_DIR.format(scale=scale)}/report.txt"]


def preflight_rows(wildcards):
    return [
        f"{PREFLIGHT_DIR.format(scale=wildcards.scale)}/{name}/{r.run_id}.json"
        for name in selected_names()
        for r, _ in preflight_runs(wildcards.scale, name)
    ]


def preflight_inputs(wildcards):
    # The preflight's own copies of the datasets (a random stand-in where one is missing) and,
    # for `init_from`, the base run's preflight weights: the chain is checked, not skipped.
    run = find_run(wildcards)
    inputs = {"datasets": [f"{RESULTS}/preflight-data/{d}.pt" for d in run.datasets]}
    if run.init_from:
        base = PREFLIGHT_DIR.format(scale=wildcards.scale)
        inputs["init"] = f"{base}/{wildcards.repro}/{run.init_from}.weights.pt"
    return inputs


def preflight_seeds(wildcards):
    run = find_run(wildcards)
    return sum(
        1
        for r in runs_of(wildcards.scale, wildcards.repro)
        if r.sweep == run.sweep and r.params == run.params
    )
