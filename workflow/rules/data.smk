# Prepare a dataset once into a cached tensor file that every scale and reproduction shares,
# beside a small file holding its sha256: training depends on that checksum, not on the mtime.
# Priority: Snakemake does not pass a run's priority on to the jobs it waits for, so without
# one a dataset (seconds) would queue behind every ready run of equal priority while the
# longest runs (priority 1), which need it, wait.


rule prepare_data:
    output:
        data=f"{DATA}.pt",
        sha256=f"{DATA}.sha256",
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    priority: 10
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/prepare_data.py"
