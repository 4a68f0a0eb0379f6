# Preflight (`--config preflight=true`): every run of the scale, one seed per grid point, for
# a few steps on the device at hand, into <results>/<scale>-preflight/; the report says per
# run whether it starts, its peak memory, seconds per step and the projected hours and
# GPU-hours of the full run. See dlrepro/preflight.py; the input functions are in common.smk.
# dlrepro.preflight imports torch: it is imported in the jobs, not when the workflow is read.
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
        from dlrepro import preflight

        preflight.prepare_data(wildcards.dataset, output[0], params.data)


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
        from dlrepro import preflight

        preflight.run_rule(CFG, input, output, params, threads, resources, log)


rule preflight_report:
    input:
        preflight_rows,
    output:
        txt=f"{PREFLIGHT_DIR}/report.txt",
        csv=f"{PREFLIGHT_DIR}/preflight.csv",
    log:
        f"{PREFLIGHT_DIR}/logs/report.log",
    run:
        from dlrepro import preflight

        print(
            preflight.write_report(
                list(input), output.txt, output.csv, wildcards.scale
            )
        )
