from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.judge_claims(
        config=sm.config,
        repro_name=sm.wildcards.repro,
        scale=sm.wildcards.scale,
        summary=sm.input.summary,
        metrics=sm.input.metrics,
        runs=sm.input.runs,
        out=sm.output.claims,
        out_html=sm.output.html,
    )
