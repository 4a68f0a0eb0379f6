from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.build_report(
        config=sm.config,
        scale=sm.wildcards.scale,
        claim_files=jobs.as_list(sm.input.claims),
        run_files=jobs.as_list(sm.input.runs),
        out=sm.output[0],
    )
