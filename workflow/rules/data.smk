# Prepare a dataset once into a cached tensor file that every scale and reproduction shares,
# beside a small file holding its sha256: training depends on that checksum, not on the mtime.


rule prepare_data:
    output:
        data=f"{DATA}.pt",
        sha256=f"{DATA}.sha256",
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/prepare_data.py"
