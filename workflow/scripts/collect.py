from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.collect(
        sm.wildcards.repro,
        list(sm.input.metrics),
        list(sm.input.records),
        sm.output.metrics,
        sm.output.runs,
        sm.output.summary,
    )
