# `snakemake compare/<A>--vs--<B>/compare.html`: two result sets side by side, read as they are
# (dlrepro/compare.py). A and B are folders below the working directory, e.g. results/cpu and
# results/paper, or a copy of another machine's results; `dlrepro compare A B` takes any two.
# The job reruns when a table in either folder changes (the `tables` param); the tables are
# no inputs, so that comparing never rebuilds a side with this invocation's settings.
from dlrepro import compare as dlrepro_compare


rule compare:
    output:
        html="compare/{a}--vs--{b}/compare.html",
        claims="compare/{a}--vs--{b}/claims.parquet",
        provenance="compare/{a}--vs--{b}/provenance.parquet",
    log:
        "compare/{a}--vs--{b}/compare.log",
    localrule: True
    conda:
        "../../envs/dlrepro.yaml"
    params:
        tables=lambda w: dlrepro_compare.stamp(w.a, w.b),
    script:
        "../scripts/compare.py"
