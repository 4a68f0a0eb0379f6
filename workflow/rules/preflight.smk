# Preflight (`--config preflight=true`): every run of the scale, one seed per grid point, for
# a few steps on the device at hand, into <results>/<scale>-preflight/; the report says per
# run whether it starts, its peak memory, seconds per step and the projected hours and
# GPU-hours of the full run. See dlrepro/preflight.py.
from dlrepro import preflight as dlpreflight

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


localrules:
    preflight_data,
    preflight_report,


rule preflight_data:
    output:
        f"{RESULTS}/preflight-data/{{dataset}}.pt",
    log:
        f"{RESULTS}/preflight-data/{{dataset}}.log",
    params:
        data=CFG["data"],
    run:
        dlpreflight.prepare_data(wildcards.dataset, output[0], params.data)


rule preflight_run:
    input:
        unpack(preflight_inputs),
    output:
        row=f"{PREFLIGHT_DIR}/{{repro}}/{{run_id}}.json",
        weights=f"{PREFLIGHT_DIR}/{{repro}}/{{run_id}}.weights.pt",
    log:
        f"{PREFLIGHT_DIR}/{{repro}}/logs/{{run_id}}.log",
    threads: run_threads
    resources:
        mem_mb=run_resource("mem_mb", 2000),
        runtime=run_resource("runtime", 60),
        gpu=run_resource("gpu", 0),
    params:
        run=run_params,
        seeds=preflight_seeds,
    run:
        dlpreflight.run_one(
            config=CFG,
            run_json=params.run,
            device=CFG["device"],
            threads=threads,
            datasets=list(input.datasets),
            init_weights=input.get("init"),
            resources=dict(resources.items()),
            seeds=params.seeds,
            out=output.row,
            weights=output.weights,
            log=log[0],
        )


rule preflight_report:
    input:
        preflight_rows,
    output:
        txt=f"{PREFLIGHT_DIR}/report.txt",
        csv=f"{PREFLIGHT_DIR}/preflight.csv",
    log:
        f"{PREFLIGHT_DIR}/logs/report.log",
    run:
        print(
            dlpreflight.write_report(
                list(input), output.txt, output.csv, wildcards.scale
            )
        )
