from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.prepare(
        dataset=sm.wildcards.dataset,
        out=sm.output.data,
        sha256_out=sm.output.sha256,
        data_config=sm.config["data"],
    )
