from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.build_report(
        sm.wildcards.scale, jobs.as_list(sm.input.claims), jobs.as_list(sm.input.runs), sm.output[0]
    )
