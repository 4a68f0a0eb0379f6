from dlrepro import jobs

with jobs.job_log(snakemake.log[0]):
    jobs.prepare(snakemake.wildcards.dataset, snakemake.output[0], snakemake.params.data)
