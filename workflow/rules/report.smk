# Self-contained HTML reports: one per reproduction and one per scale with everything selected.


rule repro_report:
    input:
        claims=f"{RESULTS}/{{scale}}/{{repro}}/claims.parquet",
        runs=f"{RESULTS}/{{scale}}/{{repro}}/runs.parquet",
        figures=lambda w: figure_files(w.scale, w.repro),
    output:
        f"{RESULTS}/{{scale}}/{{repro}}/report.html",
    log:
        f"{RESULTS}/{{scale}}/{{repro}}/logs/report.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/report.py"


rule report:
    input:
        claims=lambda w: [f"{RESULTS}/{w.scale}/{r}/claims.parquet" for r in SELECTED],
        runs=lambda w: [f"{RESULTS}/{w.scale}/{r}/runs.parquet" for r in SELECTED],
        figures=lambda w: [f for r in SELECTED for f in figure_files(w.scale, r)],
    output:
        f"{RESULTS}/{{scale}}/report.html",
    log:
        f"{RESULTS}/{{scale}}/logs/report.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/report.py"
