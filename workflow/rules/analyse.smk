# From runs to tables, verdicts and figures, per reproduction.


rule collect:
    input:
        metrics=run_files("metrics.parquet"),
        records=run_files("run.json"),
    output:
        metrics=f"{RESULTS}/{{scale}}/{{repro}}/metrics.parquet",
        runs=f"{RESULTS}/{{scale}}/{{repro}}/runs.parquet",
        summary=f"{RESULTS}/{{scale}}/{{repro}}/summary.parquet",
    log:
        f"{RESULTS}/{{scale}}/{{repro}}/logs/collect.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/collect.py"


rule claims:
    input:
        metrics=f"{RESULTS}/{{scale}}/{{repro}}/metrics.parquet",
        summary=f"{RESULTS}/{{scale}}/{{repro}}/summary.parquet",
    output:
        claims=f"{RESULTS}/{{scale}}/{{repro}}/claims.parquet",
        html=report(
            f"{RESULTS}/{{scale}}/{{repro}}/claims.html",
            caption="../report/claims.rst",
            category="{repro}",
            subcategory="claims",
            labels={"reproduction": "{repro}", "scale": "{scale}", "item": "claims"},
        ),
    log:
        f"{RESULTS}/{{scale}}/{{repro}}/logs/claims.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/claims.py"


rule figure:
    input:
        metrics=f"{RESULTS}/{{scale}}/{{repro}}/metrics.parquet",
        summary=f"{RESULTS}/{{scale}}/{{repro}}/summary.parquet",
        runs=f"{RESULTS}/{{scale}}/{{repro}}/runs.parquet",
    output:
        png=report(
            f"{RESULTS}/{{scale}}/{{repro}}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="{repro}",
            subcategory="figures",
            labels={"reproduction": "{repro}", "scale": "{scale}", "item": "{figure}"},
        ),
        svg=f"{RESULTS}/{{scale}}/{{repro}}/figures/{{figure}}.svg",
    log:
        f"{RESULTS}/{{scale}}/{{repro}}/logs/figures/{{figure}}.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/figure.py"
