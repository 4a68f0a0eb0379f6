# One job per run (a sweep's grid point x seed), so `--cores N` or a cluster spreads them.


rule train:
    input:
        datasets=run_datasets,
    output:
        metrics=f"{RESULTS}/{{scale}}/{{repro}}/runs/{{run_id}}/metrics.parquet",
        record=f"{RESULTS}/{{scale}}/{{repro}}/runs/{{run_id}}/run.json",
    log:
        f"{RESULTS}/{{scale}}/{{repro}}/logs/train/{{run_id}}.log",
    conda:
        "../../envs/dlrepro.yaml"
    threads: run_threads
    priority: run_priority
    resources:
        mem_mb=run_resource("mem_mb", 2000),
        runtime=run_resource("runtime", 60),
        gpu=run_resource("gpu", 0),
    params:
        settings=run_settings,
        device=CFG["device"],
        checkpoint=f"{RESULTS}/{{scale}}/{{repro}}/checkpoints/{{run_id}}.pt",
        checkpoint_seconds=CFG["checkpoint_seconds"],
        seeds=SEEDS,
    script:
        "../scripts/train.py"
