# Configuration, reproduction discovery and the input functions every rule shares.
import json
import sys

sys.path.insert(
    0, workflow.basedir
)  # the dlrepro package, also without `pip install -e .`

from dlrepro import config as dlconfig
from dlrepro import reproduction as dlrepro_repro
from dlrepro.errors import UserError


def _fail(message):
    # A clear message and no traceback: bad input is the user's to fix, not a crash.
    sys.stderr.write(f"\ndlrepro: {message}\n\n")
    sys.exit(1)


try:
    CFG = dlconfig.check_config(config)
    REPROS = dlrepro_repro.discover()
    SELECTED = dlconfig.selected(CFG, REPROS)
except UserError as e:
    _fail(e)

SCALE = CFG["scale"]
RESULTS = CFG["results"].rstrip("/")
SEEDS = CFG["seeds"]


wildcard_constraints:
    scale="smoke|cpu|paper",
    repro="|".join(REPROS) or "NONE",
    run_id=r"[A-Za-z0-9._-]+",
    dataset=r"[a-z0-9_]+",
    figure=r"[a-z0-9_]+",


def runs_of(scale, repro):
    return REPROS[repro].runs(scale, SEEDS)


def find_run(wildcards):
    try:
        return REPROS[wildcards.repro].run(wildcards.scale, wildcards.run_id, SEEDS)
    except UserError as e:
        _fail(e)


def run_files(kind):
    """Input function: `kind` (metrics.parquet, run.json) of every run of a reproduction."""

    def files(wildcards):
        return [
            f"{RESULTS}/{wildcards.scale}/{wildcards.repro}/runs/{r.run_id}/{kind}"
            for r in runs_of(wildcards.scale, wildcards.repro)
        ]

    return files


def run_datasets(wildcards):
    return [f"{RESULTS}/data/{d}.pt" for d in find_run(wildcards).datasets]


def run_settings(wildcards):
    # Deterministic text, so that Snakemake's params trigger reruns a run only when it changed.
    return json.dumps(find_run(wildcards).settings, sort_keys=True)


def run_priority(wildcards):
    return find_run(wildcards).priority


def run_threads(wildcards):
    return CFG["threads"] or REPROS[wildcards.repro].scale(wildcards.scale).get(
        "threads", 1
    )


def run_resource(name, default):
    def value(wildcards):
        res = REPROS[wildcards.repro].scale(wildcards.scale).get("resources", {})
        return res.get(name, default)

    return value


def figure_files(scale, repro, ext="png"):
    return [
        f"{RESULTS}/{scale}/{repro}/figures/{fig['id']}.{ext}"
        for fig in REPROS[repro].figures
    ]


def repro_outputs(scale, repro):
    base = f"{RESULTS}/{scale}/{repro}"
    return [f"{base}/claims.parquet", f"{base}/summary.parquet"] + figure_files(
        scale, repro
    )


def repro_targets(scale, repro):
    return repro_outputs(scale, repro) + [f"{RESULTS}/{scale}/{repro}/report.html"]


def scale_targets(scale):
    per_repro = [f for repro in SELECTED for f in repro_targets(scale, repro)]
    return per_repro + [f"{RESULTS}/{scale}/report.html"]
