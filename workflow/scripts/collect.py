from dlrepro import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.job_log(sm.log[0]):
    jobs.collect(
        sm.wildcards.repro,
        list(sm.input.metrics),
        list(sm.input.records),
        sm.output.metrics,
        sm.output.runs,
        sm.output.summary,
    )
