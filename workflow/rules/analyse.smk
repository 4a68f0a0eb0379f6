# From runs to tables, verdicts and figures, per reproduction. These take seconds, so they
# rerun whenever anything they are computed from changes: the tables, the claim and figure
# specs (params) and the reproduction's files and the engine (`code` inputs).


rule collect:
    input:
        metrics=run_files("metrics.parquet"),
        records=run_files("run.json"),
        code=analysis_code,
    output:
        metrics=f"{REPRO_DIR}/metrics.parquet",
        runs=f"{REPRO_DIR}/runs.parquet",
        summary=f"{REPRO_DIR}/summary.parquet",
    log:
        f"{REPRO_DIR}/logs/collect.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/collect.py"


rule claims:
    input:
        metrics=f"{REPRO_DIR}/metrics.parquet",
        summary=f"{REPRO_DIR}/summary.parquet",
        runs=f"{REPRO_DIR}/runs.parquet",
        code=analysis_code,
    output:
        claims=f"{REPRO_DIR}/claims.parquet",
        html=report(
            f"{REPRO_DIR}/claims.html",
            caption="../report/claims.rst",
            category="{repro}",
            subcategory="claims",
            labels={"reproduction": "{repro}", "scale": "{scale}", "item": "claims"},
        ),
    log:
        f"{REPRO_DIR}/logs/claims.log",
    conda:
        "../../envs/dlrepro.yaml"
    params:
        claims=claim_specs,
    script:
        "../scripts/claims.py"


rule figure:
    input:
        metrics=f"{REPRO_DIR}/metrics.parquet",
        summary=f"{REPRO_DIR}/summary.parquet",
        runs=f"{REPRO_DIR}/runs.parquet",
        code=analysis_code,
    output:
        png=report(
            f"{REPRO_DIR}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="{repro}",
            subcategory="figures",
            labels={"reproduction": "{repro}", "scale": "{scale}", "item": "{figure}"},
        ),
        svg=f"{REPRO_DIR}/figures/{{figure}}.svg",
    log:
        f"{REPRO_DIR}/logs/figures/{{figure}}.log",
    conda:
        "../../envs/dlrepro.yaml"
    params:
        figure=figure_spec,
    script:
        "../scripts/figure.py"
