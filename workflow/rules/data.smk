# Prepare a dataset once into a cached tensor file that every scale and reproduction shares.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}.pt",
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    params:
        data=CFG["data"],
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/prepare_data.py"
