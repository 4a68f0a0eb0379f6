from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.judge_claims(
        sm.wildcards.repro,
        sm.wildcards.scale,
        sm.input.summary,
        sm.input.metrics,
        sm.output.claims,
        sm.output.html,
    )
