from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.figure(
        sm.wildcards.repro,
        sm.wildcards.scale,
        sm.wildcards.figure,
        sm.input.metrics,
        sm.input.summary,
        sm.input.runs,
        sm.output.png,
        sm.output.svg,
    )
