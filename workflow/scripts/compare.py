from pathlib import Path

from dlrepro import compare, jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    comparison = compare.compare(sm.wildcards.a, sm.wildcards.b)
    paths = compare.write(comparison, Path(sm.output.html).parent)
    summary = "\n".join(compare.summary_lines(comparison, paths))
    print(summary)
print(summary)  # also on the terminal: the changed verdicts are the point
