# Prepare a dataset once into a cached tensor file that every scale and reproduction shares.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}.pt",
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    conda:
        "../../envs/dlrepro.yaml"
    params:
        data=CFG["data"],
    script:
        "../scripts/prepare_data.py"
