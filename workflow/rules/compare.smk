# `snakemake compare/<A>--vs--<B>/compare.html`: two result sets side by side (dlrepro/compare.py).
# A and B are folders below the working directory, e.g. results/cpu and results/paper, or a copy
# of another machine's results. When a side is this workflow's own <results>/<scale>, its tables
# are built first; any other folder is read as it is. (`dlrepro compare A B` does the same
# for folders anywhere.)


def compare_inputs(side):
    for scale in ("smoke", "cpu", "paper"):
        if side == f"{RESULTS}/{scale}":
            return [
                f"{RESULTS}/{scale}/{repro}/{table}.parquet"
                for repro in SELECTED
                for table in ("claims", "runs", "metrics")
            ]
    return []


rule compare:
    input:
        a=lambda w: compare_inputs(w.a),
        b=lambda w: compare_inputs(w.b),
    output:
        html="compare/{a}--vs--{b}/compare.html",
        claims="compare/{a}--vs--{b}/claims.parquet",
        provenance="compare/{a}--vs--{b}/provenance.parquet",
    log:
        "compare/{a}--vs--{b}/compare.log",
    localrule: True
    conda:
        "../../envs/dlrepro.yaml"
    script:
        "../scripts/compare.py"
