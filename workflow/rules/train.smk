# One job per run (a sweep's grid point x seed), so `--cores N` or a cluster spreads them.
# A run reruns only when its numbers could change: its settings and identity (`run`), the
# device kind, the code it executes (`code`: a hash of the files) and its datasets' sha256.
# Config that cannot change a number (checkpoint_seconds, other runs' seeds, the results
# root) is read from the config by the job, never a param.


rule train:
    input:
        unpack(train_inputs),
    output:
        metrics=f"{RUN_DIR}/metrics.parquet",
        record=f"{RUN_DIR}/run.json",
        weights=f"{RUN_DIR}/weights.pt",
    log:
        f"{REPRO_DIR}/logs/train/{{run_id}}.log",
    priority: run_priority
    conda:
        "../../envs/dlrepro.yaml"
    threads: run_threads
    resources:
        mem_mb=run_resource("mem_mb", 2000),
        runtime=run_resource("runtime", 60),
        gpu=run_resource("gpu", 0),
    params:
        run=run_params,
        device=DEVICE,
        code=train_code,
    script:
        "../scripts/train.py"
