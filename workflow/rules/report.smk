# Self-contained HTML reports: one per reproduction and one per scale with everything selected.


rule repro_report:
    input:
        claims=f"{REPRO_DIR}/claims.parquet",
        runs=f"{REPRO_DIR}/runs.parquet",
        figures=lambda w: figure_files(w.scale, w.repro),
        code=analysis_code,
    output:
        f"{REPRO_DIR}/report.html",
    log:
        f"{REPRO_DIR}/logs/report.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/report.py"


rule report:
    input:
        claims=lambda w: [
            f"{RESULTS}/{w.scale}/{r}/claims.parquet" for r in selected_names()
        ],
        runs=lambda w: [
            f"{RESULTS}/{w.scale}/{r}/runs.parquet" for r in selected_names()
        ],
        figures=lambda w: [
            f for r in selected_names() for f in figure_files(w.scale, r)
        ],
        code=[str(p) for p in sorted(Path(workflow.basedir, "dlrepro").glob("*.py"))],
    output:
        f"{RESULTS}/{{scale}}/report.html",
    log:
        f"{RESULTS}/{{scale}}/logs/report.log",
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/report.py"
