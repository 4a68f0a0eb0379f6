from dlrepro import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.job_log(sm.log[0]):
    jobs.judge_claims(
        sm.wildcards.repro,
        sm.wildcards.scale,
        sm.input.summary,
        sm.input.metrics,
        sm.output.claims,
        sm.output.html,
    )
